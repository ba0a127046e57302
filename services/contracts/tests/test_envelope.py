"""Event ids: random version 4 UUIDs written as 32 hex digits, as uuid4().hex writes them; how deep a value nests."""

import uuid

import orjson

from aiops_contracts.envelope import MAX_NESTING, Envelope, nests_within, new_event_id


def test_event_ids_are_distinct_version_4_uuids_in_hex() -> None:
    ids = {new_event_id() for _ in range(10_000)}
    assert len(ids) == 10_000
    parsed = [uuid.UUID(hex=event_id) for event_id in ids]
    assert all(u.version == 4 and u.variant == uuid.RFC_4122 for u in parsed)
    assert {u.hex for u in parsed} == ids  # lower case, no dashes, leading zeros kept


def test_nests_within_counts_levels_of_objects_and_arrays_as_orjson_writes_them() -> None:
    deepest = orjson.loads(b"[" * MAX_NESTING + b"]" * MAX_NESTING)  # what a stream entry holds at most
    assert nests_within(deepest, MAX_NESTING) and not nests_within(deepest, MAX_NESTING - 1)
    assert not nests_within([deepest], MAX_NESTING)
    assert nests_within("text", 0) and nests_within({"a": 1}, 1) and not nests_within({"a": [1]}, 1)
    assert nests_within({"a": [1], "b": {"c": {}}}, 3) and not nests_within({"a": [1], "b": {"c": {"d": []}}}, 3)
    entry = Envelope(type="t", source="s", payload={"v": orjson.loads(b"[" * (MAX_NESTING - 2) + b"]" * (MAX_NESTING - 2))})
    assert entry.to_entry()  # a payload member nests MAX_NESTING - 2 levels under the envelope and payload objects
