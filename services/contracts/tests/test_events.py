"""Event payload bounds: labels and annotations are cut, never refused; request-level log labels travel once
per envelope and reach every record when read. Incident status and timeline kinds are enums of the contract."""

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from aiops_contracts.db import Incident, IncidentEvent
from aiops_contracts.events import (
    ANNOTATION_VALUE_MAX_CHARS,
    LABEL_KEY_MAX_CHARS,
    LABEL_VALUE_MAX_CHARS,
    AlertPayload,
    IncidentChangedPayload,
    IncidentStatus,
    LogRecord,
    LogsPayload,
    TimelineKind,
)


def test_overlong_labels_and_annotations_are_cut_and_the_event_kept() -> None:
    alert = AlertPayload(fingerprint="f", title="t", labels={"k" * 500: "v" * 5_000, "env": "prod"},
                         annotations={"runbook": "r" * 10_000})
    assert {len(k) for k in alert.labels} == {LABEL_KEY_MAX_CHARS, 3}
    assert len(alert.labels["k" * LABEL_KEY_MAX_CHARS]) == LABEL_VALUE_MAX_CHARS
    assert alert.labels["env"] == "prod"
    assert len(alert.annotations["runbook"]) == ANNOTATION_VALUE_MAX_CHARS


def test_envelope_labels_reach_every_record_and_a_record_s_own_win() -> None:
    payload = LogsPayload(labels={"host": "web-1", "service": "api", "env": "prod"},
                          records=[LogRecord(message="a"), LogRecord(message="b", host="db-1", labels={"env": "dev"})])
    dumped = payload.model_dump(mode="json", exclude_defaults=True)
    assert dumped["records"] == [{"message": "a"}, {"message": "b", "host": "db-1", "labels": {"env": "dev"}}]
    first, second = LogsPayload.model_validate(dumped).labelled().records
    assert (first.host, first.labels) == ("web-1", {"host": "web-1", "service": "api", "env": "prod"})
    assert (second.host, second.labels["env"], second.labels["service"]) == ("db-1", "dev", "api")


def test_payloads_without_envelope_labels_read_as_before() -> None:
    payload = LogsPayload(records=[LogRecord(message="a", host="h", labels={"path": "/var/log/x"})])
    assert payload.labelled() is payload


def test_incident_status_and_timeline_kind_are_the_contracts_enums() -> None:
    assert Incident.__table__.c.status.type.enum_class is IncidentStatus
    assert IncidentEvent.__table__.c.kind.type.enum_class is TimelineKind
    with pytest.raises(ValidationError, match="status"):
        IncidentChangedPayload(incident_id="1", group_key="k", title="t", severity="low", status="closed",
                               event_count=1, first_seen_at=datetime.now(UTC), last_seen_at=datetime.now(UTC))
