"""SNMP trap receiver: traps sent by net-snmp's `snmptrap` (v1 and v2c) and by pysnmp (v3 with auth and privacy)
become alerts on the alerts stream; linkUp resolves the linkDown of the same interface; a wrong community, a
non-SNMP datagram, and a v3 trap with a wrong key or an unknown user are dropped and counted; forged engine
IDs do not lock a real agent out; traps go on while PostgreSQL (the v3 users) is unreachable."""

import asyncio
import dataclasses
import logging
import socket
import subprocess
from collections.abc import Callable

import pytest
from prometheus_client import REGISTRY
from pysnmp.hlapi.v3arch.asyncio import (
    USM_AUTH_HMAC96_SHA,
    USM_PRIV_CFB128_AES,
    ContextData,
    NotificationType,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    UdpTransportTarget,
    UsmUserData,
    send_notification,
)
from pysnmp.proto.rfc1902 import Integer, OctetString
from sqlalchemy import make_url

from aiops_contracts.bus import Bus
from aiops_contracts.db import Source
from aiops_contracts.db.session import make_engine, make_sessionmaker
from aiops_contracts.envelope import Envelope
from aiops_contracts.secrets import SecretBox
from aiops_contracts.streams import ALERTS_INGESTED
from aiops_worker.producers import snmp_usm
from aiops_worker.producers.settings import SnmpTrapSettings
from aiops_worker.producers.snmp_traps import SnmpTrapProducer
from aiops_worker.runtime.context import WorkerContext

COMMUNITY = "trap-community"
LINK_DOWN, LINK_UP = "1.3.6.1.6.3.1.1.5.3", "1.3.6.1.6.3.1.1.5.4"
IF_INDEX = "1.3.6.1.2.1.2.2.1.1.3"
V3_USER, AUTH_KEY, PRIV_KEY = "trap-user", "trap-auth-passphrase", "trap-priv-passphrase"


def snmptrap(port: int, *args: str, community: str = COMMUNITY, version: str = "2c") -> None:
    subprocess.run(["snmptrap", f"-v{version}", "-c", community, "-M", "/nonexistent", f"127.0.0.1:{port}", *args],
                   check=True, capture_output=True, env={"MIBS": ""}, timeout=10)


async def v3_trap(port: int, trap_oid: str, if_index: int, engine_id: str, user: str = V3_USER,
                  auth_key: str = AUTH_KEY) -> None:
    """A v3 trap (authPriv: SHA and AES) sent by pysnmp as the engine `engine_id`, a trap's authoritative engine."""
    engine = SnmpEngine(snmpEngineID=OctetString(hexValue=engine_id))
    user_data = UsmUserData(user, auth_key, PRIV_KEY, authProtocol=USM_AUTH_HMAC96_SHA,
                            privProtocol=USM_PRIV_CFB128_AES)
    trap = NotificationType(ObjectIdentity(trap_oid)).add_varbinds(
        ObjectType(ObjectIdentity(IF_INDEX), Integer(if_index)))
    error, *_ = await send_notification(engine, user_data, await UdpTransportTarget.create(("127.0.0.1", port)),
                                        ContextData(), "trap", trap)
    engine.close_dispatcher()
    assert error is None, error


async def alerts(bus: Bus, count: int, timeout_s: float = 30) -> list[dict]:
    """The alerts published once there are `count`; a deadline in time, generous for a loaded machine."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        found = [Envelope.from_entry(f).payload for _, f in await bus.redis.xrange(bus.key(ALERTS_INGESTED))]
        if len(found) >= count:
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"only {len(found)} of {count} alerts arrived within {timeout_s} s")
        await asyncio.sleep(0.05)


async def receiver(ctx: WorkerContext, *, users: bool = False,
                   **settings: float) -> tuple[SnmpTrapProducer, int, asyncio.Event, asyncio.Task]:
    """A trap producer listening on a port of its own (port 0: the system picks one), once it has the v3 users
    if `users`: (producer, port, stop, its task)."""
    producer = SnmpTrapProducer(ctx, SnmpTrapSettings(snmp_trap_host="127.0.0.1", snmp_trap_port=0,
                                                      snmp_trap_communities=[COMMUNITY], **settings))
    stop = asyncio.Event()
    running = asyncio.create_task(producer.run(stop))
    await until(lambda: producer.port is not None and (bool(producer.usm.users) or not users), running)
    assert producer.port is not None
    return producer, producer.port, stop, running


async def until(condition: Callable[[], bool], running: asyncio.Task, timeout_s: float = 30.0) -> None:
    """Waits for `condition`, failing with the producer's own error if it stopped."""
    async def wait() -> None:
        while not condition():
            if running.done():
                running.result()  # its exception
                raise AssertionError("the trap producer stopped")
            await asyncio.sleep(0.01)
    await asyncio.wait_for(wait(), timeout_s)


