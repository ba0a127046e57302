"""Webhook signing secrets at rest (Sentry's client secret, in a source's `config["client_secret"]`).

They must be readable to verify signatures, so they are encrypted, not hashed, by aiops_contracts/secrets.py
(the worker opens polled sources' credentials with the same box). Secrets stored in
plain text by earlier versions are sealed when the API starts; with no SECRETS_KEY and a stored secret, the API
refuses to start.
"""

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiops_api.errors import STORE_ERRORS, BadRequest
from aiops_contracts.db import Source
from aiops_contracts.secrets import SecretBox

SIGNING_SECRET_KEY = "client_secret"  # the config key of a source's webhook signing secret
MIN_SIGNING_SECRET_CHARS = 32  # Sentry's client secrets are 64 hex characters

log = logging.getLogger(__name__)


def seal_config(config: dict[str, Any], box: SecretBox | None) -> dict[str, Any]:
    """A new source's config with its signing secret sealed."""
    if SIGNING_SECRET_KEY not in config:
        return config
    if box is None:
        raise BadRequest(f"config.{SIGNING_SECRET_KEY}: this API cannot store secrets, SECRETS_KEY is not set "
                         "(set it and restart the API)")
    return {**config, SIGNING_SECRET_KEY: box.seal(config[SIGNING_SECRET_KEY])}


async def seal_stored_secrets(sessions: async_sessionmaker[AsyncSession], box: SecretBox | None) -> int:
    """At start: seals the secrets earlier versions stored in plain text; returns how many. Refuses to go on
    without SECRETS_KEY while any source stores a secret. With PostgreSQL down the API still starts (requests
    answer 503 until it is back) and the sealing waits for the next start."""
    try:
        return await _seal_plain_secrets(sessions, box)
    except STORE_ERRORS["postgresql"]:
        log.warning("stored secrets not checked: PostgreSQL unavailable, sealing waits for the next start")
        return 0


async def _seal_plain_secrets(sessions: async_sessionmaker[AsyncSession], box: SecretBox | None) -> int:
    async with sessions() as session:
        rows = list(await session.scalars(
            select(Source).where(Source.config.has_key(SIGNING_SECRET_KEY)).with_for_update()))
        if rows and box is None:
            raise RuntimeError(f"SECRETS_KEY is not set, but {len(rows)} source(s) store a webhook signing secret "
                               "(Sentry client secret): set SECRETS_KEY (scripts/run.sh and compose generate one)")
        plain = [source for source in rows if isinstance(source.config[SIGNING_SECRET_KEY], str)]
        for source in plain:
            source.config = seal_config(source.config, box)
        await session.commit()
    return len(plain)
