"""Webhook signing secrets at rest (Sentry's client secret, in a source's `config["client_secret"]`).

They must be readable to verify signatures, so they are encrypted, not hashed: Fernet (AES-128-CBC and
HMAC-SHA256) with a key derived from SECRETS_KEY by HKDF, stored as `{"fernet": "<token>"}`. Secrets stored in
plain text by earlier versions are sealed when the API starts; with no SECRETS_KEY and a stored secret, the API
refuses to start.
"""

import base64
import logging
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiops_api.errors import STORE_ERRORS, BadRequest
from aiops_contracts.db import Source

SIGNING_SECRET_KEY = "client_secret"  # the config key of a source's webhook signing secret
MIN_SIGNING_SECRET_CHARS = 32  # Sentry's client secrets are 64 hex characters
_SEALED = "fernet"

log = logging.getLogger(__name__)


class SecretBox:
    def __init__(self, secrets_key: str) -> None:
        key = HKDF(hashes.SHA256(), 32, salt=None, info=b"aiops source signing secrets").derive(secrets_key.encode())
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def seal(self, secret: str) -> dict[str, str]:
        return {_SEALED: self._fernet.encrypt(secret.encode()).decode()}

    def open(self, sealed: Any) -> str | None:
        """The secret, or None when `sealed` is not a sealed value of this key (another SECRETS_KEY, tampered)."""
        if not isinstance(sealed, dict) or not isinstance(sealed.get(_SEALED), str):
            return None
        try:
            return self._fernet.decrypt(sealed[_SEALED].encode()).decode()
        except InvalidToken:
            return None


def secret_box(secrets_key: str) -> SecretBox | None:
    return SecretBox(secrets_key) if secrets_key else None


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
