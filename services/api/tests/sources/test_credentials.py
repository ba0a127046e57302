"""Source tokens: word characters only (Sentry's SDKs refuse a DSN key with `-`); older tokens with `-` still work."""

import asyncio
import logging
import re

from sqlalchemy import event

from aiops_api.sources.credentials import SourceCredentials, hash_token, new_token
from aiops_contracts.db import Source

LEGACY_TOKEN = "aiops_Zk3-pQ9x_T1-vW8yB2nC4mD6fG0hJ5kL7rS9tU1wX3z"  # the former token_urlsafe form


def test_new_tokens_are_word_characters_only() -> None:
    tokens = {new_token() for _ in range(1_000)}
    assert len(tokens) == 1_000
    assert all(re.fullmatch(r"aiops_\w{64}", token) for token in tokens)


async def test_a_token_with_a_dash_from_before_keeps_working(client, sessions) -> None:
    async with sessions() as session:
        session.add(Source(name="old-nagios", kind="generic", config={}, token_hash=hash_token(LEGACY_TOKEN),
                           token_prefix=LEGACY_TOKEN[:12], enabled=True))
        await session.commit()
    response = await client.post("/webhooks/generic", json={"title": "Disk full"}, headers={"X-AIOps-Token": LEGACY_TOKEN})
    assert response.status_code == 202, response.text


async def test_requests_arriving_together_look_a_token_up_once(engine, sessions, make_source) -> None:
    known = (await make_source("busy")).token
    lookups: list[str] = []

    def count(_conn, _cursor, statement: str, *_args) -> None:
        if "FROM sources" in statement:
            lookups.append(statement)

    credentials = SourceCredentials(sessions, cache_seconds=60, max_misses=10)
    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        found = await asyncio.gather(*(credentials.authenticate(known) for _ in range(16)))
        unknown = await asyncio.gather(*(credentials.authenticate("aiops_unknown") for _ in range(16)))
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
    assert {identity.name for identity in found} == {"busy"}
    assert unknown == [None] * 16
    assert len(lookups) == 2  # one per token, not one per request


async def test_a_source_holding_a_reserved_name_is_not_trusted(client, sessions, caplog) -> None:
    # Migration 0027 renames those created before the names were refused; one left (a name reserved later, before
    # its revision) must not post alerts passing for the worker's own, and the log says why and what to do.
    async with sessions() as session:
        session.add(Source(name="Pipelines", kind="generic", config={}, token_hash=hash_token(LEGACY_TOKEN),
                           token_prefix=LEGACY_TOKEN[:12], enabled=True))
        await session.commit()
    with caplog.at_level(logging.WARNING, logger="aiops_api.sources.credentials"):
        response = await client.post("/webhooks/generic", json={"title": "Build failed"},
                                     headers={"X-AIOps-Token": LEGACY_TOKEN})
    assert response.status_code == 401, response.text
    assert [(r.getMessage(), r.source) for r in caplog.records if r.name == "aiops_api.sources.credentials"] == [
        ("source refused: its name is reserved for the worker's own alerts (the migrations rename it)", "Pipelines")]
