"""SNMPv3 traps (USM, RFC 3414) for the trap receiver (snmp_traps.py): authenticated and decrypted with the
users of the enabled SNMP v3 sources (their user name, protocols and keys, opened with SECRETS_KEY).

The sender of a trap is its authoritative engine, so a user's keys are localised to the engine ID the trap
names when that engine is first seen (no engine IDs to configure, as snmptrapd's `createUser -e` needs), then
pysnmp's own message processing checks the digest, the time window and decrypts. A user name several sources
share takes the keys of the first of them by name. Anyone can name a new engine in a forged datagram, so
what it costs is kept small: the passphrases are hashed to master keys (RFC 3414 A.2, 16,384 rounds each)
once, off the event loop, when the users are read; a new engine's message has its digest checked with the
auth key localised to that engine (two short hashes) before the engine is added to pysnmp's tables (whose
MIB writes cost more than the hashes). The MAX_ENGINES (engine, user) pairs last seen are kept, the least
recently seen one making room for a new one, so no number of engines locks real agents out (theirs is
added again when they next send). Refused,
with the reason counted: a user no source has ("user"); a digest, time window or decryption that fails
("auth"); a message with the reportable flag, which a trap never sets (RFC 3412 7.1.8) and a receiver would
answer with a report, reflected at whoever the datagram claims to be from ("malformed").
"""

import asyncio
import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from pyasn1.codec.ber import decoder
from pyasn1.error import PyAsn1Error
from pysnmp.carrier.asyncio.dgram import udp
from pysnmp.entity import config
from pysnmp.entity.engine import SnmpEngine
from pysnmp.proto import api, error
from pysnmp.proto.mpmod.rfc3412 import SNMPv3Message, SnmpV3MessageProcessingModel
from pysnmp.proto.secmod.rfc3414.service import UsmSecurityParameters

from aiops_contracts.pollers import SnmpSettings
from aiops_worker.producers.snmp import AUTH_PROTOCOLS, PRIV_PROTOCOLS

MAX_ENGINES = 10_000  # (engine, user) pairs kept localised; the least recently seen makes room for a new one
REPORTABLE = 0x04
V2C = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]


class TrapRefused(ValueError):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class _User:
    name: str
    auth_protocol: tuple[int, ...]
    auth_key: bytes | None  # master keys (USM_KEY_TYPE_MASTER), to be localised to each engine
    priv_protocol: tuple[int, ...]
    priv_key: bytes | None


class UsmTraps:
    def __init__(self) -> None:
        self.engine = SnmpEngine()
        self.users: dict[bytes, _User] = {}
        self._localised: OrderedDict[tuple[bytes, bytes], None] = OrderedDict()  # least recently seen first
        self._fingerprint = ""

    async def set_users(self, sources: list[SnmpSettings]) -> None:
        """The v3 users of `sources` (in order: the first of a name wins); a change hashes their passphrases
        (in a thread) and starts a new engine."""
        users: dict[bytes, SnmpSettings] = {}
        for settings in sources:
            if settings.version == "3" and settings.username:
                users.setdefault(settings.username.encode(), settings)
        fingerprint = hashlib.sha256(repr(sorted((name, *_keys(s)) for name, s in users.items())).encode()).hexdigest()
        if fingerprint != self._fingerprint:
            masters = await asyncio.to_thread(lambda: {name: _master(s) for name, s in users.items()})
            self.engine, self.users, self._localised, self._fingerprint = (
                SnmpEngine(), masters, OrderedDict(), fingerprint)

    def decode(self, data: bytes, peer: tuple[str, int]) -> Any:
        """The SNMPv2 trap PDU of a v3 message from `peer`; TrapRefused saying why not."""
        engine_id, user, digest = _header(data)
        known = self.users.get(user)
        if known is None:
            raise TrapRefused("user", f"no SNMP v3 source has the user {user!r}")
        if (engine_id, user) in self._localised:
            self._localised.move_to_end((engine_id, user))
        else:
            _check_digest(known, engine_id, digest, data)
            self._localise(known, engine_id)
        model = self.engine.message_processing_subsystems[SnmpV3MessageProcessingModel.MESSAGE_PROCESSING_MODEL_ID]
        try:
            pdu = model.prepare_data_elements(self.engine, udp.DOMAIN_NAME, peer, data)[7]
        except error.StatusInformation as exc:
            raise TrapRefused("auth", f"SNMPv3 message refused: {exc.get('errorIndication')}") from exc
        except PyAsn1Error as exc:
            raise TrapRefused("malformed", f"SNMPv3 message unreadable: {exc}") from exc
        if not pdu.isSameTypeWith(V2C.SNMPv2TrapPDU()):
            raise TrapRefused("malformed", "an SNMPv3 message that is not a trap")
        return pdu

    def _localise(self, user: _User, engine_id: bytes) -> None:
        if len(self._localised) >= MAX_ENGINES:
            (old_engine, old_user), _ = self._localised.popitem(last=False)
            (entry,) = self.engine.get_mib_builder().import_symbols("SNMP-USER-BASED-SM-MIB", "usmUserEntry")
            index = entry.getInstIdFromIndices(V2C.OctetString(old_engine), V2C.OctetString(old_user))
            # the user's row of that engine only (config.delete_v3_user walks the whole table, and drops the
            # user's row shared by all engines)
            self.engine.message_dispatcher.mib_instrum_controller.write_variables(
                (entry.name + (13,) + index, "destroy"), snmpEngine=self.engine)
        config.add_v3_user(self.engine, user.name, authProtocol=user.auth_protocol, authKey=user.auth_key,
                           privProtocol=user.priv_protocol, privKey=user.priv_key,
                           securityEngineId=V2C.OctetString(engine_id), authKeyType=config.USM_KEY_TYPE_MASTER,
                           privKeyType=config.USM_KEY_TYPE_MASTER)
        self._localised[(engine_id, user.name.encode())] = None


