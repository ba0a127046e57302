"""Capacity series for forecasting: their history query, the forecast and exhaustion of one series,
and the predictive alert it raises. Pure functions; task.py does the I/O.

`below` rules (a value falling to its limit, e.g. idle CPU) are mirrored: values and threshold are
negated, forecast as an `above` rule, and the forecast is negated back, so one code path serves both.
"""

import math
from dataclasses import dataclass

from aiops_contracts.envelope import Envelope
from aiops_contracts.events import ALERT_RECEIVED, FORECAST_SOURCE, AlertPayload, AlertStatus, Severity, SignalKind
from aiops_contracts.influx import InfluxSeries, quote_ident
from aiops_worker.anomalies.alerts import event_id, to_datetime
from aiops_worker.anomalies.series import SeriesRef
from aiops_worker.forecasts import forecasting
from aiops_worker.settings import CapacityRule

HOUR_S = 3600.0
MIN_HISTORY_POINTS = 24  # hourly means: a day of history before any trend is trusted
# Hours left below which a predicted exhaustion is this severe.
SEVERITY_HOURS = ((24.0, Severity.critical), (72.0, Severity.high))


@dataclass(frozen=True)
class SeriesHistory:
    rule: CapacityRule
    series: SeriesRef
    times: list[float]  # epoch seconds, hourly buckets
    values: list[float]  # hourly means


@dataclass(frozen=True)
class Exhaustion:
    at: float  # epoch seconds
    earliest: float
    latest: float | None  # None: the trend may be flat, no upper bound


@dataclass(frozen=True)
class Assessment:
    history: SeriesHistory
    method: str  # the selected model (forecasting.py), or none (history too short to forecast)
    forecast: list[list[float]]  # [epoch seconds, predicted, lower, upper]
    exhaustion: Exhaustion | None  # crossing predicted within forecasting's horizon (90 days)
    alerting: bool  # the crossing falls within the alert horizon


def mirror(rule: CapacityRule) -> float:
    """-1 for `below` rules (values and limit are negated to forecast them as rising), else 1."""
    return -1.0 if rule.direction == "below" else 1.0


def history_query(rule: CapacityRule) -> tuple[str, dict[str, str | float]]:
    """Hourly means of every series of the rule between $start and $end, one InfluxDB series per tag set.
    Identifiers pass quote_ident; tag values and the value bounds are bound parameters.

    Only values within ±MAX_ABS_VALUE are averaged, as the forecast keeps only those (forecasting.bucketed):
    the mean of two 1e308 points in one hour is +Inf, which InfluxDB 1.x cannot write in JSON, so it answered
    nothing for the whole statement (NonFiniteResult): one such series failed the run, no series of any rule
    was forecast. Bounded values cannot overflow a sum (1e158 of them would be needed); an hour with such a
    point now averages its other points. (A bound in the query rather than a query per series: one statement
    per rule as before, and the series keeps its forecast.)"""
    field = quote_ident(rule.field)
    where = ["time >= $start", "time < $end", f"{field} >= $lowest", f"{field} <= $highest"]
    params: dict[str, str | float] = {"lowest": -forecasting.MAX_ABS_VALUE, "highest": forecasting.MAX_ABS_VALUE}
    for index, (key, value) in enumerate(sorted(rule.tags.items())):
        where.append(f"{quote_ident(key)} = $tag{index}")
        params[f"tag{index}"] = value
    # InfluxQL binds values only: the identifiers go through quote_ident (an allow-list), every value is a $param
    query = (f"SELECT mean({field}) AS {quote_ident('value')} FROM {quote_ident(rule.measurement)} "
             f"WHERE {' AND '.join(where)} GROUP BY time(1h), * fill(none)")
    return query, params


def histories(rule: CapacityRule, found: list[InfluxSeries]) -> list[SeriesHistory]:
    """The series with enough history to forecast, values mirrored for `below` rules."""
    sign = mirror(rule)
    result = []
    for influx_series in found:
        rows = [(float(t), float(v)) for t, v in influx_series.values if v is not None]
        if len(rows) < MIN_HISTORY_POINTS:
            continue
        series = SeriesRef(rule.measurement, tuple(sorted((k, v) for k, v in influx_series.tags.items() if v)),
                           rule.field)
        result.append(SeriesHistory(rule, series, [t for t, _ in rows], [sign * v for _, v in rows]))
    return result


def urgency(history: SeriesHistory) -> float:
    """How close the latest value is to the limit (mirrored units): most urgent first when capping."""
    limit = _limit(history.rule)
    return history.values[-1] - limit if limit is not None else float("-inf")


