"""The capacity forecast task on real InfluxDB, PostgreSQL and Redis: synthetic trends with a known
crossing time, the predictive alerts they raise, and the stored forecasts."""

import asyncio
from datetime import UTC, datetime

import numpy as np
import pytest
from sqlalchemy import func, select

from aiops_contracts.db import Forecast
from aiops_contracts.envelope import Envelope
from aiops_contracts.streams import ALERTS_INGESTED
from aiops_worker.anomalies.series import SeriesRef
from aiops_worker.forecasts import task as forecast_task
from aiops_worker.forecasts.capacity import Assessment, SeriesHistory
from aiops_worker.forecasts.task import ForecastTask
from aiops_worker.runtime.context import WorkerContext

HOUR = 3600
DAY = 86_400
HISTORY_H = 10 * 24
SAMPLE_S = 900  # raw points every 15 minutes; the task averages them per hour
NOW = float(int(datetime.now(UTC).timestamp()) // HOUR * HOUR)
# Disk /var: 80 % now, +0.25 %/h, so it reaches the 95 % limit in 60 hours (2.5 days).
DISK_HOURS_LEFT = (95 - 80) / 0.25
# Idle CPU: 40 % now, -0.3 %/h, down to the 5 % limit in 116.7 hours.
CPU_HOURS_LEFT = (40 - 5) / 0.3
TOLERANCE = 0.10  # predicted time left within 10 % of the truth


def _curve(name: str, hours_ago: np.ndarray) -> np.ndarray:
    if name == "disk_var":
        return 80 - 0.25 * hours_ago
    if name == "disk_root":
        return np.full_like(hours_ago, 40.0)
    if name == "cpu":
        return 40 + 0.3 * hours_ago
    # memory: a daily wave on a slow rise, the case Prophet is for
    return 70 - 0.05 * hours_ago + 8 * np.sin(2 * np.pi * hours_ago / 24)


def _lines(host: str) -> str:
    rng = np.random.default_rng(5)
    stamps = NOW - np.arange(0, HISTORY_H * HOUR, SAMPLE_S)
    hours_ago = (NOW - stamps) / HOUR
    noise = lambda: rng.uniform(-0.5, 0.5, len(stamps))  # noqa: E731
    series = (("disk", "path=/var,device=sda1", "used_percent", _curve("disk_var", hours_ago) + noise()),
              ("disk", "path=/,device=sda2", "used_percent", _curve("disk_root", hours_ago) + noise()),
              ("mem", "", "used_percent", _curve("mem", hours_ago) + noise()),
              ("cpu", "cpu=cpu-total", "usage_idle", _curve("cpu", hours_ago) + noise()),
              ("cpu", "cpu=cpu0", "usage_idle", _curve("cpu", hours_ago) - 30))  # not cpu-total: ignored
    lines = []
    for measurement, tags, field, values in series:
        head = f"{measurement},host={host}" + (f",{tags}" if tags else "")
        lines += [f"{head} {field}={v:.4f} {int(t) * 10**9}" for t, v in zip(stamps, values)]
    return "\n".join(lines)


async def _alerts(ctx: WorkerContext) -> list[Envelope]:
    return [Envelope.from_entry(fields) for _, fields in await ctx.redis.xrange(ctx.bus.key(ALERTS_INGESTED))]


async def _rows(ctx: WorkerContext) -> dict[str, Forecast]:
    async with ctx.sessions() as session:
        return {r.series_key: r for r in (await session.scalars(select(Forecast))).all()}


def _hours_left(iso: str) -> float:
    return (datetime.fromisoformat(iso).timestamp() - NOW) / HOUR


async def test_trends_predict_exhaustion_within_tolerance_and_alert(own_influx_ctx: WorkerContext) -> None:
    host = "web-3"
    await own_influx_ctx.influx.write(_lines(host))

    await ForecastTask(own_influx_ctx).run_once()

    alerts = {a.payload["labels"].get("path") or a.payload["labels"]["measurement"]: a.payload
              for a in await _alerts(own_influx_ctx)}
    assert set(alerts) == {"/var", "cpu"}  # memory crosses in about 14 days: beyond the 7-day horizon
    disk = alerts["/var"]
    assert (disk["status"], disk["severity"], disk["host"], disk["signal"]) == ("firing", "high", host, "forecast")
    assert disk["title"].startswith("disk /var on web-3: used_percent above 95 in 2.5 days (")
    # The hourly means are stamped at the hour's middle, so the truth is measured from the last mean too.
    assert _hours_left(disk["details"]["exhausts_at"]) == pytest.approx(DISK_HOURS_LEFT, rel=TOLERANCE)
    assert _hours_left(disk["details"]["exhausts_earliest"]) <= _hours_left(disk["details"]["exhausts_at"])
    cpu = alerts["cpu"]
    assert cpu["title"].startswith("cpu on web-3: usage_idle below 5 in 4.")
    assert _hours_left(cpu["details"]["exhausts_at"]) == pytest.approx(CPU_HOURS_LEFT, rel=TOLERANCE)

    rows = await _rows(own_influx_ctx)
    assert len(rows) == 4  # disk /var, disk /, mem, cpu-total
    root = rows[f"disk,device=sda2,host={host},path=/ used_percent"]
    # A flat series (noise only): whichever model backtests best, it never reaches the limit.
    assert root.exhausts_at is None and len(root.forecast) == 7 * 24
    memory = rows[f"mem,host={host} used_percent"]
    assert memory.method != "naive" and memory.exhausts_at is not None, memory.method
    assert all(lo <= y <= hi for _, y, lo, hi in memory.forecast)
    cpu_row = rows[f"cpu,cpu=cpu-total,host={host} usage_idle"]
    assert cpu_row.last_value == pytest.approx(40, abs=1) and cpu_row.forecast[-1][1] < cpu_row.last_value


async def test_repeated_run_on_the_same_data_publishes_the_same_alerts(own_influx_ctx: WorkerContext) -> None:
    await own_influx_ctx.influx.write(_lines("web-4"))
    own_influx_ctx.settings.forecast_capacity_rules = own_influx_ctx.settings.forecast_capacity_rules[:1]  # disk only
    task = ForecastTask(own_influx_ctx)

    await task.run_once()
    await task.run_once()

    ids = [a.id for a in await _alerts(own_influx_ctx)]
    assert len(ids) == 2 and ids[0] == ids[1]  # the alert store's ledger drops the repeat


async def test_prediction_going_away_resolves_the_alert(own_influx_ctx: WorkerContext) -> None:
    host = "web-5"
    await own_influx_ctx.influx.write(_lines(host))
    own_influx_ctx.settings.forecast_capacity_rules = own_influx_ctx.settings.forecast_capacity_rules[:1]
    task = ForecastTask(own_influx_ctx)
    await task.run_once()

    own_influx_ctx.settings.forecast_horizon_days = 1  # 2.5 days left is now beyond the alert horizon
    await task.run_once()
    await own_influx_ctx.influx.query('DROP SERIES FROM "disk" WHERE "path" = \'/var\'')
    own_influx_ctx.settings.forecast_horizon_days = 7
    await task.run_once()  # the series is gone: nothing to resolve twice, its row is removed

    statuses = [(a.payload["status"], a.payload["fingerprint"]) for a in await _alerts(own_influx_ctx)]
    assert [s for s, _ in statuses] == ["firing", "resolved"] and len({f for _, f in statuses}) == 1
    assert list(await _rows(own_influx_ctx)) == [f"disk,device=sda2,host={host},path=/ used_percent"]


RUN_TIMEOUT_S = 300  # far beyond a run of two series; only a run that never ends reaches it


def _poisoned_lines(host: str) -> str:
    """Disk / on `host`: one hourly point per hour, 40 %, one of them 1e308 (InfluxDB's mean of it is 1e308)."""
    stamps = NOW - HOUR * np.arange(HISTORY_H)
    values = np.full(len(stamps), 40.0)
    values[50] = 1e308
    return "\n".join(f"disk,host={host},path=/,device=sda2 used_percent={float(v)!r} {int(t) * 10**9}"
                     for t, v in zip(stamps, values))


async def test_a_series_holding_1e308_does_not_stop_the_run(own_influx_ctx: WorkerContext) -> None:
    """Before: every backtest of that series overflowed, selection raised StopIteration in asyncio.to_thread and
    run_once never returned (the task forecast nothing again). Now its value is left out and the run completes."""
    host = "web-6"
    await own_influx_ctx.influx.write(_lines(host) + "\n" + _poisoned_lines("db-6"))
    own_influx_ctx.settings.forecast_capacity_rules = own_influx_ctx.settings.forecast_capacity_rules[:1]  # disk

    await asyncio.wait_for(ForecastTask(own_influx_ctx).run_once(), RUN_TIMEOUT_S)

    rows = await _rows(own_influx_ctx)
    poisoned = rows["disk,device=sda2,host=db-6,path=/ used_percent"]
    assert poisoned.exhausts_at is None and all(abs(y - 40) < 1 for _, y, _, _ in poisoned.forecast)
    disk = rows[f"disk,device=sda1,host={host},path=/var used_percent"]
    assert (disk.exhausts_at.timestamp() - NOW) / HOUR == pytest.approx(DISK_HOURS_LEFT, rel=TOLERANCE)


async def test_a_series_whose_forecast_fails_is_skipped_and_the_others_are_forecast(
        own_influx_ctx: WorkerContext, monkeypatch: pytest.MonkeyPatch) -> None:
    host = "web-7"
    await own_influx_ctx.influx.write(_lines(host))
    own_influx_ctx.settings.forecast_capacity_rules = own_influx_ctx.settings.forecast_capacity_rules[:1]
    broken = f"disk,device=sda2,host={host},path=/ used_percent"
    real = forecast_task.assess

    def failing_for_one(history, horizon_s, choices):  # what an unforeseen numeric failure of one series does
        if history.series.id == broken:
            raise StopIteration
        return real(history, horizon_s, choices)

    monkeypatch.setattr(forecast_task, "assess", failing_for_one)
    found = await asyncio.wait_for(ForecastTask(own_influx_ctx).run_once(), RUN_TIMEOUT_S)

    assert [a.history.series.id for a in found] == [f"disk,device=sda1,host={host},path=/var used_percent"]
    assert list(await _rows(own_influx_ctx)) == [found[0].history.series.id]
    assert [a.payload["labels"]["path"] for a in await _alerts(own_influx_ctx)] == ["/var"]


def _overflowing_lines(host: str) -> str:
    """Disk / on `host` at 40 %, every 15 minutes, two points of one hour 1e308 (their mean in InfluxDB: +Inf)."""
    stamps = NOW - np.arange(0, HISTORY_H * HOUR, SAMPLE_S)
    values = np.full(len(stamps), 40.0)
    values[[201, 202]] = 1e308  # 50 h 15 min and 50 h 30 min ago: one hour
    return "\n".join(f"disk,host={host},path=/,device=sda2 used_percent={float(v)!r} {int(t) * 10**9}"
                     for t, v in zip(stamps, values))


async def test_a_series_whose_hourly_mean_overflows_does_not_stop_the_others(own_influx_ctx: WorkerContext) -> None:
    """Two 1e308 points in one hour: their mean is +Inf, which InfluxDB 1.x cannot write in JSON, so it answered
    nothing for the rule's whole history query and the run failed: no series was forecast. Now values beyond the
    forecast's bound are left out of the query: every series of the rule is forecast, that one from its other points."""
    host = "web-8"
    await own_influx_ctx.influx.write(_lines(host) + "\n" + _overflowing_lines("db-8"))
    own_influx_ctx.settings.forecast_capacity_rules = own_influx_ctx.settings.forecast_capacity_rules[:1]  # disk

    await asyncio.wait_for(ForecastTask(own_influx_ctx).run_once(), RUN_TIMEOUT_S)

    rows = await _rows(own_influx_ctx)
    var, root = f"disk,device=sda1,host={host},path=/var used_percent", f"disk,device=sda2,host={host},path=/ used_percent"
    assert set(rows) == {var, root, "disk,device=sda2,host=db-8,path=/ used_percent"}
    assert (rows[var].exhausts_at.timestamp() - NOW) / HOUR == pytest.approx(DISK_HOURS_LEFT, rel=TOLERANCE)
    overflowing = rows["disk,device=sda2,host=db-8,path=/ used_percent"]
    assert overflowing.details["points"] == rows[root].details["points"]  # no hour lost: its other points remain
    assert overflowing.exhausts_at is None and all(abs(y - 40) < 1 for _, y, _, _ in overflowing.forecast)


def _flat_lines(hosts: range, end: float) -> str:
    """Memory at 50 % on each host, hourly for the 24 hours up to `end`: the least history a forecast takes."""
    return "\n".join(f"mem,host=h{h} used_percent=50 {int(t) * 10**9}" for h in hosts for t in end - HOUR * np.arange(24))


async def test_forecasts_are_stored_updated_and_deleted_in_statements_of_a_few_rows(
        own_influx_ctx: WorkerContext, monkeypatch: pytest.MonkeyPatch) -> None:
    """Statements of 2 rows: 5 series stored, stored again (each statement's conflicts update its rows), then gone
    (deleted in statements too) while a new one is stored."""
    monkeypatch.setattr(forecast_task, "ROWS_PER_STATEMENT", 2)
    settings = own_influx_ctx.settings
    settings.forecast_capacity_rules, settings.forecast_history_days = settings.forecast_capacity_rules[1:2], 2  # mem
    later = NOW + 3 * DAY  # the first hosts' points are out of the history then
    await own_influx_ctx.influx.write(_flat_lines(range(5), NOW) + "\n" + _flat_lines(range(5, 6), later))
    task = ForecastTask(own_influx_ctx)

    await task.run_once(datetime.fromtimestamp(NOW + HOUR, UTC))  # (the query's end is exclusive)
    await task.run_once(datetime.fromtimestamp(NOW + 2 * HOUR, UTC))
    stored = await _rows(own_influx_ctx)
    await task.run_once(datetime.fromtimestamp(later + HOUR, UTC))

    assert sorted(stored) == [f"mem,host=h{h} used_percent" for h in range(5)]
    assert {r.computed_at.timestamp() for r in stored.values()} == {NOW + 2 * HOUR}
    assert sorted(await _rows(own_influx_ctx)) == ["mem,host=h5 used_percent"]


async def test_more_forecasts_than_one_statement_can_carry_are_stored(worker_ctx: WorkerContext) -> None:
    """4,400 forecasts: one INSERT of 15 parameters a row would need 66,000, past PostgreSQL's protocol limit of
    65,535 per statement (the run failed every time); they are stored in several statements."""
    rule = worker_ctx.settings.forecast_capacity_rules[1]  # memory
    assessments = [Assessment(SeriesHistory(rule, SeriesRef("mem", (("host", f"h{h}"),), "used_percent"), [NOW], [50.0]),
                              "none", [], None, alerting=False) for h in range(4_400)]

    await ForecastTask(worker_ctx)._store(assessments, set(), datetime.fromtimestamp(NOW, UTC))

    async with worker_ctx.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Forecast)) == 4_400
