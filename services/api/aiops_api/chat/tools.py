"""The platform's read queries offered to an LLM as function tools (the same ones the intent parser routes
to): the model picks and parameterises them, we validate the arguments and run them with the caller's role
(every query is a viewer's read; none runs an automation). Results go back as quoted data."""

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field, ValidationError

from aiops_api.chat.intents import Intent
from aiops_api.metrics.params import influx_time

DESCRIPTIONS = {
    "open": "Open (not resolved) incidents, newest first; optionally in a time range.",
    "host": "Incidents involving one host (open ones unless a time range is given).",
    "service": "Incidents involving one service, optionally in a time range.",
    "incident": "One incident by id: title, summary, probable cause.",
    "similar": "Earlier resolved incidents like the latest one on a host or service, with time to resolve.",
    "capacity": "Metric series (disks, memory) forecast to cross their limit within a week; optionally one host.",
    "noise": "Alert volume per alert in a time range (default: the last day); optionally one source.",
    "anomalies": "Anomalies the detector found in metrics in a time range (default: the last day); optionally one host.",
    "templates": "Log templates nearest in meaning to `text` (what to look for, in words), with counts.",
    "metrics": "Latest CPU, memory, fullest disk and load per host (or of one host) over the range (default 1 h).",
}


# A time without an offset is UTC; one InfluxDB cannot hold is refused (said back to the model).
InfluxTime = Annotated[datetime | None, AfterValidator(influx_time)]


class ToolArgs(BaseModel):
    host: str | None = Field(default=None, max_length=255)
    service: str | None = Field(default=None, max_length=255)
    source: str | None = Field(default=None, max_length=100)
    incident_id: uuid.UUID | None = None
    since: InfluxTime = None
    until: InfluxTime = None
    text: str = Field(default="", max_length=500)


def _spec(kind: str) -> dict[str, Any]:
    schema = ToolArgs.model_json_schema()
    return {"type": "function", "function": {"name": f"query_{kind}", "description": DESCRIPTIONS[kind],
                                             "parameters": {"type": "object", "properties": schema["properties"]}}}


TOOL_SPECS = [_spec(kind) for kind in DESCRIPTIONS]


class BadToolCall(ValueError):
    """The model named an unknown tool or gave arguments the tool refuses (said back to the model)."""


def intent_of_call(name: str, arguments: str, now: datetime) -> Intent:
    kind = name.removeprefix("query_")
    if kind not in DESCRIPTIONS:
        raise BadToolCall(f"unknown tool {name!r}")
    try:
        args = ToolArgs.model_validate_json(arguments or "{}")
    except ValidationError as exc:
        first = exc.errors()[0]
        raise BadToolCall(f"bad arguments for {name}: {'.'.join(map(str, first['loc']))}: {first['msg']}") from exc
    if kind == "incident" and args.incident_id is None:
        raise BadToolCall("query_incident needs incident_id")
    if kind == "templates" and not args.text:
        raise BadToolCall("query_templates needs text")
    return Intent(kind, now=now, **args.model_dump())
