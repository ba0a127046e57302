"""What a forged SNMPv3 trap costs the trap receiver's event loop (services/worker/.../snmp_usm.py): a datagram
naming a user of an SNMP source and an engine ID never seen, without the key (anyone can send one). Each is
decoded by the receiver's real UsmTraps; beside it, what a new engine cost when the receiver derived the user's
keys from the passphrases for it (pysnmp's add_v3_user with passphrases). Prints each figure beside its target.

    .venv/bin/python scripts/bench/snmp_forged_engines.py [--datagrams 200]
"""

import argparse
import asyncio
import os
import socket
import time
from contextlib import suppress

from pysnmp.entity import config
from pysnmp.entity.engine import SnmpEngine as BareEngine
from pysnmp.hlapi.v3arch.asyncio import (
    USM_AUTH_HMAC96_SHA,
    USM_PRIV_CFB128_AES,
    ContextData,
    NotificationType,
    ObjectIdentity,
    SnmpEngine,
    UdpTransportTarget,
    UsmUserData,
    send_notification,
)
from pysnmp.proto.rfc1902 import OctetString

from aiops_contracts.pollers import SnmpSettings
from aiops_worker.producers.snmp_usm import TrapRefused, UsmTraps

USER = {"version": "3", "username": "u", "auth_protocol": "SHA", "priv_protocol": "AES",
        "auth_key": "the-auth-passphrase", "priv_key": "the-priv-passphrase"}
TARGET_MS = 1.0  # per forged datagram: far below the ~14 ms of the passphrase hashing it used to cost


async def forged(count: int) -> list[bytes]:
    """`count` v3 traps as pysnmp sends them, each from an engine of its own, with the wrong keys."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(10)
        datagrams = []
        for n in range(count):
            engine = SnmpEngine(snmpEngineID=OctetString(hexValue=f"80000000ee{n:06x}"))
            user = UsmUserData("u", "not-the-auth-key", "not-the-priv-key", authProtocol=USM_AUTH_HMAC96_SHA,
                               privProtocol=USM_PRIV_CFB128_AES)
            await send_notification(engine, user, await UdpTransportTarget.create(sock.getsockname()), ContextData(),
                                    "trap", NotificationType(ObjectIdentity("1.3.6.1.6.3.1.1.5.3")))
            engine.close_dispatcher()
            datagrams.append(sock.recv(65535))
        return datagrams


async def main(count: int) -> None:
    datagrams = await forged(count)
    usm = UsmTraps()
    await usm.set_users([SnmpSettings.model_validate(USER)])
    started = time.perf_counter()
    for data in datagrams:
        with suppress(TrapRefused):
            usm.decode(data, ("127.0.0.1", 1))
    now_ms = (time.perf_counter() - started) / count * 1000
    bare, started = BareEngine(), time.perf_counter()
    for n in range(count):
        config.add_v3_user(bare, "u", authProtocol=USM_AUTH_HMAC96_SHA, authKey=USER["auth_key"],
                           privProtocol=USM_PRIV_CFB128_AES, privKey=USER["priv_key"],
                           securityEngineId=OctetString(hexValue=f"80000000ee{n:06x}"))
    before_ms = (time.perf_counter() - started) / count * 1000
    load = os.getloadavg()[0]
    print(f"forged trap, new engine: {now_ms:.2f} ms of event loop each (target <= {TARGET_MS:g} ms); "
          f"passphrase key derivation per engine, as before: {before_ms:.2f} ms (load average {load:.1f})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datagrams", type=int, default=200)
    asyncio.run(main(parser.parse_args().datagrams))
