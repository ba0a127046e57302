"""SNMP agents (v2c and v3 USM with auth/priv) with pysnmp's asyncio API: one GET of sysUpTime and sysName
(and the source's extra `oids`), then GETBULK walks of IF-MIB interface counters (turned into per-second
rates, snmp_oids.CounterRates) and HOST-RESOURCES storage and processor load.

Measurements (tags: the source's labels, `source`, `host` = the target): `snmp` (uptime_s and the extra
oids), `snmp_interface` (per `interface`: *_bytes_per_s, *_errors_per_s, *_discards_per_s, oper_up),
`snmp_storage` (per `storage`: size_bytes, used_bytes, used_percent), `snmp_cpu` (per `cpu`: load_percent).
"""

import hashlib
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    Udp6TransportTarget,
    UdpTransportTarget,
    UsmUserData,
    bulk_cmd,
    get_cmd,
)
from pysnmp.hlapi.v3arch.asyncio import auth as usm
from pysnmp.proto import rfc1905

from aiops_contracts.outbound import UnsafeUrl
from aiops_contracts.pollers import SnmpSettings
from aiops_contracts.sources import SourceKind
from aiops_worker.producers.http import ANY_SAFE_ADDRESS
from aiops_worker.producers.poller import CheckFailed, PolledSource, Poller, PollResult
from aiops_worker.producers.snmp_oids import HR_COLUMNS, IF_COLUMNS, SYS_NAME, SYS_UPTIME, CounterRates

AUTH_PROTOCOLS = {"MD5": usm.USM_AUTH_HMAC96_MD5, "SHA": usm.USM_AUTH_HMAC96_SHA,
                  "SHA224": usm.USM_AUTH_HMAC128_SHA224, "SHA256": usm.USM_AUTH_HMAC192_SHA256,
                  "SHA384": usm.USM_AUTH_HMAC256_SHA384, "SHA512": usm.USM_AUTH_HMAC384_SHA512}
PRIV_PROTOCOLS = {"DES": usm.USM_PRIV_CBC56_DES, "AES": usm.USM_PRIV_CFB128_AES,
                  "AES192": usm.USM_PRIV_CFB192_AES, "AES256": usm.USM_PRIV_CFB256_AES}
AUTH_ERRORS = ("UnknownUserName", "WrongDigest", "UnknownSecurityName", "DecryptionError", "UnsupportedSecLevel",
               "AuthenticationFailure", "NotInTimeWindow")
# GETBULK repetitions: the rows the table had at the last poll plus one (one request when it did not grow), or
# FIRST_REPETITIONS before that. Decoding the answer is most of a poll's CPU, so no more rows than needed.
FIRST_REPETITIONS, MAX_REPETITIONS = 10, 50
COUNTERS = ("in_octets", "out_octets", "in_errors", "out_errors", "in_discards", "out_discards")

# Engines, built when first needed (~0.2 s of CPU each): every v2c source shares one; v3 users live in their
# engine, so v3 sources share one per set of credentials (a fleet's usual single user), and equal user names
# with different keys never clash. An engine is dropped when the last poller using it closes, so the cache
# holds the credentials of the running sources only.
@dataclass
class _Shared:
    engine: SnmpEngine
    users: int = 0


_engines: dict[str, _Shared] = {}


def _engine_key(settings: SnmpSettings) -> str:
    if settings.version != "3":
        return "v2c"
    secrets = [settings.username, settings.auth_protocol, settings.priv_protocol,
               *(s.get_secret_value() if s else "" for s in (settings.auth_key, settings.priv_key))]
    return hashlib.sha256("\0".join(str(part) for part in secrets).encode()).hexdigest()


def _hold_engine(key: str) -> SnmpEngine:
    if key not in _engines:
        _engines[key] = _Shared(SnmpEngine())
    _engines[key].users += 1
    return _engines[key].engine


def _release_engine(key: str) -> None:
    shared = _engines[key]
    shared.users -= 1
    if shared.users == 0:
        del _engines[key]
        shared.engine.close_dispatcher()


