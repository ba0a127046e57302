"""The anomaly task on real Redis and InfluxDB: synthetic series with injected anomalies, in drain mode."""

import asyncio
import uuid
from datetime import datetime

import numpy as np
import pytest

from aiops_contracts.bus import Bus
from aiops_contracts.envelope import Envelope
from aiops_contracts.events import METRICS_RECEIVED, MetricsPayload
from aiops_contracts.influx import ANOMALIES_MEASUREMENT, InfluxClient
from aiops_contracts.streams import ALERTS_INGESTED, ANOMALY_DETECTORS_KEY, METRICS_INGESTED
from aiops_worker.anomalies.series import SeriesRef
from aiops_worker.anomalies.task import AnomalyTask
from aiops_worker.runtime.consumer import StreamConsumer
from aiops_worker.runtime.context import WorkerContext

START_S = 1_700_000_000
STEP_S = 60
POINTS = 600
SPIKE_AT = 450
SHIFT_AT = 500
# Detectors need their warm-up (statistical baseline + tail reference) before they score.
WARMUP = 180


def _series(seed: int, kind: str) -> np.ndarray:
    """A daily-ish wave with bounded noise (never 3 sigma out), plus one injected anomaly."""
    rng = np.random.default_rng(seed)
    i = np.arange(POINTS)
    values = 50 + 5 * np.sin(2 * np.pi * i / 300) + rng.uniform(-1, 1, POINTS)
    if kind == "spike":
        values[SPIKE_AT] += 40
    elif kind == "shift":
        values[SHIFT_AT:] += 25
    return values


def _lines(host: str, measurement: str, field: str, values: np.ndarray, start: int, stop: int) -> str:
    head = f"{measurement},host={host},region=eu"
    return "\n".join(f"{head} {field}={float(values[i])!r} {(START_S + STEP_S * i) * 10**9}"
                     for i in range(start, stop))


async def _publish(bus: Bus, chunks: list[str]) -> list[Envelope]:
    envelopes = [Envelope(type=METRICS_RECEIVED, source="telegraf",
                          payload=MetricsPayload(lines=c, count=c.count("\n") + 1).model_dump()) for c in chunks]
    await bus.publish_many(METRICS_INGESTED, envelopes)
    return envelopes


async def _alerts(bus: Bus) -> list[Envelope]:
    return [Envelope.from_entry(fields) for _, fields in await bus.redis.xrange(bus.key(ALERTS_INGESTED))]


def _index(alert: Envelope) -> int:
    """The point index an alert's transition happened at."""
    return round((datetime.fromisoformat(alert.payload["occurred_at"]).timestamp() - START_S) / STEP_S)


@pytest.fixture
def host() -> str:
    return f"web-{uuid.uuid4().hex[:6]}"


async def test_injected_spike_and_shift_alert_once_each_and_clean_series_stays_quiet(
        worker_ctx: WorkerContext, influx_database: str, drain, host: str) -> None:
    spike, shift, clean = _series(1, "spike"), _series(2, "shift"), _series(3, "clean")
    chunks = ["\n".join((_lines(host, "app", "latency_ms", spike, s, s + 50),
                         _lines(host, "queue", "depth", shift, s, s + 50),
                         _lines(host, "cpu", "usage_user", clean, s, s + 50))) for s in range(0, POINTS, 50)]
    await _publish(worker_ctx.bus, chunks)

    await drain(AnomalyTask(worker_ctx))

    alerts = await _alerts(worker_ctx.bus)
    by_field: dict[str, list[Envelope]] = {}
    for alert in alerts:
        by_field.setdefault(alert.payload["labels"]["field"], []).append(alert)
    assert "usage_user" not in by_field  # the clean series never alerts
    opened = [a for a in by_field["latency_ms"] if a.payload["status"] == "firing"]
    assert len(opened) == 1 and 0 <= _index(opened[0]) - SPIKE_AT <= 1
    spike_alert = opened[0].payload
    assert (spike_alert["severity"], spike_alert["host"], spike_alert["signal"]) == ("high", host, "anomaly")
    assert spike_alert["details"]["baseline"] == pytest.approx(50, abs=6)
    assert spike_alert["details"]["deviation"] > 30 and "robust_z" in spike_alert["details"]["detectors"]
    resolved = [a for a in by_field["latency_ms"] if a.payload["status"] == "resolved"]
    assert len(resolved) == 1 and resolved[0].payload["fingerprint"] == spike_alert["fingerprint"]
    shift_opened = [a for a in by_field["depth"] if a.payload["status"] == "firing"]
    assert len(shift_opened) == 1 and 0 <= _index(shift_opened[0]) - SHIFT_AT <= 3
    assert all(a.source == "anomaly-detector" for a in alerts)


async def test_scores_worth_keeping_are_stored_in_influx(
        worker_ctx: WorkerContext, influx_database: str, drain, host: str) -> None:
    spike = _series(1, "spike")
    await _publish(worker_ctx.bus, [_lines(host, "app", "latency_ms", spike, 0, POINTS)])

    await drain(AnomalyTask(worker_ctx))

    rows = (await worker_ctx.influx.query(
        f'SELECT "score", "value", "transition" FROM "{ANOMALIES_MEASUREMENT}" WHERE "host" = $host',
        {"host": host}))[0].rows()
    assert all(r["score"] >= 0.5 or r["transition"] for r in rows)
    spike_row = next(r for r in rows if r["time"] == START_S + STEP_S * SPIKE_AT)
    assert spike_row["value"] == pytest.approx(spike[SPIKE_AT]) and spike_row["transition"] == "opened"
    assert all(r["time"] >= START_S + STEP_S * WARMUP for r in rows)  # nothing during warm-up


