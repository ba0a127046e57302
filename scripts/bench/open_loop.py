"""Open-loop HTTP load that costs the benchmark little: every request is encoded to bytes before the clock starts,
then written on keep-alive HTTP/1.1 connections over plain asyncio streams.

The load generator shares the machine's cores with what it measures, so its CPU is taken from the system under
test: httpx spent ~10 ms of CPU per 50-alert request (0.21 ms an event, as much as PostgreSQL's share). Here a
request is one write and a response one read of its head and body.
"""

import asyncio
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

EXCHANGE_TIMEOUT_S = 30.0


def encode_post(url: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
    """The bytes of a POST of `body` to `path` on the server of `url`, keeping the connection open."""
    lines = [f"POST {path} HTTP/1.1", f"Host: {urlsplit(url).netloc}", f"Content-Length: {len(body)}",
             *(f"{name}: {value}" for name, value in headers.items())]
    return "\r\n".join(lines).encode("latin-1") + b"\r\n\r\n" + body


class Connection:
    """One keep-alive connection: a request written, then its response read whole."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        """(status, body) of the response to `request`; the server must say its body's length (no chunks)."""
        self.writer.write(request)
        status_line, *header_lines = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        headers = {name.strip().lower(): value.strip() for name, _, value in
                   (line.partition(":") for line in header_lines if line)}
        body = await self.reader.readexactly(int(headers["content-length"]))
        return int(status_line.split(" ", 2)[1]), body

    def close(self) -> None:
        self.writer.close()


class Pool:
    """`size` connections to one server, opened before the timed phase; a request waits for a free one."""

    def __init__(self, connections: list[Connection]) -> None:
        self.connections = connections
        self.idle: asyncio.Queue[Connection] = asyncio.Queue()
        for connection in connections:
            self.idle.put_nowait(connection)

    @classmethod
    async def open(cls, url: str, size: int) -> "Pool":
        parts = urlsplit(url)
        return cls([Connection(*await asyncio.open_connection(parts.hostname, parts.port)) for _ in range(size)])

    def close(self) -> None:
        for connection in self.connections:
            connection.close()


@dataclass
class Offered:
    """When each request was due (wall clock, what latency is measured from), and how late the generator was."""

    due: list[float]
    worst_late_s: float  # the latest a request got on the wire after it was due (a free connection waited for included)


async def offer(pools: list[Pool], requests: list[bytes], interval_s: float) -> Offered:
    """Sends request n when it is due, `n * interval_s` after the start, on pools[n % len(pools)] (round robin, as a
    load balancer would), whether or not the answers before it came: an open loop. Raises on an answer not 2xx."""
    began_wall, began = time.time(), time.perf_counter()
    worst_late_s = 0.0

    async def send(n: int) -> None:
        nonlocal worst_late_s
        idle = pools[n % len(pools)].idle
        connection = await idle.get()
        worst_late_s = max(worst_late_s, time.perf_counter() - began - n * interval_s)
        async with asyncio.timeout(EXCHANGE_TIMEOUT_S):
            status, body = await connection.exchange(requests[n])  # a failed exchange ends the run
        idle.put_nowait(connection)
        if not 200 <= status < 300:
            raise RuntimeError(f"request {n} answered {status}: {body[:500]!r}")

    tasks = []
    for n in range(len(requests)):
        delay = began + n * interval_s - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send(n)))
    await asyncio.gather(*tasks)
    return Offered([began_wall + n * interval_s for n in range(len(requests))], worst_late_s)
