"""JSON bodies serialised once, by orjson, for the busiest read routes.

Such a route declares its model in `response_model` (the OpenAPI schema and the generated types stay the same)
and returns `json_response(...)` of plain rows: no model is built and validated per row, and FastAPI neither
validates nor encodes the body a second time. Datetimes come out as pydantic writes them (UTC as `Z`). The
rows are selected with `response_columns`: a JSONB column comes as PostgreSQL's own JSON text and goes into the
body as it is, never parsed into Python and encoded again (a page of 50 alerts holds 150 of them).
"""

from functools import cache
from typing import Any

import orjson
from fastapi import Response
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
def response_columns(table: Table) -> tuple[ColumnElement[Any], ...]:
    """The table's columns to select for json_response: JSONB ones as their JSON text (built once per table:
    building the casts cost a busy read ~0.1 ms)."""
    return tuple(cast(column, JsonText).label(column.name) if isinstance(column.type, JSONB) else column
                 for column in table.columns)