async def test_redelivered_batch_does_not_alert_twice(worker_ctx: WorkerContext, influx_database: str,
                                                      drain, host: str) -> None:
    spike = _series(1, "spike")
    chunk = _lines(host, "app", "latency_ms", spike, 0, POINTS)
    await _publish(worker_ctx.bus, [chunk])
    task = AnomalyTask(worker_ctx)
    await drain(task)
    first = await _alerts(worker_ctx.bus)

    await _publish(worker_ctx.bus, [chunk])  # the same metrics again (a retried Telegraf flush)
    await drain(task)
    await drain(AnomalyTask(worker_ctx))  # and after a restart from the saved state

    assert [a.id for a in await _alerts(worker_ctx.bus)] == [a.id for a in first]


async def test_restart_keeps_baselines_so_detection_continues_without_warmup(
        worker_ctx: WorkerContext, influx_database: str, drain, host: str) -> None:
    spike = _series(1, "spike")
    await _publish(worker_ctx.bus, [_lines(host, "app", "latency_ms", spike, 0, SPIKE_AT - 10)])
    await drain(AnomalyTask(worker_ctx))  # saves its detectors when it returns
    assert await _alerts(worker_ctx.bus) == []

    await _publish(worker_ctx.bus, [_lines(host, "app", "latency_ms", spike, SPIKE_AT - 10, POINTS)])
    await drain(AnomalyTask(worker_ctx))  # a fresh process: it must restore the baseline to see the spike

    opened = [a for a in await _alerts(worker_ctx.bus) if a.payload["status"] == "firing"]
    assert len(opened) == 1 and 0 <= _index(opened[0]) - SPIKE_AT <= 1


async def test_series_beyond_the_memory_cap_round_trip_through_redis(
        worker_ctx: WorkerContext, influx_database: str, drain, host: str) -> None:
    worker_ctx.settings.anomaly_max_series = 1
    worker_ctx.settings.stream_batch_size = 1  # one entry, one series per batch: each batch evicts the other
    spike = _series(1, "spike")
    chunks = [_lines(host, name, "latency_ms", spike, s, s + 50)
              for s in range(0, POINTS, 50) for name in ("app", "app2")]
    await _publish(worker_ctx.bus, chunks)
    task = AnomalyTask(worker_ctx)

    await drain(task)

    assert len(task.cache) == 1
    opened = [a for a in await _alerts(worker_ctx.bus) if a.payload["status"] == "firing"]
    assert sorted(a.payload["labels"]["measurement"] for a in opened) == ["app", "app2"]
    assert all(0 <= _index(a) - SPIKE_AT <= 1 for a in opened)


async def test_missing_database_is_created_and_points_beyond_retention_do_not_fail_the_entry(
        worker_ctx: WorkerContext, drain, host: str) -> None:
    settings = worker_ctx.settings.model_copy(update={"influx_database": f"aiops_test_new_{uuid.uuid4().hex[:8]}"})
    influx = InfluxClient(settings)
    ctx = WorkerContext(settings=settings, redis=worker_ctx.redis, sessions=worker_ctx.sessions, influx=influx)
    await _publish(ctx.bus, [_lines(host, "app", "latency_ms", _series(1, "spike"), 0, POINTS)])
    try:
        await drain(AnomalyTask(ctx))  # runs before the metrics writer made the database

        databases = (await influx.query("SHOW DATABASES"))[0].values
        assert [settings.influx_database] in databases
        # Its 90-day retention drops these 2023 points: a partial write, not a failure of the entry.
        assert (await ctx.redis.xpending(ctx.bus.key(METRICS_INGESTED), "anomaly-detector"))["pending"] == 0
        assert not await ctx.redis.exists(ctx.bus.dead_letter_key(METRICS_INGESTED))
        assert [a.payload["status"] for a in await _alerts(ctx.bus)] == ["firing", "resolved"]
    finally:
        await influx.query(f'DROP DATABASE "{settings.influx_database}"')
        await influx.aclose()


async def test_an_alert_transition_is_saved_before_the_ack(worker_ctx: WorkerContext, influx_database: str,
                                                           host: str) -> None:
    """A kill -9 right after the ack must not make the detector forget its open alert (it would never resolve)."""
    spike = _series(1, "spike")
    chunks = [_lines(host, "app", "latency_ms", spike, s, s + 50) for s in range(0, SPIKE_AT, 50)]
    await _publish(worker_ctx.bus, [*chunks, _lines(host, "app", "latency_ms", spike, SPIKE_AT, SPIKE_AT + 5)])
    task = AnomalyTask(worker_ctx)  # periodic saves every anomaly_state_flush_s (60 s): none within this test
    await StreamConsumer.run(task, asyncio.Event(), drain=True)  # the base loop: no save at the end, as after a kill -9
    assert [a.payload["status"] for a in await _alerts(worker_ctx.bus)] == ["firing"]

    series_id = SeriesRef("app", (("host", host), ("region", "eu")), "latency_ms").id
    assert await worker_ctx.redis.hexists(worker_ctx.settings.redis_key(ANOMALY_DETECTORS_KEY), series_id)
    restarted = AnomalyTask(worker_ctx)
    await restarted.cache.load([series_id])
    assert restarted.cache._entries[series_id].detector.alert.open_since is not None
