"""Alerts about pipelines, as `alert.received` envelopes with deterministic ids (like the anomaly detector's):
- a failed build: `firing` on one alert per pipeline (`pipeline:<id>:failed`, its count the failed builds), high
  after `consecutive_high` failures in a row; the next successful build resolves it;
- a build anomaly (detection.py): `firing` on one alert per pipeline and kind, with the detector's evidence.
The pipeline is the alert's service, so its alerts join one incident, and the incident of a deployment
the pipeline ships when the topology says so, like any other signal."""

import uuid
from datetime import UTC, datetime
from typing import Any

from aiops_contracts.envelope import Envelope
from aiops_contracts.events import ALERT_RECEIVED, AlertPayload, AlertStatus, Severity, SignalKind
from aiops_contracts.pipelines import PIPELINES_SOURCE
from aiops_worker.anomalies.alerts import event_id
from aiops_worker.pipelines.detection import BuildAnomaly


def _labels(pipeline_id: uuid.UUID, provider: str, kind: str) -> dict[str, str]:
    return {"pipeline_id": str(pipeline_id), "provider": provider, "kind": kind}


def failure_envelope(pipeline_id: uuid.UUID, name: str, provider: str, run: dict[str, Any],
                     failed_in_a_row: int, consecutive_high: int) -> Envelope:
    """Firing for a failed build, resolved for a successful one (`run`: external_id, number, conclusion, url,
    finished_at, branch, commit_sha)."""
    fingerprint = f"pipeline:{pipeline_id}:failed"
    failed = failed_in_a_row > 0
    status = AlertStatus.firing if failed else AlertStatus.resolved
    severity = Severity.high if failed_in_a_row >= consecutive_high else Severity.medium
    payload = AlertPayload(
        fingerprint=fingerprint, title=f"Build failed: {name}"[:500], service=name[:255], status=status,
        severity=severity,
        description=(f"Build {run.get('number') or run['external_id']} ended {run.get('conclusion')} on "
                     f"{run.get('branch') or 'an unknown branch'}; {failed_in_a_row} failed build(s) in a row."
                     if failed else f"Build {run.get('number') or run['external_id']} succeeded."),
        labels=_labels(pipeline_id, provider, "build_failed"), url=run.get("url"), occurred_at=run.get("finished_at"),
        details={"run": run["external_id"], "conclusion": run.get("conclusion"), "commit": run.get("commit_sha"),
                 "failed_in_a_row": failed_in_a_row},
        signal=SignalKind.alert,
    )
    return Envelope(id=event_id(fingerprint, status.value, run["external_id"]), type=ALERT_RECEIVED,
                    source=PIPELINES_SOURCE, payload=payload.model_dump(mode="json"))


def anomaly_envelope(pipeline_id: uuid.UUID, name: str, provider: str, anomaly: BuildAnomaly) -> Envelope:
    fingerprint = f"pipeline:{pipeline_id}:{anomaly.kind}"
    evidence = anomaly.evidence
    payload = AlertPayload(
        fingerprint=fingerprint, title=f"{anomaly.title}: {name}"[:500], service=name[:255],
        severity=Severity(anomaly.severity), description=_describe(anomaly),
        labels=_labels(pipeline_id, provider, anomaly.kind),
        occurred_at=datetime.fromtimestamp(anomaly.ts, UTC),
        details={"features": anomaly.features, "evidence": evidence, "score": evidence.get("raw_score")},
        signal=SignalKind.anomaly,
    )
    return Envelope(id=event_id(fingerprint, "firing", f"{anomaly.ts:.3f}"), type=ALERT_RECEIVED,
                    source=PIPELINES_SOURCE, payload=payload.model_dump(mode="json"))


def _describe(anomaly: BuildAnomaly) -> str:
    e = anomaly.evidence
    if anomaly.kind == "failure_spike":
        return (f"{e.get('failed_builds')} of the last {e.get('window_builds')} builds failed "
                f"(probability 1e-{e.get('minus_log10_p')} at the pipeline's usual rate)")
    value, baseline, z = e.get("value"), e.get("baseline"), e.get("z")
    if value is None or baseline is None:
        return anomaly.title
    return (f"{', '.join(anomaly.features)}: {value:.4g} (median of the last builds) against a baseline of "
            f"{baseline:.4g} (robust z {z or 0:.1f})")
