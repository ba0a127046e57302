"""Periodic capacity forecasting: hourly means of the capacity series from InfluxDB, a forecast and an
exhaustion prediction per series (the model chosen per series by a backtest and cached, see forecasting.py),
predictive alerts on the alerts stream, and the latest forecast per series in PostgreSQL (`forecasts`) for the API.

Not a stream consumer: a periodic task that runs at start and every `forecast_interval_s`. Alerts are published
before the table is updated and their ids are deterministic, so a run cut short is simply redone.
"""

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert

from aiops_contracts.db import Forecast
from aiops_contracts.influx import DatabaseNotFound
from aiops_contracts.streams import ALERTS_INGESTED
from aiops_worker.anomalies.alerts import to_datetime
from aiops_worker.anomalies.series import SeriesRef
from aiops_worker.forecasts.capacity import (
    Assessment,
    SeriesHistory,
    assess,
    histories,
    history_query,
    last_value,
    mirror,
    predictive_envelope,
    urgency,
)
from aiops_worker.forecasts.forecasting import ModelChoices
from aiops_worker.runtime.context import WorkerContext
from aiops_worker.runtime.periodic import PeriodicTask
from aiops_worker.settings import CapacityRule

log = logging.getLogger(__name__)
ROWS_PER_STATEMENT = 1_000  # forecasts written (or deleted) per statement


class ForecastTask(PeriodicTask):
    name = "capacity-forecast"

    def __init__(self, ctx: WorkerContext) -> None:
        super().__init__(ctx.settings.forecast_interval_s)
        self.ctx = ctx
        self.settings = ctx.settings
        # The model chosen per series (a backtest), kept for forecast_reselect_hours between choices.
        self.choices = ModelChoices(ttl_s=ctx.settings.forecast_reselect_hours * 3600)

    async def tick(self, stop: asyncio.Event) -> None:
        await self.run_once()

    async def run_once(self, now: datetime | None = None) -> list[Assessment]:
        """One forecasting pass over every capacity series; returns the assessments it stored."""
        now = now or datetime.now(UTC)
        every = await self._histories(now)
        found = sorted(every, key=urgency, reverse=True)[:self.settings.forecast_max_series]
        horizon_s = self.settings.forecast_horizon_days * 86_400
        # Prophet and the trend fits are CPU work: off the event loop.
        assessments = await asyncio.to_thread(self._assess_each, found, horizon_s)
        self.choices.keep_only({h.series.id for h in found})
        async with self.ctx.sessions() as session:
            previous = {row.series_key: row for row in (await session.scalars(select(Forecast))).all()}
        # Series with no history this run; those left out by forecast_max_series keep their last forecast.
        gone = set(previous) - {h.series.id for h in every}
        vanished = [_vanished(previous[key], self.settings.forecast_capacity_rules) for key in gone]
        envelopes = [predictive_envelope(a, _was_alerting(previous.get(a.history.series.id)))
                     for a in [*assessments, *filter(None, vanished)]]
        await self.ctx.bus.publish_many(ALERTS_INGESTED, [e for e in envelopes if e])
        await self._store(assessments, gone, now)
        log.info("forecast run done", extra={"task": self.name, "series": len(assessments),
                                             "exhausting": sum(1 for a in assessments if a.exhaustion)})
        return assessments

    def _assess_each(self, found: list[SeriesHistory], horizon_s: float) -> list[Assessment]:
        """The assessment of each series; one whose forecast raises is logged and left out of this run (it keeps
        its stored forecast), so it cannot stop the others. (Any exception: StopIteration, which
        asyncio.to_thread cannot hand back, would leave the run waiting forever.)"""
        assessments = []
        for history in found:
            try:
                assessments.append(assess(history, horizon_s, self.choices))
            except Exception:
                log.exception("forecast of a series failed, skipped this run",
                              extra={"task": self.name, "series": history.series.id})
        return assessments

    async def _histories(self, now: datetime) -> list[SeriesHistory]:
        start = now - timedelta(days=self.settings.forecast_history_days)
        found: list[SeriesHistory] = []
        for rule in self.settings.forecast_capacity_rules:
            query, params = history_query(rule)
            params |= {"start": start.isoformat().replace("+00:00", "Z"), "end": now.isoformat().replace("+00:00", "Z")}
            try:
                found += histories(rule, await self.ctx.influx.query(query, params))
            except DatabaseNotFound:
                return []  # no metrics written yet
        return found

    async def _store(self, assessments: list[Assessment], gone: set[str], now: datetime) -> None:
        """One transaction, in statements of ROWS_PER_STATEMENT rows (keys): a statement carries at most 65,535
        parameters (PostgreSQL's protocol), 4,369 rows of 15."""
        rows, keys = [_row(a, now) for a in assessments], list(gone)
        async with self.ctx.sessions.begin() as session:
            for i in range(0, len(keys), ROWS_PER_STATEMENT):
                await session.execute(delete(Forecast).where(Forecast.series_key.in_(keys[i:i + ROWS_PER_STATEMENT])))
            for i in range(0, len(rows), ROWS_PER_STATEMENT):
                stmt = insert(Forecast).values(rows[i:i + ROWS_PER_STATEMENT])
                columns = {c: stmt.excluded[c] for c in rows[0] if c != "series_key"}
                await session.execute(stmt.on_conflict_do_update(index_elements=[Forecast.series_key],
                                                                 set_={**columns, "updated_at": now}))


def _row(assessment: Assessment, now: datetime) -> dict:
    history, exhaustion = assessment.history, assessment.exhaustion
    return {
        "series_key": history.series.id, "measurement": history.series.measurement, "field": history.series.field,
        "host": history.series.host, "tags": dict(history.series.tags), "threshold": history.rule.threshold,
        "method": assessment.method, "last_value": last_value(history), "last_point_at": to_datetime(history.times[-1]),
        "computed_at": now, "forecast": assessment.forecast,
        "exhausts_at": to_datetime(exhaustion.at) if exhaustion else None,
        "exhausts_earliest": to_datetime(exhaustion.earliest) if exhaustion else None,
        "exhausts_latest": to_datetime(exhaustion.latest) if exhaustion and exhaustion.latest else None,
        "details": {"rule": history.rule.name, "direction": history.rule.direction, "points": len(history.values),
                    "alerting": assessment.alerting},
    }


def _was_alerting(row: Forecast | None) -> bool:
    """Whether the stored prediction had its predictive alert firing."""
    return bool(row and row.details.get("alerting"))


def _vanished(row: Forecast, rules: list[CapacityRule]) -> Assessment | None:
    """A stored series that produced no history this run (gone quiet, or its rule removed): its
    prediction goes away, so an open predictive alert must resolve."""
    rule = next((r for r in rules if (r.measurement, r.field) == (row.measurement, row.field)), None)
    if rule is None:
        return None
    series = SeriesRef(row.measurement, tuple(sorted(row.tags.items())), row.field)
    history = SeriesHistory(rule, series, [row.last_point_at.timestamp()], [mirror(rule) * row.last_value])
    return Assessment(history, row.method, [], None, alerting=False)
