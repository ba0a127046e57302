"""Syslog receiver: RFC 5424 and RFC 3164 messages over UDP and TCP, published as `logs.received`.

TCP framing (RFC 6587): octet counting (`LEN SP MSG`) or a trailer, LF or NUL (CPython's
SysLogHandler ends each TCP message with NUL only); each frame chooses for itself. A UDP datagram is
one message. Header parsing happens in the log task; here a bare `<PRI>` prefix without a syslog
header (what SysLogHandler sends) is turned into a `level` label so the level is not lost. A message
longer than a log line (up to `syslog_max_message_bytes` over TCP) becomes consecutive records, each
with its labels (producers/log_records.py).

Back-pressure: TCP connections stop being read while the queue is full; UDP datagrams that find it
full are dropped and counted (UDP syslog is at-most-once by design).

Stop: the listeners and connections are closed first (nothing new comes in), the connections hand over
what they had already read, and everything queued is published before `run` returns.
"""

import asyncio
import logging
import re

from prometheus_client import Counter

from aiops_contracts.envelope import Envelope
from aiops_contracts.events import LOGS_RECEIVED, LogRecord, LogsPayload
from aiops_contracts.streams import LOGS_INGESTED
from aiops_contracts.text import without_nul
from aiops_worker.producers.base import Producer
from aiops_worker.producers.log_records import log_records
from aiops_worker.producers.settings import SyslogSettings
from aiops_worker.runtime.context import WorkerContext

log = logging.getLogger(__name__)
SOURCE = "syslog"
QUEUE_SIZE = 100_000
POLL_INTERVAL_S = 0.2
DROPPED = Counter("aiops_worker_syslog_dropped_total", "UDP syslog messages dropped: queue full")
_SEVERITIES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
# `<PRI>` not followed by an RFC 5424 version or an RFC 3164 timestamp.
_BARE_PRI = re.compile(r"^<(\d{1,3})>(?!1 )(?![A-Z][a-z]{2} [ \d]\d )")
_MAX_LENGTH_DIGITS = 10


class FramingError(ValueError):
    """The TCP byte stream is not syslog framing we understand (the connection is closed)."""


class SyslogFramer:
    """Splits a TCP byte stream into messages."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self.buffer += data
        messages: list[bytes] = []
        while self.buffer:
            message = self._octet_counted() if self.buffer[:1].isdigit() else self._trailer_terminated()
            if message is None:
                break
            if message.strip(b" \r\n\0"):
                messages.append(message)
        return messages

    def _octet_counted(self) -> bytes | None:
        space = self.buffer.find(b" ", 0, _MAX_LENGTH_DIGITS + 1)
        if space < 0:
            if len(self.buffer) > _MAX_LENGTH_DIGITS:
                raise FramingError("octet count without a space")
            return None
        if not self.buffer[:space].isdigit():  # int() would also take "1_0", " 1" or "1\n"
            raise FramingError("octet count is not a number")
        length = int(self.buffer[:space])
        if length > self.max_bytes:
            raise FramingError(f"frame of {length} bytes, at most {self.max_bytes}")
        end = space + 1 + length
        if len(self.buffer) < end:
            return None
        message = bytes(self.buffer[space + 1:end])
        del self.buffer[:end]
        return message

    def _trailer_terminated(self) -> bytes | None:
        ends = [i for i in (self.buffer.find(b"\n"), self.buffer.find(b"\0")) if i >= 0]
        if not ends:
            if len(self.buffer) > self.max_bytes:
                raise FramingError(f"message longer than {self.max_bytes} bytes without a trailer")
            return None
        end = min(ends)
        message = bytes(self.buffer[:end])
        del self.buffer[:end + 1]
        return message


def to_records(raw: bytes, transport: str, peer: str) -> list[LogRecord]:
    """One message's records: one, or its pieces in order when it is longer than a log line."""
    text = without_nul(raw.decode("utf-8", errors="replace").strip("\r\n\0").replace("\ufeff", ""))
    labels = {"transport": transport, "peer": peer}
    bare = _BARE_PRI.match(text)
    if bare:
        labels["level"] = _SEVERITIES[int(bare.group(1)) % 8]
        text = text[bare.end():]
    return log_records(text, labels=labels)


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, queue: asyncio.Queue[list[LogRecord]]) -> None:
        self.queue = queue

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        try:
            self.queue.put_nowait(to_records(data, "udp", str(addr[0])))
        except asyncio.QueueFull:
            DROPPED.inc()


class SyslogProducer(Producer[SyslogSettings]):
    name = "syslog"
    stream = LOGS_INGESTED
    settings_model = SyslogSettings
    interval_s = POLL_INTERVAL_S

    def __init__(self, ctx: WorkerContext, settings: SyslogSettings | None = None) -> None:
        super().__init__(ctx, settings)
        self.queue: asyncio.Queue[list[LogRecord]] = asyncio.Queue(QUEUE_SIZE)  # each message's records
        self.ports: dict[str, int] = {}  # bound ports (port 0 in settings means off; tests bind real ones)
        self._connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}  # open TCP connections, by handler

    @classmethod
    def enabled(cls, settings: SyslogSettings) -> bool:
        return bool(settings.syslog_udp_port or settings.syslog_tcp_port)

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        host, udp_port, tcp_port = self.settings.syslog_host, self.settings.syslog_udp_port, self.settings.syslog_tcp_port
        transport = server = None
        try:
            if udp_port:
                transport, _ = await loop.create_datagram_endpoint(lambda: _UdpProtocol(self.queue),
                                                                   local_addr=(host, udp_port))
                self.ports["udp"] = transport.get_extra_info("sockname")[1]
            if tcp_port:
                server = await asyncio.start_server(self._connection, host, tcp_port)
                self.ports["tcp"] = server.sockets[0].getsockname()[1]
            log.info("syslog listening", extra={"host": host, **self.ports})
            await super().run(stop)
        finally:
            if transport is not None:
                transport.close()
            if server is not None:
                server.close()
            for writer in self._connections.values():
                writer.close()  # its handler still gets the bytes already read, then the end of the stream
        await self._publish_the_rest()

    async def _publish_the_rest(self) -> None:
        """After stop: publish what is queued and what the closing connections still queue (a handler
        waiting for room in a full queue ends only once the queue is drained, hence the loop)."""
        while self._connections:
            await asyncio.wait(list(self._connections), timeout=POLL_INTERVAL_S)
            await self.drain()
        await self.drain()

    async def poll(self) -> list[Envelope]:
        records: list[LogRecord] = []
        while not self.queue.empty() and len(records) < QUEUE_SIZE:
            records += self.queue.get_nowait()
        size = self.settings.logs_envelope_max_records
        return [Envelope(type=LOGS_RECEIVED, source=SOURCE,
                         payload=LogsPayload(records=records[i:i + size]).model_dump(mode="json"))
                for i in range(0, len(records), size)]

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = str(writer.get_extra_info("peername")[0])
        framer = SyslogFramer(self.settings.syslog_max_message_bytes)
        handler = asyncio.current_task()
        assert handler is not None  # start_server runs each connection's callback as a task
        self._connections[handler] = writer
        try:
            while data := await reader.read(65_536):
                for message in framer.feed(data):
                    await self.queue.put(to_records(message, "tcp", peer))
        except FramingError as exc:
            log.warning("syslog connection closed: bad framing", extra={"peer": peer, "error": str(exc)})
        except ConnectionError:
            pass  # the sender went away; what it sent completely is queued
        finally:
            del self._connections[handler]
            writer.close()
