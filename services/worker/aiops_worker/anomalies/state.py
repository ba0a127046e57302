"""Detector state that survives restarts and stays bounded in memory.

Up to `max_series` detectors live in memory (least recently updated first out); every other series'
state sits in one Redis hash and is loaded back when its series shows up again. Dirty detectors are
written back by `flush()`, which the anomaly task calls periodically and at shutdown, and on eviction (the
task loads, and so evicts, only once its earlier effects are sent). Each save also stamps the time in the
sorted set `<key>:saved`; `prune()`, a bounded step per call, drops the state of the series saved longest
ago, once not saved for `max_age_s` (pods and containers come and go: the hash would grow forever), and
stamps state saved by a release that kept no times with the current time.
Values are encoded by `codec` (JSON and raw numpy arrays, never pickle): whoever can write to Redis can
at worst make a detector relearn, not run code in the worker.
"""

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from redis.asyncio import Redis

from aiops_worker.anomalies import codec
from aiops_worker.anomalies.detectors import DetectionResult, DetectorConfig, SeriesDetector

log = logging.getLogger(__name__)

# HSET/HMGET chunk size: bounded round-trip payloads for thousands of series.
_CHUNK = 200
# Stale series one prune() step drops at most, found on the saved-times set: no state value is read (of 1,000
# series of 28 KB, a step took Redis ~1.3 ms dropping 500, 0.05 ms dropping none; an HSCAN in Lua, ~300 ms).
_PRUNE_COUNT = 500
# One prune step, atomic (a series saved meanwhile is never dropped): KEYS = state hash, saved-times set;
# ARGV = oldest saved time kept, count. Returns how many were dropped.
_PRUNE_LUA = """
local stale = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[1], 'LIMIT', 0, ARGV[2])
if #stale > 0 then
    redis.call('HDEL', KEYS[1], unpack(stale))
    redis.call('ZREM', KEYS[2], unpack(stale))
end
return #stale
"""


@dataclass
class _Entry:
    detector: SeriesDetector
    last_ts: float  # points at or before this time were already seen: re-deliveries are skipped
    dirty: bool = False


class DetectorCache:
    def __init__(self, redis: Redis, config: DetectorConfig, max_series: int, *, key: str, max_age_s: float) -> None:
        self.redis = redis
        self.key = key  # the hash, settings.redis_key(ANOMALY_DETECTORS_KEY)
        self.saved_key = f"{key}:saved"
        self.config = config
        self.max_series = max_series
        self.max_age_s = max_age_s
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._prune_step = redis.register_script(_PRUNE_LUA)

    def __len__(self) -> int:
        return len(self._entries)

    async def load(self, series_ids: Iterable[str]) -> None:
        """Make the given series resident: restore saved state, or start fresh detectors."""
        wanted = list(dict.fromkeys(series_ids))
        missing = [sid for sid in wanted if sid not in self._entries]
        for start in range(0, len(missing), _CHUNK):
            chunk = missing[start:start + _CHUNK]
            blobs = await self.redis.hmget(self.key, chunk)
            for sid, blob in zip(chunk, blobs):
                self._entries[sid] = self._restore(sid, blob) if blob else self._fresh()
        await self._evict(keep=set(wanted))

    def update(self, series_id: str, ts: float, value: float) -> DetectionResult | None:
        """Feed one point of a loaded series; None when the point is not newer than the last one seen."""
        entry = self._entries[series_id]
        self._entries.move_to_end(series_id)
        if ts <= entry.last_ts:
            return None
        entry.last_ts = ts
        entry.dirty = True
        return entry.detector.update(ts, value)

    async def flush(self, only: Iterable[str] | None = None) -> int:
        """Write every changed detector (or only those of `only`) to Redis; returns how many were written."""
        chosen = self._entries.items() if only is None else ((sid, self._entries[sid]) for sid in only)
        dirty = [(sid, e) for sid, e in chosen if e.dirty]
        await self._save(dirty)
        return len(dirty)

    async def prune(self) -> int:
        """One step: drops the state of up to _PRUNE_COUNT series not saved for `max_age_s`; returns how many."""
        if await self.redis.hlen(self.key) > await self.redis.zcard(self.saved_key):
            await self._stamp_unstamped()
        dropped = await self._prune_step(keys=[self.key, self.saved_key],
                                         args=[time.time() - self.max_age_s, _PRUNE_COUNT])
        return int(dropped)

    async def _stamp_unstamped(self) -> None:
        """Give state saved by a release that kept no times (the hash holds more series than the set) the current
        time: once, after the upgrade. HKEYS reads the names only (HSCAN would read every value too)."""
        names: list[bytes] = await self.redis.hkeys(self.key)
        for start in range(0, len(names), _CHUNK):
            await self.redis.zadd(self.saved_key, dict.fromkeys(names[start:start + _CHUNK], time.time()), nx=True)

    async def _evict(self, keep: set[str]) -> None:
        excess = len(self._entries) - self.max_series
        if excess <= 0:
            return
        victims = [(sid, e) for sid, e in self._entries.items() if sid not in keep][:excess]
        await self._save([(sid, e) for sid, e in victims if e.dirty])
        for sid, _ in victims:
            del self._entries[sid]

    async def _save(self, entries: list[tuple[str, _Entry]]) -> None:
        for start in range(0, len(entries), _CHUNK):
            chunk = entries[start:start + _CHUNK]
            blobs = await asyncio.to_thread(lambda chunk=chunk: {sid: _dump(e) for sid, e in chunk})  # CPU: off the loop
            async with self.redis.pipeline() as pipe:  # MULTI: no state without its time
                pipe.hset(self.key, mapping=blobs).zadd(self.saved_key, dict.fromkeys(blobs, time.time()))
                await pipe.execute()
            for _, entry in chunk:
                entry.dirty = False

    def _restore(self, series_id: str, blob: bytes) -> _Entry:
        try:
            saved = codec.decode(blob)
            return _Entry(SeriesDetector.from_state(saved["detector"], self.config), float(saved["last_ts"]))
        except (codec.UnreadableState, KeyError, TypeError, ValueError, IndexError) as exc:
            # An older format (pickled before), another detector version or a forged value: relearn the
            # baseline rather than stall the stream.
            log.warning("detector state unreadable, starting afresh",
                        extra={"series": series_id, "reason": type(exc).__name__})
            return self._fresh()

    def _fresh(self) -> _Entry:
        return _Entry(SeriesDetector(self.config), float("-inf"))


def _dump(entry: _Entry) -> bytes:
    return codec.encode({"detector": entry.detector.to_state(), "last_ts": entry.last_ts})