def assess(history: SeriesHistory, horizon_s: float, choices: forecasting.ModelChoices) -> Assessment:
    """Forecast the series over `horizon_s` with its selected model and predict when it crosses its limit
    (CPU-heavy: call in a thread). An alert is due when the crossing is within `horizon_s`."""
    config = choices.config
    grid = forecasting.to_grid(history.times, history.values, config)
    if grid is None:
        return Assessment(history, "none", [], None, alerting=False)
    shown = forecasting.steps_for(horizon_s, config)
    selection = choices.selection_for(history.series.id, grid, shown, history.times[-1])
    limit = _limit(history.rule)
    watched = limit is not None and history.values[-1] < limit
    steps = max(shown, forecasting.steps_for(config.max_horizon_s, config)) if watched else shown
    predicted = forecasting.forecast_grid(grid, selection, steps, config)
    sign = mirror(history.rule)
    points = [[float(t), sign * float(y), sign * float(lo if sign > 0 else hi), sign * float(hi if sign > 0 else lo)]
              for t, y, lo, hi in zip(predicted.ts[:shown], predicted.yhat, predicted.lower, predicted.upper)]
    exhaustion = None
    found = None
    if watched and limit is not None:
        found = forecasting.exhaustion(predicted, float(grid.ts[-1]), float(grid.ys[-1]), limit)
    if found is not None:  # rising towards the (mirrored) limit
        latest = float(found.eta_high) if math.isfinite(found.eta_high) else None
        exhaustion = Exhaustion(float(found.eta), float(found.eta_low), latest)
    alerting = exhaustion is not None and exhaustion.at - history.times[-1] <= horizon_s
    return Assessment(history, selection.model, points, exhaustion, alerting)


def _limit(rule: CapacityRule) -> float | None:
    if rule.threshold is None:
        return None
    return mirror(rule) * rule.threshold


def predictive_envelope(assessment: Assessment, was_alerting: bool) -> Envelope | None:
    """Firing while an exhaustion within the alert horizon is predicted (every run, so the alert's
    count and title stay current), resolved once when it goes away; None when there is nothing to say."""
    if not assessment.alerting and not was_alerting:
        return None
    history, rule = assessment.history, assessment.history.rule
    exhaustion = assessment.exhaustion if assessment.alerting else None
    status = AlertStatus.firing if exhaustion else AlertStatus.resolved
    fingerprint = history.series.fingerprint("exhaustion")
    last_ts = history.times[-1]
    payload = AlertPayload(
        fingerprint=fingerprint,
        title=_title(history, exhaustion)[:500],
        description=_description(assessment),
        severity=_severity(exhaustion.at - last_ts) if exhaustion else Severity.info,
        status=status,
        host=history.series.host,
        labels={**dict(history.series.tags), "measurement": rule.measurement, "field": rule.field},
        occurred_at=to_datetime(last_ts),
        details={"series": history.series.id, "threshold": rule.threshold, "direction": rule.direction,
                 "method": assessment.method, "last_value": last_value(history), **_exhaustion_details(exhaustion)},
        signal=SignalKind.forecast,
    )
    # One id per series, status and data hour: a run repeated on the same data publishes nothing new.
    return Envelope(id=event_id(fingerprint, status.value, f"{last_ts:.0f}"), type=ALERT_RECEIVED,
                    source=FORECAST_SOURCE, payload=payload.model_dump(mode="json"))


def _exhaustion_details(exhaustion: Exhaustion | None) -> dict[str, str | None]:
    if exhaustion is None:
        return {}
    return {"exhausts_at": to_datetime(exhaustion.at).isoformat(),
            "exhausts_earliest": to_datetime(exhaustion.earliest).isoformat(),
            "exhausts_latest": to_datetime(exhaustion.latest).isoformat() if exhaustion.latest else None}


def last_value(history: SeriesHistory) -> float:
    """The latest hourly mean in the metric's own units."""
    return mirror(history.rule) * history.values[-1]


def _severity(seconds_left: float) -> Severity:
    hours = seconds_left / HOUR_S
    for limit, severity in SEVERITY_HOURS:
        if hours < limit:
            return severity
    return Severity.medium


def _subject(history: SeriesHistory) -> str:
    rule, tags = history.rule, dict(history.series.tags)
    subject = rule.name + (f" {tags[rule.detail_tag]}" if rule.detail_tag and rule.detail_tag in tags else "")
    return subject + (f" on {history.series.host}" if history.series.host else "")


def _title(history: SeriesHistory, exhaustion: Exhaustion | None) -> str:
    rule = history.rule
    crossing = f"{rule.field} {rule.direction} {rule.threshold:g}"
    if exhaustion is None:
        return f"{_subject(history)}: {crossing} no longer predicted"
    now = history.times[-1]
    at, earliest = exhaustion.at - now, exhaustion.earliest - now
    # One unit for the estimate and its interval: days from two days on, else hours.
    scale, unit, digits = (86_400, "days", 1) if at >= 2 * 86_400 else (HOUR_S, "hours", 0)
    latest = f"{(exhaustion.latest - now) / scale:.{digits}f}" if exhaustion.latest else "?"
    return (f"{_subject(history)}: {crossing} in {at / scale:.{digits}f} {unit} "
            f"({earliest / scale:.{digits}f}–{latest})")


def _description(assessment: Assessment) -> str:
    history, rule = assessment.history, assessment.history.rule
    return (f"{rule.measurement}.{rule.field} is {last_value(history):.4g} (limit {rule.threshold:g}, "
            f"{rule.direction}); {assessment.method} forecast over {len(history.values)} hourly means")
