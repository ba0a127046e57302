"""Detector state in Redis: saved and restored without pickle; blobs it cannot read are discarded."""

import logging
import pickle
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from redis.asyncio import Redis

from aiops_worker.anomalies import codec
from aiops_worker.anomalies.detectors import DetectorConfig
from aiops_worker.anomalies.state import DetectorCache

STEP = 300.0
T0 = 1_700_000_000.0
KEY = "aiops-test:anomalies:detectors"  # the task passes settings.redis_key(ANOMALY_DETECTORS_KEY)
DAY_S = 86_400.0


def series(n: int) -> np.ndarray:
    values = 50 + 10 * np.sin(2 * np.pi * np.arange(n) / 288) + np.random.default_rng(5).normal(0, 1, n)
    values[1000] += 40
    return values


def feed(cache: DetectorCache, sid: str, values: np.ndarray, start: int, end: int) -> list:
    return [cache.update(sid, T0 + STEP * i, float(values[i])) for i in range(start, end)]


class TouchOnUnpickle:
    """What an attacker with write access to Redis would plant: unpickling it creates a file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return Path.touch, (self.marker,)


async def test_saved_state_restores_a_detector_that_scores_identically(redis: Redis) -> None:
    values = series(1100)
    first = DetectorCache(redis, DetectorConfig(), max_series=10, key=KEY, max_age_s=DAY_S)
    await first.load(["s"])
    feed(first, "s", values, 0, 900)
    assert await first.flush() == 1

    restarted = DetectorCache(redis, DetectorConfig(), max_series=10, key=KEY, max_age_s=DAY_S)
    await restarted.load(["s"])
    assert restarted.update("s", T0 + STEP * 899, 0.0) is None  # the last time seen came back too
    before, after = feed(first, "s", values, 900, 1100), feed(restarted, "s", values, 900, 1100)
    assert [r.score for r in after] == [r.score for r in before]
    assert [r.evidence for r in after] == [r.evidence for r in before]
    assert any(r.alert_transition == "opened" for r in after)


@pytest.mark.parametrize("compressed", [True, False], ids=["zlib-pickle", "pickle"])
async def test_a_planted_pickle_is_never_executed_and_the_series_relearns(
        redis: Redis, tmp_path: Path, caplog: pytest.LogCaptureFixture, compressed: bool) -> None:
    marker = tmp_path / "owned"
    payload = pickle.dumps({"detector": TouchOnUnpickle(marker), "last_ts": 0.0})
    await redis.hset(KEY, "s", zlib.compress(payload) if compressed else payload)
    cache = DetectorCache(redis, DetectorConfig(), max_series=10, key=KEY, max_age_s=DAY_S)

    with caplog.at_level(logging.WARNING, logger="aiops_worker.anomalies.state"):
        await cache.load(["s"])

    assert not marker.exists()
    assert [r.message for r in caplog.records] == ["detector state unreadable, starting afresh"]
    assert cache.update("s", T0, 1.0).evidence == {"warming_up": True}  # a fresh detector
    await cache.flush()
    assert (await redis.hget(KEY, "s")).startswith(codec.MAGIC)  # replaced on save


async def test_state_not_saved_within_the_max_age_is_pruned_and_state_saved_without_a_time_gets_one(
        redis: Redis) -> None:
    cache = DetectorCache(redis, DetectorConfig(), max_series=10, key=KEY, max_age_s=DAY_S)
    await cache.load(["gone", "live"])
    feed(cache, "gone", series(1100), 0, 5)
    feed(cache, "live", series(1100), 0, 5)
    await cache.flush()
    await redis.zadd(f"{KEY}:saved", {"gone": time.time() - 2 * DAY_S})  # as if last saved two days ago
    await redis.hset(KEY, "older", valid_blob())  # saved by a release that kept no times

    assert await cache.prune() == 1  # a hash this small is walked in one step

    assert sorted(await redis.hkeys(KEY)) == [b"live", b"older"]
    saved = dict(await redis.zrange(f"{KEY}:saved", 0, -1, withscores=True))
    assert sorted(saved) == [b"live", b"older"] and saved[b"older"] >= saved[b"live"]  # its age starts now


async def test_a_prune_step_drops_the_series_saved_longest_ago_however_many_live_ones_there_are(
        redis: Redis) -> None:
    """2,000 live series and 600 gone: a step drops 500 gone ones (found by saved time, not by a walk over the
    hash and its values), the next the other 100, and the live ones stay."""
    cache = DetectorCache(redis, DetectorConfig(), max_series=10, key=KEY, max_age_s=DAY_S)
    live, gone = [f"live{i}" for i in range(2_000)], [f"gone{i}" for i in range(600)]
    await redis.hset(KEY, mapping=dict.fromkeys(live + gone, valid_blob()))
    await redis.zadd(f"{KEY}:saved", dict.fromkeys(live, time.time()) | dict.fromkeys(gone, time.time() - 2 * DAY_S))

    assert [await cache.prune() for _ in range(3)] == [500, 100, 0]

    assert await redis.hlen(KEY) == await redis.zcard(f"{KEY}:saved") == 2_000
    assert not await redis.hexists(KEY, "gone0") and await redis.hexists(KEY, "live0")


def valid_blob() -> bytes:
    return codec.encode({"a": np.arange(4, dtype=np.int64), "b": [np.zeros((2, 3)), {"c": -np.inf}]})


def reframed(header: bytes, body: bytes = b"") -> bytes:
    return codec.MAGIC + zlib.compress(len(header).to_bytes(4, "big") + header + body)


@pytest.mark.parametrize("blob", [
    b"",
    codec.MAGIC,
    codec.MAGIC + b"not zlib",
    valid_blob()[:-3],  # truncated
    reframed(b'{"doc": {"a": {"$array": 0}}, "arrays": [["|O", [1]]]}', b"\0" * 8),  # object dtype
    reframed(b'{"doc": {"a": {"$array": 0}}, "arrays": [["<f8", [4]]]}', b"\0" * 8),  # short data
    reframed(b'{"doc": {"a": {"$array": 0}}, "arrays": [["<f8", [-1]]]}'),  # negative shape
    reframed(b'{"doc": {"a": {"$array": 3}}, "arrays": []}'),  # no such array
    reframed(b'{"doc": [1], "arrays": []}'),  # not an object
    reframed(b"[" * 100_000),  # nesting deeper than the parser's recursion limit
    codec.MAGIC + zlib.compress(b"\0" * (80 << 20)),  # decompression bomb
], ids=["empty", "magic-only", "not-zlib", "truncated", "object-dtype", "short-data", "negative-shape",
        "bad-index", "not-object", "deep-nesting", "bomb"])
def test_malformed_blobs_are_refused(blob: bytes) -> None:
    with pytest.raises(codec.UnreadableState):
        codec.decode(blob)


def test_codec_round_trips_arrays_and_non_finite_numbers_exactly() -> None:
    doc = codec.decode(valid_blob())
    assert doc["a"].dtype == np.int64 and doc["a"].tolist() == [0, 1, 2, 3]
    assert doc["b"][0].shape == (2, 3) and doc["b"][1] == {"c": -np.inf}
    doc["a"] += 1  # restored arrays are writable copies
