"""Batch writes as ONE short statement: the rows travel as a single JSONB parameter read back with
`jsonb_to_recordset`. A multi-row VALUES list grows with the batch, and psycopg re-parses such long
statements on every call (it caches only short ones): at a few thousand rows a second that parsing,
not PostgreSQL, was most of the worker's time."""

from collections.abc import Iterable
from typing import Any

import orjson
from sqlalchemy import Column, String, bindparam, cast, column, func, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql import Select


def rows_select(columns: Iterable[Column[Any]]) -> Select[Any]:
    """`SELECT <columns> FROM jsonb_to_recordset(:rows)` typed like the table's columns.

    Use with `insert(Table).from_select([c.name for c in columns], rows_select(columns))`, built once (building a
    statement costs milliseconds of CPU: more than its batch's rows cost to encode), executed with `rows_param`.
    """
    columns = list(columns)
    payload = bindparam("rows", type_=String)
    recordset = func.jsonb_to_recordset(cast(payload, JSONB)).table_valued(
        *(column(c.name, c.type) for c in columns)).render_derived(name="batch", with_types=True)
    return select(*(recordset.c[c.name] for c in columns))


def rows_param(rows: list[dict[str, Any]]) -> dict[str, str]:
    """The parameters of a `rows_select` statement for `rows`: encoded by orjson (datetimes as ISO 8601, UUIDs as
    text), which PostgreSQL casts back."""
    return {"rows": orjson.dumps(rows).decode()}
