"""Text that every store takes: PostgreSQL refuses NUL in text and JSONB values (`\u0000`), so a NUL that
arrives in a log line is replaced at the edge (webhooks, producers) and again before anything is stored; an
alert's, wherever its payload is validated (AlertPayload)."""

from typing import Any

import orjson

from aiops_contracts.envelope import MAX_NESTING

NUL_REPLACEMENT = "\ufffd"
_NUL_IN_JSON = b"\\u0000"  # how orjson writes NUL


def without_nul(text: str) -> str:
    """`text` with each NUL character replaced by U+FFFD (the character that marks undecodable input)."""
    return text.replace("\0", NUL_REPLACEMENT) if "\0" in text else text


def without_nul_in(value: Any) -> Any:
    """`value` with NUL replaced in every string it holds (dict keys and values, list items, nested); `value` itself
    when it holds none. One serialisation in C tells; only a value that holds one, or that orjson cannot write (an
    integer past 64 bits, more than MAX_NESTING levels), is walked in Python. Raises ValueError for a value nested
    deeper than MAX_NESTING levels: no stream entry can hold it, and walking it all would pass Python's recursion
    limit (RecursionError from about 500 levels)."""
    try:
        if _NUL_IN_JSON not in orjson.dumps(value, default=str):
            return value
    except orjson.JSONEncodeError:
        pass
    return _replaced(value, MAX_NESTING)


def _replaced(value: Any, levels: int) -> Any:
    """`value` with NUL replaced, where `levels` more levels of dicts and lists may nest."""
    if isinstance(value, str):
        return without_nul(value)
    if isinstance(value, dict | list) and levels == 0:
        raise ValueError(f"nested deeper than {MAX_NESTING} levels of objects and arrays")
    if isinstance(value, dict):
        return {_replaced(k, 0): _replaced(v, levels - 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_replaced(v, levels - 1) for v in value]
    return value
