"""Query parameters of the metric reads (metrics, anomalies, forecasts): durations, InfluxDB times, names."""

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Query
from pydantic import AfterValidator, WithJsonSchema

from aiops_api.errors import BadRequest
from aiops_contracts.influx import EARLIEST_TIME, IDENTIFIER, LATEST_TIME

_DURATION = re.compile(r"^(\d{1,4})([mhdw])$")
_UNIT_S = {"m": 60, "h": 3_600, "d": 86_400, "w": 604_800}


def parse_duration(text: str, name: str, maximum: timedelta) -> timedelta:
    """`30m`, `12h`, `7d`, `2w`: what a person types, bounded by `maximum`."""
    match = _DURATION.fullmatch(text.strip())
    if not match:
        raise BadRequest(f"{name}: expected a duration like 30m, 12h, 7d or 2w, got {text!r}")
    duration = timedelta(seconds=int(match.group(1)) * _UNIT_S[match.group(2)])
    if not timedelta(0) < duration <= maximum:
        raise BadRequest(f"{name}: must be above 0 and at most {maximum.days} days")
    return duration


# ISO 8601 with an offset (RFC 3339), or without one (read as UTC): the schema says both, so clients and the
# schemathesis run send both.
_TIME_SCHEMA = {"anyOf": [{"type": "string", "format": "date-time"},
                          {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?$"}]}
# Examples by name: schemathesis sends same-named examples of start and end in one request.
_EXAMPLES = {
    "aware": ("with offsets", "2026-01-15T11:00:00+01:00", "2026-01-15T13:00:00+01:00"),
    "naive start": ("a naive start (UTC) with an aware end", "2026-01-15T11:00:00", "2026-01-15T13:00:00+01:00"),
    "year 1": ("outside InfluxDB's range: 422", "0001-01-01T00:00:00", "0001-01-01T00:00:00Z"),
    "year 1 end": ("an end outside InfluxDB's range: 422", "2026-01-15T11:00:00Z", "0001-01-01T00:00:00+05:00"),
}


def influx_time(value: datetime | None) -> datetime | None:
    """`value` with its offset (UTC when it has none), refused outside the times InfluxDB can hold."""
    if value is None:
        return None
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    if not EARLIEST_TIME <= aware <= LATEST_TIME:
        raise ValueError(f"must be between {EARLIEST_TIME:%Y-%m-%d} and {LATEST_TIME:%Y-%m-%d} (the times InfluxDB "
                         "can hold)")
    return aware


def _examples(position: int) -> dict[str, Any]:
    return {name: {"summary": summary, "value": values[position]} for name, (summary, *values) in _EXAMPLES.items()}


_TIME_DESCRIPTION = "ISO 8601, read as UTC without an offset; from 1678-01-01 to 2262-01-01"
StartTime = Annotated[datetime | None, AfterValidator(influx_time), WithJsonSchema(_TIME_SCHEMA),
                      Query(description=_TIME_DESCRIPTION, openapi_examples=_examples(0))]
EndTime = Annotated[datetime | None, AfterValidator(influx_time), WithJsonSchema(_TIME_SCHEMA),
                    Query(description=_TIME_DESCRIPTION, openapi_examples=_examples(1))]


Name = Annotated[str, Query(max_length=200, description="letters, digits, _ . : -")]


def check_identifier(value: str | None, name: str) -> str | None:
    """Measurement and field names as Telegraf writes them; anything else is refused, never queried."""
    if value is not None and not IDENTIFIER.fullmatch(value):
        raise BadRequest(f"{name}: invalid name {value[:80]!r}: use letters, digits, _ . : -")
    return value