class SnmpPoller(Poller):
    kind = SourceKind.snmp
    policy = ANY_SAFE_ADDRESS  # where the target's name may resolve to

    def __init__(self, source: PolledSource) -> None:
        super().__init__(source)
        settings = source.settings
        assert isinstance(settings, SnmpSettings)
        self.settings = settings
        self.auth = _auth(settings)
        self.rates = CounterRates()
        self._transport: UdpTransportTarget | Udp6TransportTarget | None = None
        self._rows: dict[str, int] = {}  # rows of each walked table at the last poll, by its first column
        self._engine_key: str | None = _engine_key(settings)
        self.engine = _hold_engine(self._engine_key)

    async def aclose(self) -> None:
        if self._engine_key is not None:  # once: the engine is shared
            _release_engine(self._engine_key)
            self._engine_key = None

    async def check(self) -> None:
        await self._get([SYS_UPTIME])

    async def poll(self) -> PollResult:
        now_ns = time.time_ns()
        scalars = await self._get([SYS_UPTIME, SYS_NAME, *self.settings.oids.values()])
        uptime_s = int(scalars[SYS_UPTIME]) / 100
        self.rates.observe_uptime(uptime_s)
        host = {"host": self.source.target}
        extra = {name: _number(scalars.get(oid)) for name, oid in self.settings.oids.items()}
        fields = {"uptime_s": uptime_s, **{k: v for k, v in extra.items() if v is not None}}
        result = PollResult(lines=[self.point("snmp", host, fields, now_ns)])
        if self.settings.interfaces:
            result.lines += self._interfaces(await self._walk(IF_COLUMNS), uptime_s, now_ns)
        if self.settings.host_resources:
            result.lines += self._host_resources(await self._walk(HR_COLUMNS), now_ns)
        return result

    def _interfaces(self, table: dict[str, dict[str, Any]], uptime_s: float, now_ns: int) -> list[str]:
        lines = []
        for index, row in sorted(table.items()):
            name = str(row.get("name") or row.get("descr") or index)
            fields: dict[str, Any] = {}
            if "oper_status" in row:
                fields["oper_up"] = int(int(row["oper_status"]) == 1)
            for counter in COUNTERS:
                value, bits = _counter(row, counter)
                if value is None:
                    continue
                rate = self.rates.rate((index, counter), value, bits, uptime_s)
                if rate is not None:
                    unit = "bytes" if counter.endswith("octets") else counter.split("_", 1)[1]
                    fields[f"{counter.split('_', 1)[0]}_{unit}_per_s"] = float(rate)
            if fields:
                tags = {"host": self.source.target, "interface": name, "if_index": index}
                lines.append(self.point("snmp_interface", tags, fields, now_ns))
        return lines

    def _host_resources(self, table: dict[str, dict[str, Any]], now_ns: int) -> list[str]:
        lines = []
        for index, row in sorted(table.items()):
            if "processor_load" in row:
                lines.append(self.point("snmp_cpu", {"host": self.source.target, "cpu": index},
                                        {"load_percent": float(int(row["processor_load"]))}, now_ns))
            if {"storage_descr", "storage_units", "storage_size", "storage_used"} <= row.keys():
                units, size = int(row["storage_units"]), int(row["storage_size"])
                used = int(row["storage_used"])
                fields = {"size_bytes": float(size * units), "used_bytes": float(used * units),
                          "used_percent": 100.0 * used / size if size else 0.0}
                tags = {"host": self.source.target, "storage": str(row["storage_descr"])}
                lines.append(self.point("snmp_storage", tags, fields, now_ns))
        return lines

    async def _target(self) -> UdpTransportTarget | Udp6TransportTarget:
        """The agent's transport, to the first address of the target as the outbound policy vets it (a name
        resolving to a link-local, metadata or reserved address is refused, as for HTTP sources)."""
        if self._transport is None:
            try:
                address = (await self.policy.addresses(self.source.target, self.settings.port))[0]
            except UnsafeUrl as exc:
                raise CheckFailed("dns", str(exc)) from exc
            target = Udp6TransportTarget if ":" in address else UdpTransportTarget
            self._transport = await target.create(
                (address, self.settings.port), timeout=self.settings.request_timeout_s, retries=self.settings.retries)
        return self._transport

    async def _get(self, oids: list[str]) -> dict[str, Any]:
        indication, status, index, var_binds = await get_cmd(
            self.engine, self.auth, await self._target(), ContextData(), *(ObjectType(ObjectIdentity(o)) for o in oids),
            lookupMib=False)
        self._raise_for(indication, status, index)
        return {str(oid): value for oid, value in var_binds
                if not isinstance(value, rfc1905.NoSuchObject | rfc1905.NoSuchInstance)}

    async def _walk(self, columns: dict[str, str]) -> dict[str, dict[str, Any]]:
        """The rows of `columns` (walked together with GETBULK): row index -> field -> value."""
        rows: dict[str, dict[str, Any]] = defaultdict(dict)
        cursor = dict(columns)  # field -> the OID to continue from; a finished column leaves
        table = next(iter(columns.values()))
        repetitions = min(self._rows.get(table, FIRST_REPETITIONS - 1) + 1, MAX_REPETITIONS)
        while cursor:
            fields = list(cursor)
            indication, status, index, var_binds = await bulk_cmd(
                self.engine, self.auth, await self._target(), ContextData(), 0, repetitions,
                *(ObjectType(ObjectIdentity(cursor[f])) for f in fields), lookupMib=False)
            self._raise_for(indication, status, index)
            if not var_binds:
                break
            for position, (oid, value) in enumerate(var_binds):
                field = fields[position % len(fields)]
                if field not in cursor:
                    continue
                prefix = columns[field] + "."
                if not str(oid).startswith(prefix) or isinstance(value, rfc1905.EndOfMibView):
                    del cursor[field]
                    continue
                rows[str(oid)[len(prefix):]][field] = value
                cursor[field] = str(oid)
        self._rows[table] = max(len(rows), 1)
        return rows

    def _raise_for(self, indication: Any, status: Any, index: Any) -> None:
        where = f"udp://{self.source.target}:{self.settings.port}"
        if indication is None and not status:
            return
        if indication is not None:
            name = type(indication).__name__
            if name in AUTH_ERRORS:
                raise CheckFailed("auth", f"{where} refused the SNMPv3 credentials: {indication}")
            if name == "RequestTimedOut":
                hint = ("wrong community (v2c agents ignore it)" if self.settings.version == "2c"
                        else "wrong privacy key")
                raise CheckFailed("timeout", f"no SNMP answer from {where}: agent down, port filtered or {hint}")
            raise CheckFailed("protocol", f"{where}: {indication}")
        raise CheckFailed("protocol", f"{where} answered {status.prettyPrint()} at variable {index}")


def _auth(settings: SnmpSettings) -> CommunityData | UsmUserData:
    if settings.version == "2c":
        assert settings.community is not None
        return CommunityData(settings.community.get_secret_value(), mpModel=1)
    return UsmUserData(
        settings.username or "",
        authKey=settings.auth_key.get_secret_value() if settings.auth_key else None,
        privKey=settings.priv_key.get_secret_value() if settings.priv_key else None,
        authProtocol=AUTH_PROTOCOLS[settings.auth_protocol] if settings.auth_protocol else usm.USM_AUTH_NONE,
        privProtocol=PRIV_PROTOCOLS[settings.priv_protocol] if settings.priv_protocol else usm.USM_PRIV_NONE)


def _counter(row: dict[str, Any], counter: str) -> tuple[int | None, int]:
    """The counter's value, from the 64-bit ifXTable column when the agent has it, and its width."""
    high = row.get(f"hc_{counter}")
    if high is not None:
        return int(high), 64
    value = row.get(counter)
    return (int(value), 32) if value is not None else (None, 32)


def _number(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None
