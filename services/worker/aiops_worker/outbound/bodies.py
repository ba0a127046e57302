"""Reading answers of outbound requests (pollers, webhook actions, AWX/Terraform/ServiceNow) without reading
them whole: a server may send any amount, and a body read before it is cut is held whole in memory. Bodies
are read as decoded chunks (gzip ...), whichever client gives them (aiohttp's `iter_chunked`, httpx's
`aiter_bytes`), and reading stops as soon as the limit is passed; the caller then closes the connection
unread."""

from collections.abc import AsyncIterator


class BodyTooLarge(Exception):
    """An answer over the bytes its reader takes: `content_length` when it said so up front."""

    def __init__(self, limit: int, content_length: int | None = None) -> None:
        self.limit, self.content_length = limit, content_length
        declared = f" (Content-Length {content_length})" if content_length is not None else ""
        super().__init__(f"the answer is over {limit} bytes{declared}")


async def read_at_most(chunks: AsyncIterator[bytes], limit: int) -> tuple[bytes, bool]:
    """The first `limit` bytes of a body, and whether it had more (read no further than the chunk that
    passed the limit)."""
    parts, size = list[bytes](), 0
    try:
        async for chunk in chunks:
            if size + len(chunk) > limit:
                parts.append(chunk[:limit - size])
                return b"".join(parts), True
            parts.append(chunk)
            size += len(chunk)
    finally:
        aclose = getattr(chunks, "aclose", None)  # an async generator (httpx) stops now, not when collected
        if aclose is not None:
            await aclose()
    return b"".join(parts), False


async def read_within(chunks: AsyncIterator[bytes], limit: int, content_length: int | None = None) -> bytes:
    """The whole body if it is at most `limit` bytes, else BodyTooLarge: refused from its Content-Length
    before any of it is read, or as soon as it passes the limit."""
    if content_length is not None and content_length > limit:
        raise BodyTooLarge(limit, content_length)
    body, more = await read_at_most(chunks, limit)
    if more:
        raise BodyTooLarge(limit)
    return body


def cut_note(limit: int) -> str:
    """What follows an output cut at `limit` bytes, so nobody takes it for the whole answer."""
    return f"\n[cut: the answer is over {limit} bytes; only its first {limit} were read]"
