"""SNMP trap receiver: v1 and v2c traps (and informs' varbinds), and v3 traps (USM, auth and privacy), on UDP
become alerts on the alerts stream.

linkDown fires an alert per agent and interface that the matching linkUp resolves; coldStart, warmStart and
authenticationFailure are alerts of their own; any other trap is a medium alert named by its trap OID, its
variables (named from the built-in table, snmp_oids.py) kept in the details. A v1/v2c trap whose community is
not in SNMP_TRAP_COMMUNITIES is dropped and counted, as are datagrams that are not SNMP. v3 traps are taken
from the users of the enabled SNMP v3 sources, read again every SNMP_TRAP_USERS_REFRESH_S (snmp_usm.py): a
wrong key or an unknown user is dropped and counted the same way. The users are read beside the receiving, not
in its way: while PostgreSQL is unreachable the users read last are kept (read again every USERS_RETRY_S) and
traps go on becoming alerts.
"""

import asyncio
import logging
from typing import Any

from prometheus_client import Counter
from pyasn1.codec.ber import decoder
from pyasn1.error import PyAsn1Error
from pysnmp.proto import api
from sqlalchemy import select

from aiops_contracts.db import Source
from aiops_contracts.envelope import Envelope
from aiops_contracts.events import ALERT_RECEIVED, AlertPayload, AlertStatus, Severity, SignalKind
from aiops_contracts.pollers import SnmpSettings
from aiops_contracts.secrets import secret_box
from aiops_contracts.sources import SourceKind
from aiops_contracts.streams import ALERTS_INGESTED
from aiops_contracts.timing import sleep_or_stop
from aiops_worker.producers.base import Producer
from aiops_worker.producers.manager import SourceUnusable, source_settings
from aiops_worker.producers.settings import SnmpTrapSettings
from aiops_worker.producers.snmp_oids import SNMP_TRAP_OID, oid_name
from aiops_worker.producers.snmp_usm import TrapRefused, UsmTraps
from aiops_worker.runtime.consumer import TRANSIENT_ERRORS
from aiops_worker.runtime.context import WorkerContext

log = logging.getLogger(__name__)
SOURCE = "snmp-traps"
QUEUE_SIZE = 10_000
POLL_INTERVAL_S = 0.2
USERS_RETRY_S = 5.0  # the v3 users are read again this soon after a read that failed
REFUSED = Counter("aiops_worker_snmp_traps_refused_total", "SNMP trap datagrams dropped", ["reason"])
IF_INDEX = "1.3.6.1.2.1.2.2.1.1"
GENERIC_TRAPS = ("coldStart", "warmStart", "linkDown", "linkUp", "authenticationFailure", "egpNeighborLoss")
SEVERITIES = {"linkDown": Severity.high, "authenticationFailure": Severity.medium, "coldStart": Severity.low,
              "warmStart": Severity.low}


V3 = 3  # the msgVersion of SNMPv3


class NotATrap(TrapRefused):
    def __init__(self, message: str) -> None:
        super().__init__("malformed", message)


def message_version(data: bytes) -> int:
    try:
        return int(api.decodeMessageVersion(data))
    except (PyAsn1Error, ValueError, TypeError) as exc:
        raise NotATrap(f"not an SNMP message: {exc}") from exc


def decode_trap(data: bytes) -> tuple[str, str, dict[str, Any]]:
    """(community, trap name or OID, variables by name) of a v1 or v2c trap datagram; NotATrap otherwise."""
    try:
        version = message_version(data)
        module = api.PROTOCOL_MODULES[version]
        message, _ = decoder.decode(data, asn1Spec=module.Message())
    except (PyAsn1Error, KeyError, ValueError, TypeError) as exc:
        raise NotATrap(f"not an SNMP v1/v2c message: {exc}") from exc
    community = str(module.apiMessage.get_community(message))
    pdu = module.apiMessage.get_pdu(message)
    if version == api.SNMP_VERSION_1:
        if not pdu.isSameTypeWith(module.TrapPDU()):
            raise NotATrap("an SNMPv1 message that is not a trap")
        variables = {str(oid): value for oid, value in module.apiTrapPDU.get_varbinds(pdu)}
        generic = int(module.apiTrapPDU.get_generic_trap(pdu))
        enterprise = str(module.apiTrapPDU.get_enterprise(pdu))
        trap = GENERIC_TRAPS[generic] if generic < 6 else f"{enterprise}.0.{module.apiTrapPDU.get_specific_trap(pdu)}"
        return community, trap, {oid_name(oid): value.prettyPrint() for oid, value in variables.items()}
    if not (pdu.isSameTypeWith(module.SNMPv2TrapPDU()) or pdu.isSameTypeWith(module.InformRequestPDU())):
        raise NotATrap("an SNMPv2c message that is not a trap or inform")
    return community, *v2_trap(pdu)


def v2_trap(pdu: Any) -> tuple[str, dict[str, Any]]:
    """(trap name or OID, variables by name) of an SNMPv2 trap PDU (of a v2c or v3 message)."""
    v2c = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]
    variables = {str(oid): value for oid, value in v2c.apiPDU.get_varbinds(pdu)}
    if SNMP_TRAP_OID not in variables:
        raise NotATrap("no snmpTrapOID.0 variable")
    trap = oid_name(str(variables.pop(SNMP_TRAP_OID)))
    return trap, {oid_name(oid): value.prettyPrint() for oid, value in variables.items()}


