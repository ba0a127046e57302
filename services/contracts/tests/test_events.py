"""Event payload bounds: labels and annotations are cut, never refused (checked in pydantic's core, the same
outcome as the Python validator they had, on generated input); request-level log labels travel once per envelope
and reach every record when read. Incident status and timeline kinds are enums of the contract."""

from datetime import UTC, datetime, timedelta, timezone
from typing import Annotated

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY
from pydantic import AfterValidator, Field, ValidationError

from aiops_contracts.db import Incident, IncidentEvent
from aiops_contracts.envelope import MAX_NESTING
from aiops_contracts.events import (
    ANNOTATION_VALUE_MAX_CHARS,
    LABEL_KEY_MAX_CHARS,
    LABEL_VALUE_MAX_CHARS,
    LABELS_MAX_COUNT,
    AlertPayload,
    AlertStoredPayload,
    IncidentChangedPayload,
    IncidentStatus,
    LogRecord,
    LogsPayload,
    Severity,
    TimelineKind,
)


def test_overlong_labels_and_annotations_are_cut_and_the_event_kept() -> None:
    alert = AlertPayload(fingerprint="f", title="t", labels={"k" * 500: "v" * 5_000, "env": "prod"},
                         annotations={"runbook": "r" * 10_000})
    assert {len(k) for k in alert.labels} == {LABEL_KEY_MAX_CHARS, 3}
    assert len(alert.labels["k" * LABEL_KEY_MAX_CHARS]) == LABEL_VALUE_MAX_CHARS
    assert alert.labels["env"] == "prod"
    assert len(alert.annotations["runbook"]) == ANNOTATION_VALUE_MAX_CHARS


def _dropped(field: str) -> float:
    return REGISTRY.get_sample_value("aiops_event_labels_dropped_total", {"field": field}) or 0.0


def test_labels_past_the_count_bound_are_dropped_counted_and_the_event_kept(caplog) -> None:
    """A 5 MB body could carry 200,000 labels on one alert, stored in JSONB and copied into incidents. Dropped
    ones are counted in a metric, not a warning per event (a batch of such events would flood the log)."""
    many = {f"k{i}": "v" for i in range(200_000)}
    before = _dropped("labels"), _dropped("annotations")
    alert = AlertPayload(fingerprint="f", title="t", labels=many, annotations=many)
    assert list(alert.labels) == list(alert.annotations) == [f"k{i}" for i in range(LABELS_MAX_COUNT)]
    assert (_dropped("labels"), _dropped("annotations")) == tuple(n + 200_000 - LABELS_MAX_COUNT for n in before)
    assert not caplog.records
    record = LogsPayload(labels=many, records=[LogRecord(message="m", labels=many)])
    assert len(record.labels) == len(record.records[0].labels) == LABELS_MAX_COUNT
    assert AlertPayload(fingerprint="f", title="t", labels={"env": "prod"}).labels == {"env": "prod"}


def test_the_annotations_the_alert_is_read_by_are_kept_whatever_their_place() -> None:
    """Alertmanager's title, description and runbook link come from these; late in the JSON, past the count
    bound, they are kept before the others."""
    known = {"summary": "disk full", "description": "/var at 99%", "message": "m", "runbook_url": "http://rb"}
    alert = AlertPayload(fingerprint="f", title="t", annotations={**{f"k{i}": "v" for i in range(100)}, **known})
    assert list(alert.annotations)[:4] == list(known) and len(alert.annotations) == LABELS_MAX_COUNT
    assert list(alert.annotations)[4:] == [f"k{i}" for i in range(LABELS_MAX_COUNT - 4)]


def test_nul_in_an_alert_is_replaced_in_every_text_it_holds() -> None:
    """PostgreSQL refuses NUL in text and JSONB: an alert holding one was accepted, then dead-lettered."""
    alert = AlertPayload.model_validate({
        "fingerprint": "fp\0", "title": "disk\0full", "description": "\0", "host": "web\0", "service": "api\0",
        "labels": {"k\0": "v\0"}, "annotations": {"summary": "a\0"}, "url": "http://x/\0",
        "details": {"exception": [{"value": "bad\0byte", "lineno": 3}], "big": 2**70}})
    assert "\0" not in str(alert.model_dump()) and alert.model_dump()["details"] == {
        "exception": [{"value": "bad\ufffdbyte", "lineno": 3}], "big": 2**70}
    assert (alert.title, alert.labels) == ("disk\ufffdfull", {"k\ufffd": "v\ufffd"})
    plain = {"fingerprint": "fp", "title": "disk full", "details": {"sample": {"value": "\\u0000 as text"}}}
    assert AlertPayload.model_validate(plain).model_dump(exclude_unset=True) == plain  # unchanged, nothing more set


