"""Source tokens: word characters only (Sentry's SDKs refuse a DSN key with `-`); older tokens with `-` still work."""

import re

from aiops_api.sources.credentials import hash_token, new_token
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
