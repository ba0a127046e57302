"""Syslog receiver: framing of TCP streams, and real UDP/TCP senders (CPython's SysLogHandler) into the stream."""

import asyncio
import logging
import logging.handlers
import socket
from typing import Any

import pytest

from aiops_contracts.bus import Bus
from aiops_contracts.envelope import Envelope
from aiops_contracts.events import LOG_LINE_MAX_CHARS
from aiops_contracts.streams import LOGS_INGESTED
from aiops_worker.producers.settings import SyslogSettings
from aiops_worker.producers.syslog import FramingError, SyslogFramer, SyslogProducer, to_records
from aiops_worker.runtime.context import WorkerContext

RFC5424 = b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\"] An application event"
RFC3164 = b"<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8"


def test_octet_counting_frames_split_across_reads() -> None:
    framer = SyslogFramer(max_bytes=1024)
    stream = b"%d %s%d %s" % (len(RFC5424), RFC5424, len(RFC3164), RFC3164)
    assert framer.feed(stream[:10]) == []
    assert framer.feed(stream[10:100]) == []
    assert framer.feed(stream[100:]) == [RFC5424, RFC3164]


def test_lf_and_nul_trailers_and_mixed_framing() -> None:
    framer = SyslogFramer(max_bytes=1024)
    assert framer.feed(RFC3164 + b"\n" + b"<14>hello\x00" + b"%d %s" % (len(RFC5424), RFC5424) + b"<13>tail") == [
        RFC3164, b"<14>hello", RFC5424]
    assert framer.feed(b" end\n") == [b"<13>tail end"]


@pytest.mark.parametrize("data", [b"99999999 x", b"12345678901234", b"<1>" + b"x" * 2000])
def test_bad_framing_is_refused(data: bytes) -> None:
    with pytest.raises(FramingError):
        SyslogFramer(max_bytes=1024).feed(data)


def test_bare_priority_becomes_a_level_label() -> None:
    [record] = to_records(b"<11>myapp: disk gone\x00", "tcp", "10.0.0.1")
    assert (record.message, record.labels["level"]) == ("myapp: disk gone", "err")
    assert [r.message for r in to_records(RFC3164, "udp", "10.0.0.1")] == [RFC3164.decode()]  # headers stay for the log task


def test_nul_inside_a_message_is_replaced() -> None:
    assert [r.message for r in to_records(b"<11>myapp: disk\x00 gone", "udp", "10.0.0.1")] == ["myapp: disk\ufffd gone"]


async def received(bus: Bus, count: int, timeout_s: float = 30) -> list[dict]:
    """The records published once there are `count`; a deadline in time, generous for a loaded machine."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        records = [r for _, f in await bus.redis.xrange(bus.key(LOGS_INGESTED)) for r in Envelope.from_entry(f).payload["records"]]
        if len(records) >= count:
            return records
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"only {len(records)} of {count} records arrived within {timeout_s} s")
        await asyncio.sleep(0.05)


def listening_producer(ctx: WorkerContext, **settings: Any) -> tuple[SyslogProducer, list[int]]:
    """A producer set to listen on free UDP and TCP ports (port 0 in the settings means "off"), with `settings`."""
    ports = []
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as probe:
            probe.bind(("127.0.0.1", 0))
            ports.append(probe.getsockname()[1])
    return SyslogProducer(ctx, SyslogSettings(syslog_host="127.0.0.1", syslog_udp_port=ports[0],
                                              syslog_tcp_port=ports[1], **settings)), ports


async def test_udp_and_tcp_senders_reach_the_stream(bus: Bus, worker_ctx: WorkerContext, redis) -> None:
    producer, ports = listening_producer(worker_ctx)
    stop = asyncio.Event()
    running = asyncio.create_task(producer.run(stop))
    while "tcp" not in producer.ports:
        await asyncio.sleep(0.01)
    logger = logging.getLogger("syslog-test")
    logger.propagate = False
    handlers = [logging.handlers.SysLogHandler(("127.0.0.1", ports[0]), socktype=socket.SOCK_DGRAM),
                logging.handlers.SysLogHandler(("127.0.0.1", ports[1]), socktype=socket.SOCK_STREAM)]
    for handler in handlers:
        logger.addHandler(handler)
        logger.error("disk %s failed", "sda1")
        logger.removeHandler(handler)
        handler.close()
    _, writer = await asyncio.open_connection("127.0.0.1", ports[1])
    writer.write(b"%d %s" % (len(RFC5424), RFC5424))
    await writer.drain()
    writer.close()
    records = await received(bus, 3)
    stop.set()
    await running
    by_transport = sorted((r["labels"]["transport"], r["message"], r["labels"].get("level")) for r in records)
    assert by_transport == [("tcp", RFC5424.decode(), None), ("tcp", "disk sda1 failed", "err"),
                            ("udp", "disk sda1 failed", "err")]


async def test_stop_publishes_what_was_received(bus: Bus, worker_ctx: WorkerContext, redis) -> None:
    producer, ports = listening_producer(worker_ctx)
    producer.interval_s = 3600.0  # nothing is published before the stop
    producer.queue = asyncio.Queue(5)  # so the TCP connection also holds messages it read but could not queue
    stop = asyncio.Event()
    running = asyncio.create_task(producer.run(stop))
    while "tcp" not in producer.ports:
        await asyncio.sleep(0.01)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        for n in range(2):
            udp.sendto(b"<11>udp %d" % n, ("127.0.0.1", ports[0]))
        while producer.queue.qsize() < 2:
            await asyncio.sleep(0.01)
    _, writer = await asyncio.open_connection("127.0.0.1", ports[1])  # a sender that keeps its connection
    writer.write(b"".join(b"<11>tcp %d\n" % n for n in range(10)))
    await writer.drain()
    while not producer.queue.full():
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(running, 10)  # the open connection does not keep it running
    writer.close()
    records = await received(bus, 12)
    sent = [f"udp {n}" for n in range(2)] + [f"tcp {n}" for n in range(10)]
    assert sorted(r["message"] for r in records) == sorted(sent)


async def test_a_message_longer_than_a_log_line_arrives_whole_in_pieces(bus: Bus, worker_ctx: WorkerContext,
                                                                        redis) -> None:
    producer, ports = listening_producer(worker_ctx, syslog_max_message_bytes=200_000)
    stop = asyncio.Event()
    running = asyncio.create_task(producer.run(stop))
    while "tcp" not in producer.ports:
        await asyncio.sleep(0.01)
    text = "".join(f"frame {i};" for i in range(15_000))  # 168,890 characters
    _, writer = await asyncio.open_connection("127.0.0.1", ports[1])
    writer.write(b"<11>" + text.encode() + b"\n<14>after\n")
    await writer.drain()
    writer.close()
    records = await received(bus, 4)
    stop.set()
    await running
    assert [len(r["message"]) for r in records] == [LOG_LINE_MAX_CHARS, LOG_LINE_MAX_CHARS, 37_818, 5]
    assert "".join(r["message"] for r in records[:3]) == text and records[3]["message"] == "after"
    assert [r["labels"] for r in records] == [{"transport": "tcp", "peer": "127.0.0.1", "level": "err"}] * 3 + [
        {"transport": "tcp", "peer": "127.0.0.1", "level": "info"}]
