"""Request bodies: every member of a gzip body is read (RFC 1952: `gzip(a) + gzip(b)` is a + b), within the same
decompressed size cap in all; a body of too many members, or truncated, is refused."""

import gzip
import zlib

import pytest

from aiops_api.errors import BadRequest, PayloadTooLarge
from aiops_api.webhooks.body import GZIP_MAX_MEMBERS, decompress
from aiops_contracts.bus import Bus
from aiops_contracts.envelope import Envelope
from aiops_contracts.streams import LOGS_INGESTED


def test_every_gzip_member_is_read_within_one_size_cap() -> None:
    first, second = b"first line\n" * 5000, b"second line\n"
    body = gzip.compress(first) + gzip.compress(b"") + gzip.compress(second)
    assert decompress(body, "gzip", len(first + second)) == first + second
    with pytest.raises(PayloadTooLarge, match="larger than"):
        decompress(body, "gzip", len(first + second) - 1)  # the cap holds for all the members together
    with pytest.raises(BadRequest, match="truncated gzip"):
        decompress(body[:-4], "gzip", 10**6)
    with pytest.raises(BadRequest, match=f"more than {GZIP_MAX_MEMBERS} gzip members"):
        decompress(gzip.compress(b"") * (GZIP_MAX_MEMBERS + 1), "gzip", 10**6)
    assert decompress(zlib.compress(first) + b"trailer", "deflate", 10**6) == first  # as before: not a gzip member


@pytest.fixture
async def token(make_source) -> str:
    return (await make_source("shipper", kind="logs")).token


async def test_a_body_of_two_gzip_members_is_taken_whole(bus: Bus, client, redis, token) -> None:
    """Only the first member was read: the rest was dropped without a word, and the sender got 202."""
    body = gzip.compress(b"disk full on sda1\n") + gzip.compress(b"disk full on sdb1\n")
    response = await client.post("/webhooks/logs", content=body,
                                 headers={"X-AIOps-Token": token, "Content-Encoding": "gzip"})
    assert response.status_code == 202, response.text
    payloads = [Envelope.from_entry(f).payload for _, f in await redis.xrange(bus.key(LOGS_INGESTED))]
    assert [r["message"] for p in payloads for r in p["records"]] == ["disk full on sda1", "disk full on sdb1"]
