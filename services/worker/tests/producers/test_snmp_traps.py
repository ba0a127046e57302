"""SNMP trap receiver: traps sent by net-snmp's `snmptrap` (v1 and v2c) become alerts on the alerts stream;
linkUp resolves the linkDown of the same interface; a wrong community or a non-SNMP datagram is dropped."""

import asyncio
import socket
import subprocess

from aiops_contracts.bus import Bus
from aiops_contracts.envelope import Envelope
from aiops_contracts.streams import ALERTS_INGESTED
from aiops_worker.producers.settings import SnmpTrapSettings
from aiops_worker.producers.snmp_traps import SnmpTrapProducer
from aiops_worker.runtime.context import WorkerContext

COMMUNITY = "trap-community"
LINK_DOWN, LINK_UP = "1.3.6.1.6.3.1.1.5.3", "1.3.6.1.6.3.1.1.5.4"
IF_INDEX = "1.3.6.1.2.1.2.2.1.1.3"


def snmptrap(port: int, *args: str, community: str = COMMUNITY, version: str = "2c") -> None:
    subprocess.run(["snmptrap", f"-v{version}", "-c", community, "-M", "/nonexistent", f"127.0.0.1:{port}", *args],
                   check=True, capture_output=True, env={"MIBS": ""}, timeout=10)


async def alerts(bus: Bus, count: int) -> list[dict]:
    found: list[dict] = []
    for _ in range(200):
        found = [Envelope.from_entry(f).payload for _, f in await bus.redis.xrange(bus.key(ALERTS_INGESTED))]
        if len(found) >= count:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"only {len(found)} of {count} alerts arrived")


async def test_traps_become_alerts(worker_ctx: WorkerContext) -> None:
    settings = SnmpTrapSettings(snmp_trap_host="127.0.0.1", snmp_trap_port=_free_udp_port(),
                                snmp_trap_communities=[COMMUNITY])
    producer = SnmpTrapProducer(worker_ctx, settings)
    stop = asyncio.Event()
    running = asyncio.create_task(producer.run(stop))
    while producer.port is None:
        await asyncio.sleep(0.01)
    port = producer.port
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


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
