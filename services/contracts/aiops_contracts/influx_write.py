"""InfluxDB's `/write` over HTTP/1.1 connections kept alive, sent by hand: the metrics writer's one request, a few
MB of line protocol at a time. httpx spent ~1.8 ms of CPU on each (its request and response models, h11, anyio),
about as much as the rest of the writer spends on 2,000 lines; this sends a head and the body as they are and reads
the answer's status and body, nothing else. Everything but `/write` goes through httpx (InfluxClient).

It keeps httpx's guarantees for this request: the same timeout for connecting, sending and each read of the answer;
TLS verified as httpx verifies it (its default context: certifi, SSL_CERT_FILE/SSL_CERT_DIR) where the URL is https;
the client's headers (the token); an answer with a Content-Length, chunked, or ended by the connection closing. A
connection goes back to the pool only after a whole answer on a connection the server keeps; one InfluxDB closed
while idle is dropped, and a write that fails on a reused connection (but by a timeout) is sent again once on a new
one (a write is idempotent: InfluxDB overwrites points of the same series and time). What would break the head (a
control character from a setting) is refused, as httpx refuses it, instead of sent."""

import asyncio
import re
import ssl
from collections.abc import Mapping
from urllib.parse import SplitResult, urlsplit
from urllib.request import getproxies, proxy_bypass

import httpx

# A stream read and write; a connection to InfluxDB.
Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]
DEFAULT_PORTS = {"http": 80, "https": 443}
# What breaks a request head: C0 controls and DEL in a header (CR or LF end its line, and may end the head before
# Content-Length: InfluxDB answers an empty write with 204 and reads the body as a next request), and a space too in
# the request target (it ends the target).
_HEADER_BREAKERS = re.compile(r"[\x00-\x1f\x7f]")
_TARGET_BREAKERS = re.compile(r"[\x00-\x20\x7f]")


def check_head_text(what: str, text: str, *, target: bool = False) -> str:
    """`text`, refused with a ValueError naming `what` (never the text: it may be a secret) where it would break a
    request head: as a header value (`target`: as the request target)."""
    if (_TARGET_BREAKERS if target else _HEADER_BREAKERS).search(text):
        also = " or space" if target else ""
        raise ValueError(f"{what} holds a control character{also} (CR, LF, NUL, ...), which would break the HTTP "
                         "requests to InfluxDB")
    return text


class HttpFailure(Exception):
    """The request got no whole answer: InfluxDB unreachable, the connection lost, a timeout, an answer not HTTP."""


def sent_by_hand(url: str) -> bool:
    """Whether /write to `url` may go by hand, as httpx would send it: http(s) to a host, no credentials in the URL
    (httpx sends them as Basic auth) and no proxy from the environment (httpx goes through it)."""
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or parts.username is not None:
        return False
    proxies = getproxies()
    return not (proxies.get(parts.scheme) or proxies.get("all")) or bool(proxy_bypass(parts.hostname))


class WritePool:
    """POSTs bodies to `<url>/write` on kept-alive connections, one request per connection at a time."""

    def __init__(self, url: str, headers: Mapping[str, str], timeout_s: float) -> None:
        parts: SplitResult = urlsplit(url)
        self._host, self._port = parts.hostname or "", parts.port or DEFAULT_PORTS[parts.scheme]
        self._ssl: ssl.SSLContext | None = httpx.create_ssl_context() if parts.scheme == "https" else None
        self._timeout_s = timeout_s
        self._path = check_head_text("INFLUX_URL's path", parts.path.rstrip("/") + "/write", target=True)
        host = parts.netloc.rpartition("@")[2]
        self._headers = "".join(f"{name}: {check_head_text(f'header {name}', value)}\r\n"
                                for name, value in {"Host": host, **headers}.items())
        self._idle: list[Connection] = []

    async def post(self, query: str, body: bytes) -> tuple[int, bytes]:
        """POST `body` to /write?`query`: the answer's status and body; raises HttpFailure (ValueError for a query
        that would break the request line)."""
        target = check_head_text("the request target", f"{self._path}?{query}", target=True)
        head = f"POST {target} HTTP/1.1\r\n{self._headers}Content-Length: {len(body)}\r\n\r\n".encode()
        while self._idle:
            connection = self._idle.pop()
            if not connection[0].at_eof() and not connection[1].is_closing():
                try:
                    return await self._exchange(connection, head, body)
                except HttpFailure as exc:  # closed by InfluxDB as it went: once more on a new connection
                    if isinstance(exc.__cause__, TimeoutError):  # (not when InfluxDB is just slow)
                        raise
                    break
            connection[1].close()
        return await self._exchange(await self._connect(), head, body)

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for _, writer in idle:
            writer.close()

    async def _connect(self) -> Connection:
        try:
            async with asyncio.timeout(self._timeout_s):
                return await asyncio.open_connection(self._host, self._port, ssl=self._ssl)
        except (OSError, TimeoutError) as exc:
            raise HttpFailure(f"cannot connect to {self._host}:{self._port}: {exc!r}") from exc

    async def _exchange(self, connection: Connection, head: bytes, body: bytes) -> tuple[int, bytes]:
        reader, writer = connection
        kept = False
        try:
            writer.write(head)
            writer.write(body)  # (not joined with the head: a copy of the whole body)
            async with asyncio.timeout(self._timeout_s):
                await writer.drain()
            status, answer, kept = await self._answer(reader)
            return status, answer
        except (OSError, TimeoutError, EOFError, ValueError, asyncio.LimitOverrunError) as exc:  # (EOFError: the
            # answer cut short; ValueError: not HTTP; LimitOverrunError: a head past 64 KiB)
            raise HttpFailure(f"no answer from {self._host}:{self._port}: {exc!r}") from exc
        finally:
            if kept:
                self._idle.append(connection)
            else:
                writer.close()

    async def _answer(self, reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
        """The answer's status, its body, and whether the connection may carry another request."""
        async with asyncio.timeout(self._timeout_s):
            status, headers = await _head(reader)
        async with asyncio.timeout(self._timeout_s):  # (httpx: the timeout holds for each read; here for the body)
            if "chunked" in headers.get("transfer-encoding", ""):
                return status, await _chunked(reader), headers.get("connection") != "close"
            if "content-length" in headers:
                body = await reader.readexactly(int(headers["content-length"]))
                return status, body, headers.get("connection") != "close"
            if status in (204, 304):
                return status, b"", headers.get("connection") != "close"
            return status, await reader.read(), False  # the body ends where the connection does


async def _head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    """The status and headers (lower-case) of an answer, past any interim (1xx) one; HTTP/1.0 closes after."""
    while True:
        status_line, *lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        version, _, rest = status_line.partition(" ")
        status = rest[:3]
        if not version.startswith("HTTP/1.") or not status.isdigit():
            raise ValueError(f"not an HTTP/1.x answer: {status_line[:100]!r}")
        if not status.startswith("1"):
            break
    headers = {name.strip().lower(): value.strip().lower() for name, _, value in (line.partition(":") for line in lines)
               if name}
    if version == "HTTP/1.0" and headers.get("connection") != "keep-alive":
        headers["connection"] = "close"
    return int(status), headers


async def _chunked(reader: asyncio.StreamReader) -> bytes:
    parts = []
    while size := int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16):
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)  # the chunk's CRLF
    while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers, then the empty line
        pass
    return b"".join(parts)