def trap_alert(peer: str, trap: str, variables: dict[str, Any]) -> AlertPayload:
    if trap in ("linkDown", "linkUp"):
        index = next((v for k, v in variables.items() if k.startswith(oid_name(IF_INDEX))), "?")
        return AlertPayload(fingerprint=f"snmp-trap:{peer}:link:{index}", title=f"Link down on {peer} (ifIndex {index})",
                            severity=Severity.high,
                            status=AlertStatus.firing if trap == "linkDown" else AlertStatus.resolved,
                            host=peer, labels={"trap": trap}, details={"variables": variables}, signal=SignalKind.alert)
    return AlertPayload(fingerprint=f"snmp-trap:{peer}:{trap}", title=f"SNMP trap {trap} from {peer}",
                        severity=SEVERITIES.get(trap, Severity.medium), host=peer, labels={"trap": trap},
                        details={"variables": variables}, signal=SignalKind.alert)


class _TrapProtocol(asyncio.DatagramProtocol):
    def __init__(self, queue: asyncio.Queue[AlertPayload], communities: frozenset[str], usm: UsmTraps) -> None:
        self.queue = queue
        self.communities = communities
        self.usm = usm

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        try:
            trap, variables = self.decode(data, (str(addr[0]), int(addr[1])))
        except TrapRefused as exc:
            REFUSED.labels(exc.reason).inc()
            log.debug("snmp trap refused", extra={"peer": str(addr[0]), "reason": exc.reason, "error": str(exc)})
            return
        try:
            self.queue.put_nowait(trap_alert(str(addr[0]), trap, variables))
        except asyncio.QueueFull:
            REFUSED.labels("queue_full").inc()

    def decode(self, data: bytes, peer: tuple[str, int]) -> tuple[str, dict[str, Any]]:
        if message_version(data) == V3:
            return v2_trap(self.usm.decode(data, peer))
        community, trap, variables = decode_trap(data)
        if community not in self.communities:
            raise TrapRefused("community", "a community not in SNMP_TRAP_COMMUNITIES")
        return trap, variables


class SnmpTrapProducer(Producer[SnmpTrapSettings]):
    name = "snmp_traps"
    stream = ALERTS_INGESTED
    settings_model = SnmpTrapSettings
    interval_s = POLL_INTERVAL_S

    def __init__(self, ctx: WorkerContext, settings: SnmpTrapSettings | None = None) -> None:
        super().__init__(ctx, settings)
        self.queue: asyncio.Queue[AlertPayload] = asyncio.Queue(QUEUE_SIZE)
        self.port: int | None = None  # the bound port, once listening
        self.usm = UsmTraps()

    @classmethod
    def enabled(cls, settings: SnmpTrapSettings) -> bool:
        if settings.snmp_trap_port and not settings.snmp_trap_communities:
            raise ValueError("SNMP_TRAP_COMMUNITIES must list the communities traps are taken with")
        return bool(settings.snmp_trap_port)

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        protocol = _TrapProtocol(self.queue, frozenset(self.settings.snmp_trap_communities), self.usm)
        transport, _ = await loop.create_datagram_endpoint(
            lambda: protocol, local_addr=(self.settings.snmp_trap_host, self.settings.snmp_trap_port))
        self.port = transport.get_extra_info("sockname")[1]
        log.info("snmp traps listening", extra={"port": self.port})
        users = asyncio.create_task(self._refresh_users(stop), name="snmp-trap-users")
        try:
            await super().run(stop)
        finally:
            transport.close()
            users.cancel()
            await asyncio.gather(users, return_exceptions=True)
        await self.drain()

    async def _refresh_users(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.load_users()
                wait = self.settings.snmp_trap_users_refresh_s
            except TRANSIENT_ERRORS as exc:
                log.warning("snmp trap users not read, keeping the last ones",
                            extra={"users": len(self.usm.users), "error": repr(exc)})
                wait = min(USERS_RETRY_S, self.settings.snmp_trap_users_refresh_s)
            await sleep_or_stop(stop, wait)

    async def poll(self) -> list[Envelope]:
        alerts = []
        while not self.queue.empty():
            alerts.append(self.queue.get_nowait())
        return [Envelope(type=ALERT_RECEIVED, source=SOURCE, payload=alert.model_dump(mode="json")) for alert in alerts]

    async def load_users(self) -> None:
        """The v3 users, from the enabled SNMP sources (a source whose credentials cannot be opened is skipped:
        the poller reports it)."""
        box = secret_box(self.ctx.settings.secrets_key.get_secret_value())
        async with self.ctx.sessions() as session:
            rows = await session.scalars(select(Source).order_by(Source.name).where(
                Source.kind == SourceKind.snmp.value, Source.enabled, Source.revoked_at.is_(None)))
        sources = []
        for row in rows:
            try:
                settings = source_settings(box, row)
            except SourceUnusable:
                continue
            if isinstance(settings, SnmpSettings):
                sources.append(settings)
        await self.usm.set_users(sources)
