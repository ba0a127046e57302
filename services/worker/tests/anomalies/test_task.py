"""The anomaly task on real Redis and InfluxDB: synthetic series with injected anomalies, in drain mode."""

import asyncio
import logging
import uuid
from datetime import datetime

import numpy as np
import pytest
from aiohttp import web

from aiops_contracts.bus import Bus
from aiops_contracts.envelope import Envelope
from aiops_contracts.events import METRICS_RECEIVED, MetricsPayload
from aiops_contracts.influx import ANOMALIES_MEASUREMENT, InfluxClient, InfluxUnavailable
from aiops_contracts.streams import ALERTS_INGESTED, ANOMALY_DETECTORS_KEY, METRICS_INGESTED
from aiops_worker.anomalies.series import SeriesRef
from aiops_worker.anomalies.task import AnomalyTask
from aiops_worker.runtime.consumer import Delivery, StreamConsumer
from aiops_worker.runtime.context import WorkerContext
from conftest import start_app

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


def _batch(lines: str) -> list[Delivery[MetricsPayload]]:
    """One entry's batch as the consumer hands it to handle(), for tests that call handle() themselves."""
    payload = MetricsPayload(lines=lines, count=lines.count("\n") + 1)
    return [Delivery("1-0", Envelope(type=METRICS_RECEIVED, source="telegraf", payload=payload.model_dump()), payload)]


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


async def test_scores_influxdb_refuses_for_good_are_dropped_and_the_alerts_and_state_still_go_out(
        own_influx_ctx: WorkerContext, drain, host: str, caplog: pytest.LogCaptureFixture) -> None:
    ctx = own_influx_ctx
    # A string `score` in the points' shard: InfluxDB refuses every float score there (400, field type conflict).
    await ctx.influx.write(f'{ANOMALIES_MEASUREMENT},host=other score="text" {START_S * 10**9}')
    await _publish(ctx.bus, [_lines(host, "app", "latency_ms", _series(1, "spike"), 0, POINTS)])
    task = AnomalyTask(ctx)

    with caplog.at_level(logging.ERROR, logger="aiops_worker.anomalies.task"):
        await drain(task)

    assert [a.payload["status"] for a in await _alerts(ctx.bus)] == ["firing", "resolved"]
    assert (await ctx.redis.xpending(ctx.bus.key(METRICS_INGESTED), "anomaly-detector"))["pending"] == 0
    assert not await ctx.redis.exists(ctx.bus.dead_letter_key(METRICS_INGESTED))
    assert not task.outbox
    refused = [r for r in caplog.records if r.message == "anomaly scores refused by InfluxDB, dropped"]
    assert len(refused) == 1 and refused[0].lines > 0 and "field type conflict" in refused[0].error
    series_id = SeriesRef("app", (("host", host), ("region", "eu")), "latency_ms").id
    assert await ctx.redis.hexists(ctx.settings.redis_key(ANOMALY_DETECTORS_KEY), series_id)  # saved at the end


@pytest.mark.parametrize(("status", "text"), [(401, ""), (403, ""), (404, "404 page not found"), (407, "")])
async def test_scores_wait_while_influxdb_refuses_the_request_not_its_lines(
        worker_ctx: WorkerContext, host: str, status: int, text: str) -> None:
    """Bad credentials (a rotated password), a wrong path or a proxy's refusal say nothing of the lines: the batch
    fails as InfluxDB unavailable (retried) and the scores wait, never dropped."""
    async def refuse(_: web.Request) -> web.Response:
        return web.Response(status=status, text=text)

    app = web.Application()
    app.router.add_route("*", "/{path:.*}", refuse)
    runner, url = await start_app(app)
    refusing = worker_ctx.settings.model_copy(update={"influx_url": url})
    task = AnomalyTask(WorkerContext(settings=refusing, redis=worker_ctx.redis, sessions=worker_ctx.sessions,
                                     influx=InfluxClient(refusing)))
    try:
        with pytest.raises(InfluxUnavailable, match=str(status)):
            await task.handle(_batch(_lines(host, "app", "latency_ms", _series(1, "spike"), 0, POINTS)))
    finally:
        await task.influx.aclose()
        await runner.cleanup()
    assert task.outbox.lines


async def test_scores_waiting_for_influxdb_hold_back_evictions_and_go_out_once_it_answers(
        worker_ctx: WorkerContext, influx_database: str, host: str) -> None:
    worker_ctx.settings.anomaly_max_series = 1  # a second series evicts the first
    down = worker_ctx.settings.model_copy(update={"influx_url": "http://127.0.0.1:9"})  # nothing listens there
    task = AnomalyTask(WorkerContext(settings=down, redis=worker_ctx.redis, sessions=worker_ctx.sessions,
                                     influx=InfluxClient(down)))
    spike = _series(1, "spike")
    key = worker_ctx.settings.redis_key(ANOMALY_DETECTORS_KEY)
    first = SeriesRef("app", (("host", host), ("region", "eu")), "latency_ms").id

    with pytest.raises(InfluxUnavailable):
        await task.handle(_batch(_lines(host, "app", "latency_ms", spike, 0, POINTS)))
    assert [a.payload["status"] for a in await _alerts(worker_ctx.bus)] == ["firing", "resolved"]  # not held back
    with pytest.raises(InfluxUnavailable):  # the scores still wait: the next batch, another series, must not evict
        await task.handle(_batch(_lines(host, "app2", "latency_ms", spike, 0, POINTS)))
    assert not await worker_ctx.redis.hexists(key, first)  # its state would run ahead of its unsent scores

    await task.influx.aclose()
    task.influx = worker_ctx.influx  # InfluxDB answers again: the retried batch sends the scores, then evicts
    await task.handle(_batch(_lines(host, "app2", "latency_ms", spike, 0, POINTS)))

    assert await worker_ctx.redis.hexists(key, first) and not task.outbox
    scored = await worker_ctx.influx.query(
        f'SELECT "score" FROM "{ANOMALIES_MEASUREMENT}" WHERE "host" = $host GROUP BY "measurement"', {"host": host})
    assert sorted(s.tags["measurement"] for s in scored) == ["app", "app2"]  # the first series' scores went too
