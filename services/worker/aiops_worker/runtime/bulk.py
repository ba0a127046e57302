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


def rows_select(columns: Iterable[Column[Any]], rows: list[dict[str, Any]]) -> Select[Any]:
    """`SELECT <columns> FROM jsonb_to_recordset(:rows)` typed like the table's columns.

    Use with `insert(Table).from_select([c.name for c in columns], rows_select(columns, rows))`.
    Values are encoded by orjson (datetimes as ISO 8601, UUIDs as text), which PostgreSQL casts back.
    """
    columns = list(columns)
    payload = bindparam("rows", orjson.dumps(rows).decode(), type_=String)
    recordset = func.jsonb_to_recordset(cast(payload, JSONB)).table_valued(
        *(column(c.name, c.type) for c in columns)).render_derived(name="batch", with_types=True)
    return select(*(recordset.c[c.name] for c in columns))
