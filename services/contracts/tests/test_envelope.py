"""Event ids: random version 4 UUIDs written as 32 hex digits, as uuid4().hex writes them."""

import uuid

from aiops_contracts.envelope import new_event_id


def test_event_ids_are_distinct_version_4_uuids_in_hex() -> None:
    ids = {new_event_id() for _ in range(10_000)}
    assert len(ids) == 10_000
    parsed = [uuid.UUID(hex=event_id) for event_id in ids]
    assert all(u.version == 4 and u.variant == uuid.RFC_4122 for u in parsed)
    assert {u.hex for u in parsed} == ids  # lower case, no dashes, leading zeros kept