def _master(settings: SnmpSettings) -> _User:
    """A user with its passphrases hashed to master keys (the slow part of a key's localisation)."""
    auth = AUTH_PROTOCOLS[settings.auth_protocol] if settings.auth_protocol else config.USM_AUTH_NONE
    priv = PRIV_PROTOCOLS[settings.priv_protocol] if settings.priv_protocol else config.USM_PRIV_NONE
    auth_key = priv_key = None
    if settings.auth_key:
        auth_key = bytes(config.AUTH_SERVICES[auth].hash_passphrase(settings.auth_key.get_secret_value().encode()))
    if settings.priv_key:
        priv_key = bytes(config.PRIV_SERVICES[priv].hash_passphrase(auth, settings.priv_key.get_secret_value().encode()))
    return _User(settings.username or "", auth, auth_key, priv, priv_key)


def _keys(settings: SnmpSettings) -> tuple[str, ...]:
    secrets = (key.get_secret_value() if key else "" for key in (settings.auth_key, settings.priv_key))
    return (str(settings.auth_protocol), str(settings.priv_protocol), *secrets)


def _check_digest(user: _User, engine_id: bytes, digest: Any, data: bytes) -> None:
    """TrapRefused unless the message's digest is right for the user's auth key localised to `engine_id` (a user
    without authentication has none to check)."""
    if user.auth_key is None:
        return
    auth = config.AUTH_SERVICES[user.auth_protocol]
    try:
        auth.authenticate_incoming_message(auth.localize_key(user.auth_key, V2C.OctetString(engine_id)), digest, data)
    except (error.StatusInformation, error.ProtocolError) as exc:
        raise TrapRefused("auth", "SNMPv3 message refused: wrong digest for this engine") from exc


def _header(data: bytes) -> tuple[bytes, bytes, Any]:
    """(authoritative engine ID, user name, digest) of a v3 message, read before any check."""
    try:
        message, _ = decoder.decode(data, asn1Spec=SNMPv3Message())
        flags = bytes(message["msgGlobalData"]["msgFlags"])
        params, _ = decoder.decode(bytes(message["msgSecurityParameters"]), asn1Spec=UsmSecurityParameters())
    except (PyAsn1Error, TypeError, ValueError) as exc:
        raise TrapRefused("malformed", f"not an SNMPv3 USM message: {exc}") from exc
    if not flags or flags[0] & REPORTABLE:
        raise TrapRefused("malformed", "an SNMPv3 message with the reportable flag (informs and requests)")
    return bytes(params["msgAuthoritativeEngineId"]), bytes(params["msgUserName"]), params["msgAuthenticationParameters"]
