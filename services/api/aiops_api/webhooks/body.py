"""Raw request bodies of push clients: read as bytes (Telegraf sends JSON as text/plain, Sentry sends
envelopes), decompressed per Content-Encoding with the same size cap as the compressed body, so a
small gzip bomb gets 413 instead of filling memory."""

import zlib
from typing import Any

import brotli
import orjson
from fastapi import Request

from aiops_api.errors import BadRequest, PayloadTooLarge
from aiops_contracts.envelope import MAX_NESTING, nests_within

ENCODINGS = ("identity", "gzip", "x-gzip", "deflate", "br")
GZIP_MAX_MEMBERS = 1_000  # each costs a little CPU however small: 5 MiB of empty 20-byte members would be 262,144
_GZIP = zlib.MAX_WBITS | 16
_WINDOW = 64 * 1024  # input given to zlib at a time: what a member leaves over is copied, not the whole rest
# The one depth rule of JSON webhook bodies (json_document), so that what a webhook accepts its stream entry can
# carry (MAX_NESTING levels, what orjson writes). Every webhook puts what it takes from its body at most one level
# deeper in the entry than it was in the body: a generic alert object becomes the payload, under the envelope; a
# Sentry hook's event (data.event, level 3) becomes its alert's details.sample_event (level 4); log items are
# written alone, as text. A Sentry envelope's events go three levels down: sentry.py passes MAX_EVENT_NESTING.
MAX_BODY_NESTING = MAX_NESTING - 1


def documented_body(media_type: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """OpenAPI of a body the route reads itself (FastAPI declares none for it), for clients and fuzzers."""
    return {"requestBody": {"required": True, "content": {media_type: {"schema": schema or {"type": "string"}}}}}


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The request body, decompressed; the compressed size is capped by BodySizeLimitMiddleware."""
    encoding = request.headers.get("content-encoding", "identity").strip().lower() or "identity"
    return decompress(await request.body(), encoding, max_bytes)


def json_document(body: bytes, what: str = "body", levels: int = MAX_BODY_NESTING) -> Any:
    """The JSON value of `body`; 400 when it is not JSON, or nests deeper than `levels` levels of objects and arrays
    (orjson parses up to 1,024, but a stream entry holds MAX_NESTING)."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if "depth limit" in str(exc):
            raise BadRequest(nested_too_deep(what, levels)) from None
        raise BadRequest(f"{what}: invalid JSON ({exc})") from exc
    if not nests_within(document, levels):
        raise BadRequest(nested_too_deep(what, levels))
    return document


def nested_too_deep(what: str, levels: int) -> str:
    return f"{what}: nested deeper than {levels} levels of objects and arrays, more than a stream entry holds; flatten it"


def json_member(body: bytes, member: str, why: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A JSON object body and its object `member`; 400 saying `why` the member is needed when it is missing."""
    document = json_document(body)
    value = document.get(member) if isinstance(document, dict) else None
    if not isinstance(value, dict):
        raise BadRequest(f"body.{member}: missing, {why}")
    return document, value


def decompress(raw: bytes, encoding: str, max_bytes: int) -> bytes:
    if encoding == "identity":
        return raw
    if encoding in ("gzip", "x-gzip"):
        return _inflate(raw, _GZIP, max_bytes)
    if encoding == "deflate":
        # RFC 9110 deflate is zlib-wrapped, but some clients send raw deflate: the first byte tells.
        wbits = zlib.MAX_WBITS if raw[:1] == b"\x78" else -zlib.MAX_WBITS
        return _inflate(raw, wbits, max_bytes)
    if encoding == "br":
        return _unbrotli(raw, max_bytes)
    raise BadRequest(f"content-encoding: {encoding!r} is not supported, use one of {', '.join(ENCODINGS)}")


def _inflate(raw: bytes, wbits: int, max_bytes: int) -> bytes:
    """The data decompressed, within max_bytes in all; for gzip, every member of it (RFC 1952 allows several, one
    after another: `gzip(a) + gzip(b)` is a + b)."""
    view, pos, out, size = memoryview(raw), 0, [], 0
    for _ in range(GZIP_MAX_MEMBERS):
        inflater = zlib.decompressobj(wbits)
        while not inflater.eof and pos < len(raw):
            window = view[pos:pos + _WINDOW]
            try:
                chunk = inflater.decompress(window, max_bytes + 1 - size)
            except zlib.error as exc:
                raise BadRequest(f"body: not valid {_name(wbits)} data ({exc})") from exc
            out.append(chunk)
            size += len(chunk)
            if size > max_bytes or inflater.unconsumed_tail:
                raise _too_large(max_bytes)
            pos += len(window) - len(inflater.unused_data)
        if not inflater.eof:
            raise BadRequest(f"body: truncated {_name(wbits)} data")
        if pos == len(raw) or wbits != _GZIP:  # (what follows a zlib or raw deflate stream is not read)
            return b"".join(out)
    raise BadRequest(f"body: more than {GZIP_MAX_MEMBERS} gzip members, send fewer")


def _unbrotli(raw: bytes, max_bytes: int) -> bytes:
    decompressor = brotli.Decompressor()
    try:
        out = decompressor.process(raw, output_buffer_limit=max_bytes + 1)
    except brotli.error as exc:
        raise BadRequest(f"body: not valid brotli data ({exc})") from exc
    if len(out) > max_bytes:
        raise _too_large(max_bytes)
    if not decompressor.is_finished():
        raise BadRequest("body: truncated brotli data")
    return out


def _name(wbits: int) -> str:
    return "gzip" if wbits > zlib.MAX_WBITS else "deflate"


def _too_large(max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"request body larger than {max_bytes} bytes once decompressed")