def nested(levels: int, leaf: str) -> list:
    value: list | str = leaf
    for _ in range(levels):
        value = [value]
    return value  # type: ignore[return-value]


def test_an_alert_nested_deeper_than_a_stream_entry_holds_is_refused_not_a_recursion_error() -> None:
    """Looking for NUL walked such details in Python: RecursionError from about 500 levels. orjson, which writes
    every stream entry, writes MAX_NESTING levels and no more, so nothing deeper is worth walking."""
    orjson.dumps(nested(MAX_NESTING, "x"))
    with pytest.raises(orjson.JSONEncodeError):
        orjson.dumps(nested(MAX_NESTING + 1, "x"))
    for leaf in ("x", "x\0"):
        with pytest.raises(ValidationError, match=f"nested deeper than {MAX_NESTING} levels"):
            AlertPayload(fingerprint="f", title="t", details={"d": nested(1_000, leaf)})
    deepest = MAX_NESTING - 2  # the alert's fields and its details are two of the levels
    alert = AlertPayload(fingerprint="f", title="t", details={"d": nested(deepest, "x\0")})
    assert alert.details == {"d": nested(deepest, "x\ufffd")}


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


def _cut_in_python(value_max: int):  # the labels validator before the bounds went to pydantic's core
    def cut(labels: dict[str, str]) -> dict[str, str]:
        if all(len(k) <= LABEL_KEY_MAX_CHARS and len(v) <= value_max for k, v in labels.items()):
            return labels
        return {k[:LABEL_KEY_MAX_CHARS]: v[:value_max] for k, v in labels.items()}
    return cut


PythonLabels = Annotated[dict[str, str], AfterValidator(_cut_in_python(LABEL_VALUE_MAX_CHARS))]
PythonAnnotations = Annotated[dict[str, str], AfterValidator(_cut_in_python(ANNOTATION_VALUE_MAX_CHARS))]


class PythonRecord(LogRecord):
    labels: PythonLabels = Field(default_factory=dict)


class PythonLogs(LogsPayload):
    records: list[PythonRecord]
    labels: PythonLabels = Field(default_factory=dict)


class PythonAlert(AlertPayload):
    labels: PythonLabels = Field(default_factory=dict)
    annotations: PythonAnnotations = Field(default_factory=dict)


def _near(bound: int) -> st.SearchStrategy[str]:
    """A text a few characters either side of a bound, of ASCII, accents, emoji, NUL or a lone surrogate."""
    return st.builds(lambda char, n, tail: (char * n)[:max(n - len(tail), 0)] + tail,
                     st.sampled_from(["k", "é", "😀", "\x00", "\ud800"]), st.integers(bound - 2, bound + 2),
                     st.sampled_from(["", "é", "😀", "\udfff"]))


_TEXT = st.one_of(st.text(max_size=4), _near(LABEL_KEY_MAX_CHARS), _near(LABEL_VALUE_MAX_CHARS),
                  _near(ANNOTATION_VALUE_MAX_CHARS))
_ODD_KEY = st.one_of(st.none(), st.integers(), st.floats(allow_nan=False), st.booleans(), st.binary(max_size=4),
                     st.just(Severity.high))
_ODD = st.one_of(_ODD_KEY, st.lists(st.text(max_size=2), max_size=2))
_LABELS = st.one_of(st.dictionaries(_TEXT, _TEXT, max_size=4),
                    st.dictionaries(st.one_of(_TEXT, _ODD_KEY), st.one_of(_TEXT, _ODD), max_size=3), _ODD, _TEXT)


def _outcome(validate, data):
    try:
        return validate(data).model_dump()
    except ValidationError as exc:
        return exc.errors(include_url=False)


