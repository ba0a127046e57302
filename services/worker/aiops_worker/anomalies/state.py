"""Detector state that survives restarts and stays bounded in memory.

Up to `max_series` detectors live in memory (least recently updated first out); every other series'
state sits in one Redis hash and is loaded back when its series shows up again. Dirty detectors are
written back by `flush()`, which the anomaly task calls periodically and at shutdown, and on eviction (the
task loads, and so evicts, only once its earlier effects are sent). Each save also stamps the time in the
sorted set `<key>:saved`; `prune()`, one step of a walk over the hash per call, drops the state of series
not saved for `max_age_s` (pods and containers come and go: the hash would grow forever), and stamps
state saved by a release that kept no times with the current time.
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
# Series one prune() step looks at (HSCAN's COUNT): a few milliseconds of Redis, a million series in ~1,000 steps.
_PRUNE_COUNT = 1_000
# One prune step, atomic (a series saved meanwhile is never dropped): KEYS = state hash, saved-times set;
# ARGV = HSCAN cursor, count, oldest saved time kept, now. Returns the next cursor and how many were dropped.
_PRUNE_LUA = """
local scan = redis.call('HSCAN', KEYS[1], ARGV[1], 'COUNT', ARGV[2])
local stale = {}
for i = 1, #scan[2], 2 do
    local sid = scan[2][i]
    local saved = redis.call('ZSCORE', KEYS[2], sid)
    if not saved then
        redis.call('ZADD', KEYS[2], ARGV[4], sid)
    elseif tonumber(saved) < tonumber(ARGV[3]) then
        stale[#stale + 1] = sid
    end
end
for i = 1, #stale, 500 do
    local part = {unpack(stale, i, math.min(i + 499, #stale))}
    redis.call('HDEL', KEYS[1], unpack(part))
    redis.call('ZREM', KEYS[2], unpack(part))
end
return {scan[1], #stale}
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
        self._prune_cursor: bytes | int = 0

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
        """One step of the walk over the saved state: drops series not saved for `max_age_s`; returns how many."""
        now = time.time()
        self._prune_cursor, dropped = await self._prune_step(
            keys=[self.key, self.saved_key], args=[self._prune_cursor, _PRUNE_COUNT, now - self.max_age_s, now])
        return int(dropped)

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
