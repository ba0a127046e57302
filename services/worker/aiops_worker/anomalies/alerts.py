"""Alerts the anomaly detector raises: `alert.received` envelopes with deterministic ids.

An envelope id is derived from (fingerprint, status, moment), so re-handling the same metrics
(a re-delivered batch, a restart from older detector state) yields the same ids, and the alert
store's idempotency ledger drops the repeats.
"""

import math
import uuid
from datetime import UTC, datetime
from typing import Any

from aiops_contracts.envelope import Envelope
from aiops_contracts.events import ALERT_RECEIVED, ANOMALY_SOURCE, AlertPayload, AlertStatus, Severity, SignalKind
from aiops_worker.anomalies.detectors import AnomalyEvent, DetectionResult
from aiops_worker.anomalies.series import SeriesRef

_ID_NAMESPACE = uuid.UUID("6f1c1f0e-2b7e-4c35-9a51-5b0f4c0e6a11")
NEW_LEVEL_RANGES = 1.0  # beyond the history's range by this many ranges: a new level
_EVIDENCE_KEYS = ("value", "baseline", "deviation", "z", "seasonal_z", "spike_ratio", "range_excess", "period_s",
                  "raw_score", "tail_log10_p")


def event_id(*parts: object) -> str:
    """The same parts give the same id: (fingerprint, status, moment) of a transition."""
    return uuid.uuid5(_ID_NAMESPACE, "|".join(str(p) for p in parts)).hex


def is_alertable(event: AnomalyEvent, min_z: float, max_log10_p: float) -> bool:
    """An anomaly is an alert when its opening point deviated at least `min_z` robust sigmas and was
    improbable for this series: a calibrated tail probability of at most 10**max_log10_p per point, or a
    value beyond everything the series did by at least the whole range of its history (a new level,
    which a wide baseline scale hides from the z channels). Weaker ones (a statistical blip) stay
    evidence, a stored score. Judged on the opening evidence, which the closing event carries too, so
    both transitions or neither are sent."""
    evidence = event.evidence
    deviation = max(abs(evidence.get("z", 0.0)), abs(evidence.get("seasonal_z", 0.0)))
    log10_p = evidence.get("tail_log10_p")
    improbable = log10_p is not None and log10_p <= max_log10_p
    return deviation >= min_z and (improbable or evidence.get("range_excess", 0.0) >= NEW_LEVEL_RANGES)


def to_datetime(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def plain(value: Any) -> Any:
    """JSON-safe copy of detector evidence: numpy scalars to floats, NaN/inf to None."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    number = float(value)
    return number if math.isfinite(number) else None


def anomaly_envelope(series: SeriesRef, result: DetectionResult) -> Envelope:
    """`firing` for an opened anomaly, `resolved` for a closed one (same fingerprint, so one alert row)."""
    event = result.event
    opened = result.alert_transition == "opened"
    status = AlertStatus.firing if opened else AlertStatus.resolved
    moment = event.start_ts if opened else (event.end_ts or result.ts)
    evidence = plain({k: event.evidence.get(k) for k in _EVIDENCE_KEYS})
    fired = [str(name) for name in event.evidence.get("fired", [])]
    fingerprint = series.fingerprint("anomaly")
    payload = AlertPayload(
        fingerprint=fingerprint,
        title=f"Anomaly: {series.describe()}"[:500],
        description=_description(evidence, fired),
        severity=Severity(event.severity),
        status=status,
        host=series.host,
        labels={**dict(series.tags), "measurement": series.measurement, "field": series.field},
        occurred_at=to_datetime(moment),
        details={**evidence, "detectors": fired, "score": plain(event.peak_score), "series": series.id,
                 "started_at": to_datetime(event.start_ts).isoformat(),
                 "ended_at": to_datetime(event.end_ts).isoformat() if event.end_ts else None},
        signal=SignalKind.anomaly,
    )
    return Envelope(id=event_id(fingerprint, status.value, f"{moment:.6f}"), type=ALERT_RECEIVED, source=ANOMALY_SOURCE,
                    payload=payload.model_dump(mode="json"))


def _description(evidence: dict[str, Any], fired: list[str]) -> str:
    def show(key: str) -> str:
        value = evidence.get(key)
        return "n/a" if value is None else f"{value:.4g}"

    return (f"value {show('value')} against baseline {show('baseline')} "
            f"(deviation {show('deviation')}, robust z {show('z')}); detectors: {', '.join(fired) or 'combined score'}")