@settings(max_examples=400, deadline=None)
@given(own=_LABELS, shared=_LABELS, annotations=_LABELS)
def test_labels_checked_in_pydantic_core_accept_refuse_and_cut_as_the_python_validator(own, shared, annotations):
    logs = {"records": [{"message": "m"}, {"message": "m", "labels": own}], "labels": shared}
    alert = {"fingerprint": "f", "title": "t", "labels": own, "annotations": annotations}
    assert _outcome(LogsPayload.model_validate, logs) == _outcome(PythonLogs.model_validate, logs)
    assert _outcome(AlertPayload.model_validate, alert) == _outcome(PythonAlert.model_validate, alert)
    try:
        as_json = orjson.dumps(logs)
    except TypeError:  # a lone surrogate or bytes: not JSON
        return
    assert _outcome(LogsPayload.model_validate_json, as_json) == _outcome(PythonLogs.model_validate_json, as_json)


def test_labels_are_documented_as_before() -> None:
    for mode in ("validation", "serialization"):
        for ours, before in ((LogRecord, PythonRecord), (AlertPayload, PythonAlert)):
            assert ours.model_json_schema(mode=mode)["properties"] == before.model_json_schema(mode=mode)["properties"]
        assert (LogsPayload.model_json_schema(mode=mode)["properties"]["labels"]
                == PythonLogs.model_json_schema(mode=mode)["properties"]["labels"])


@pytest.mark.parametrize("at", ["0001-01-01T00:00:00Z", "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00",
                                "1970-01-01T00:00:00", 0])
def test_an_event_time_far_from_now_reads_as_absent(at: object) -> None:
    """Go's zero time (an Alertmanager or SDK field never set), 1970 or 9999: the event takes the time it was received,
    as one without a time does."""
    stored = {"alert_id": "a", "fingerprint": "f", "title": "t", "severity": "high", "status": "firing", "source": "s"}
    assert AlertPayload(fingerprint="f", title="t", occurred_at=at).occurred_at is None
    assert AlertStoredPayload.model_validate_json(orjson.dumps({**stored, "occurred_at": at})).occurred_at is None
    assert LogRecord(message="m", timestamp=at).timestamp is None


@pytest.mark.parametrize("at", ["2005-06-03T15:42:00", datetime(2005, 6, 3, 15, 42)])
def test_an_event_time_without_offset_is_utc(at: object) -> None:
    """A generic webhook's occurred_at or an Alertmanager startsAt without an offset: mixed with aware times, it could
    not be compared to them (the alert store's batch raised TypeError and went entry by entry)."""
    utc = datetime(2005, 6, 3, 15, 42, tzinfo=UTC)
    stored = {"alert_id": "a", "fingerprint": "f", "title": "t", "severity": "high", "status": "firing", "source": "s"}
    for model, value in ((AlertPayload(fingerprint="f", title="t", occurred_at=at), "occurred_at"),
                         (AlertStoredPayload.model_validate({**stored, "occurred_at": at}), "occurred_at"),
                         (LogRecord(message="m", timestamp=at), "timestamp")):
        assert getattr(model, value) == utc and getattr(model, value).utcoffset() == timedelta(0)
    assert AlertPayload(fingerprint="f", title="t", occurred_at="1970-01-01T00:00:00").occurred_at is None


def test_an_event_time_near_now_is_kept_as_given_and_a_bad_one_refused_as_before() -> None:
    for at in (datetime.now(timezone(timedelta(hours=8))), datetime(2005, 6, 3, 15, 42, tzinfo=UTC),
               datetime.now(UTC) + timedelta(days=400)):
        assert LogRecord(message="m", timestamp=at).timestamp == at and AlertPayload(
            fingerprint="f", title="t", occurred_at=at.isoformat()).occurred_at.utcoffset() == at.utcoffset()
    with pytest.raises(ValidationError, match="timestamp"):
        LogRecord(message="m", timestamp="soon")
    assert LogRecord.model_json_schema()["properties"]["timestamp"] == {
        "anyOf": [{"format": "date-time", "type": "string"}, {"type": "null"}], "default": None, "title": "Timestamp"}