async def test_traps_become_alerts(worker_ctx: WorkerContext) -> None:
    _, port, stop, running = await receiver(worker_ctx)
    snmptrap(port, "", LINK_DOWN, IF_INDEX, "i", "3")
    snmptrap(port, "", LINK_DOWN, IF_INDEX, "i", "3", community="wrong")  # dropped
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(b"not snmp at all", ("127.0.0.1", port))  # dropped
    snmptrap(port, "", LINK_UP, IF_INDEX, "i", "3")
    snmptrap(port, "1.3.6.1.4.1.8072.3.2.10", "127.0.0.1", "6", "17", "", version="1")  # v1 enterprise trap
    received = await alerts(worker_ctx.bus, 3)
    stop.set()
    await running
    down, up, enterprise = received
    assert (down["fingerprint"], down["status"], down["severity"]) == ("snmp-trap:127.0.0.1:link:3", "firing", "high")
    assert (up["fingerprint"], up["status"]) == ("snmp-trap:127.0.0.1:link:3", "resolved")
    assert enterprise["title"] == "SNMP trap 1.3.6.1.4.1.8072.3.2.10.0.17 from 127.0.0.1"
    assert len(await worker_ctx.bus.redis.xrange(worker_ctx.bus.key(ALERTS_INGESTED))) == 3


async def v3_source(ctx: WorkerContext) -> None:
    box = SecretBox(ctx.settings.secrets_key.get_secret_value())
    async with ctx.sessions() as session:
        session.add(Source(name="core-sw", kind="snmp", target="127.0.0.1", interval_s=60.0, labels={},
                           config={"version": "3", "username": V3_USER, "auth_protocol": "SHA", "priv_protocol": "AES"},
                           credentials={"auth_key": box.seal(AUTH_KEY), "priv_key": box.seal(PRIV_KEY)}))
        await session.commit()


async def test_v3_traps_are_taken_with_the_users_of_snmp_sources(worker_ctx: WorkerContext) -> None:
    await v3_source(worker_ctx)
    _, port, stop, running = await receiver(worker_ctx, users=True)
    refused = {reason: _refused(reason) for reason in ("auth", "user")}
    await v3_trap(port, LINK_DOWN, 3, "8000000001020304")
    await v3_trap(port, LINK_DOWN, 4, "8000000001020304", auth_key="not-the-auth-key")  # wrong digest
    await v3_trap(port, LINK_DOWN, 5, "8000000001020304", user="nobody")  # no source has this user
    await v3_trap(port, LINK_UP, 3, "8000000005060708")  # another agent's engine
    down, up = await alerts(worker_ctx.bus, 2)
    stop.set()
    await running
    assert (down["fingerprint"], down["status"]) == ("snmp-trap:127.0.0.1:link:3", "firing")
    assert (up["fingerprint"], up["status"]) == ("snmp-trap:127.0.0.1:link:3", "resolved")
    assert {reason: _refused(reason) - before for reason, before in refused.items()} == {"auth": 1, "user": 1}
    assert len(await worker_ctx.bus.redis.xrange(worker_ctx.bus.key(ALERTS_INGESTED))) == 2


async def test_forged_engines_do_not_lock_out_a_real_agent(worker_ctx: WorkerContext,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(snmp_usm, "MAX_ENGINES", 2)
    await v3_source(worker_ctx)
    producer, port, stop, running = await receiver(worker_ctx, users=True)
    await v3_trap(port, LINK_DOWN, 3, "8000000001020304")
    await alerts(worker_ctx.bus, 1)
    refused = _refused("auth")
    for forged in range(10):  # the user's name, engines of their own, not the key
        await v3_trap(port, LINK_DOWN, 9, f"80000000ff{forged:06x}", auth_key="forged-not-the-key")
    await until(lambda: _refused("auth") - refused == 10, running)
    assert list(producer.usm._localised) == [(bytes.fromhex("8000000001020304"), V3_USER.encode())]  # none added
    for agent in range(2):  # more real agents than MAX_ENGINES: the least recently seen makes room
        await v3_trap(port, LINK_DOWN, 10 + agent, f"80000000aa{agent:06x}")
    await alerts(worker_ctx.bus, 3)
    assert (bytes.fromhex("8000000001020304"), V3_USER.encode()) not in producer.usm._localised
    await v3_trap(port, LINK_UP, 3, "8000000001020304")  # added again
    down, *_, up = await alerts(worker_ctx.bus, 4)
    stop.set()
    await running
    assert (down["status"], up["status"], up["fingerprint"]) == ("firing", "resolved", "snmp-trap:127.0.0.1:link:3")


async def test_traps_go_on_while_postgresql_is_unreachable(worker_ctx: WorkerContext,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    await v3_source(worker_ctx)
    producer, port, stop, running = await receiver(worker_ctx, users=True, snmp_trap_users_refresh_s=0.05)
    nothing_listens = make_url(worker_ctx.settings.database_url).set(port=1).render_as_string(hide_password=False)
    unreachable = make_engine(worker_ctx.settings.model_copy(update={"database_url": nothing_listens}))
    producer.ctx = dataclasses.replace(worker_ctx, sessions=make_sessionmaker(unreachable))
    with caplog.at_level(logging.WARNING, "aiops_worker.producers.snmp_traps"):
        await until(lambda: "snmp trap users not read" in caplog.text, running)
        snmptrap(port, "", LINK_DOWN, IF_INDEX, "i", "3")
        await v3_trap(port, LINK_UP, 3, "8000000001020304")  # the users read last are kept
        down, up = await alerts(worker_ctx.bus, 2)
        stop.set()
        await asyncio.wait_for(running, 10)  # the last drain does not wait for PostgreSQL
    await unreachable.dispose()
    assert (down["status"], up["status"]) == ("firing", "resolved")


def _refused(reason: str) -> float:
    return REGISTRY.get_sample_value("aiops_worker_snmp_traps_refused_total", {"reason": reason}) or 0.0
