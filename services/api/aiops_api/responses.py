"""JSON bodies serialised once, by orjson, for the busiest read routes.

Such a route declares its model in `response_model` (the OpenAPI schema and the generated types stay the same)
and returns `json_response(...)` of plain rows: no model is built and validated per row, and FastAPI neither
validates nor encodes the body a second time. Datetimes come out as pydantic writes them (UTC as `Z`). The
rows are selected with `model_columns`: a JSONB column comes as PostgreSQL's own JSON text and goes into the
body as it is, never parsed into Python and encoded again (a page of 50 alerts holds 150 of them).
"""

from functools import cache
from typing import Any

import orjson
from fastapi import Response
from pydantic import BaseModel
from sqlalchemy import ColumnElement, Table, Text, TypeDecorator, cast
from sqlalchemy.dialects.postgresql import JSONB


def json_response(content: Any) -> Response:
    return Response(orjson.dumps(content, option=orjson.OPT_UTC_Z), media_type="application/json")


class JsonText(TypeDecorator[orjson.Fragment]):
    """A JSON value read as its text and handed to orjson as it is."""

    impl = Text
    cache_ok = True

    def process_result_value(self, value: str | None, dialect: Any) -> orjson.Fragment | None:
        return None if value is None else orjson.Fragment(value)


@cache
def model_columns(table: Table, model: type[BaseModel], *, json_text: bool) -> tuple[ColumnElement[Any], ...]:
    """The table's columns of `model`'s fields, in the model's order, to select rows that are `model`s: with
    `json_text`, JSONB ones as their JSON text, for json_response (built once per table and model: building the
    casts cost a busy read ~0.1 ms)."""
    columns = (table.c[name] for name in model.model_fields)
    return tuple(cast(column, JsonText).label(column.name) if json_text and isinstance(column.type, JSONB) else column
                 for column in columns)
