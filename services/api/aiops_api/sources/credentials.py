"""Webhook credentials: tokens are stored as SHA-256 digests and checked in constant time.

A short in-process cache keeps the ingest path off PostgreSQL; a revoked token stops working within
`source_cache_seconds`. Known and unknown tokens are cached apart: the known ones are bounded by the sources
that exist, the unknown ones by `source_cache_misses`, so spraying random tokens can never push a good token
out of the cache (and the rate limiter's failed-authentication limit bounds the lookups they cost).

Sentry's integration webhooks carry no token but an HMAC-SHA256 of the body, keyed with the client
secret Sentry generated for the integration. That secret must be readable to verify, so it lives in
the source's `config["client_secret"]`, encrypted with SECRETS_KEY (sources/secrets.py) and hidden from API
reads (sources/schemas.py); the body is checked against each signing source's secret in constant time.

A source holding a name the worker's own alerts carry (RESERVED_SOURCE_NAMES: refused at creation, and the
sources created before renamed by migration 0027) authenticates nothing, and is logged: what it posts would pass
for the worker's anomaly, forecast or pipeline alerts.
"""

import asyncio
import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiops_api.sources.secrets import MIN_SIGNING_SECRET_CHARS, SIGNING_SECRET_KEY
from aiops_contracts.db import Source
from aiops_contracts.pollers import WEBHOOK_SECRET_KEY
from aiops_contracts.secrets import SecretBox
from aiops_contracts.sources import is_reserved_source_name

TOKEN_PREFIX = "aiops_"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SourceIdentity:
    name: str
    kind: str
    token_hash: str
    config: dict[str, Any] = field(default_factory=dict)


def _signer(signers: list[tuple[SourceIdentity, bytes]], body: bytes, presented: bytes) -> SourceIdentity | None:
    for identity, secret in signers:
        if hmac.compare_digest(hmac.new(secret, body, hashlib.sha256).hexdigest().encode(), presented):
            return identity
    return None


def new_token() -> str:
    """Word characters only (`[A-Za-z0-9_]`): Sentry's SDKs take a DSN's public key as `\\w+` and refuse others.
    Older tokens may contain `-`; they keep working (only their digest is looked up)."""
    return TOKEN_PREFIX + secrets.token_hex(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SourceCredentials:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], cache_seconds: float, max_misses: int) -> None:
        self.sessions = sessions
        self.cache_seconds = cache_seconds
        self.max_misses = max_misses
        self._known: dict[str, tuple[float, SourceIdentity]] = {}
        self._unknown: dict[str, float] = {}  # digest -> until when it is known to be unknown
        self._signers: tuple[float, list[tuple[SourceIdentity, bytes]]] = (0.0, [])
        self._loading: dict[str, asyncio.Future[SourceIdentity | None]] = {}  # digest -> its lookup in flight

    async def authenticate(self, token: str) -> SourceIdentity | None:
        digest = hash_token(token)
        now = time.monotonic()
        known = self._known.get(digest)
        if known and known[0] > now:
            identity: SourceIdentity | None = known[1]
        elif self._unknown.get(digest, 0.0) > now:
            return None
        else:
            identity = await self._look_up(digest)
        if identity is None or not hmac.compare_digest(identity.token_hash, digest):
            return None
        return identity

    async def _look_up(self, digest: str) -> SourceIdentity | None:
        """One lookup of a token, however many requests carry it when it is not cached: when a busy source's entry
        expires, each of its requests in flight looked it up (16 at once in the alerts bench), holding as many
        pooled connections and opening overflow ones. Shielded: a caller that goes away does not cancel the
        others' lookup."""
        loading = self._loading.get(digest)
        if loading is None:
            loading = self._loading[digest] = asyncio.ensure_future(self._load_and_remember(digest))
            loading.add_done_callback(lambda _: self._loading.pop(digest, None))
        return await asyncio.shield(loading)

    async def _load_and_remember(self, digest: str) -> SourceIdentity | None:
        identity = await self._load(digest)
        self._remember(digest, identity, time.monotonic() + self.cache_seconds)
        return identity

    def _remember(self, digest: str, identity: SourceIdentity | None, until: float) -> None:
        if identity is not None:
            self._unknown.pop(digest, None)
            self._known[digest] = (until, identity)
            return
        self._known.pop(digest, None)
        if len(self._unknown) >= self.max_misses:
            self._unknown.clear()
        self._unknown[digest] = until

    async def authenticate_signature(self, body: bytes, signature: str, box: SecretBox) -> SourceIdentity | None:
        """The source whose signing secret produced `signature` (hex HMAC-SHA256 of the raw body)."""
        presented = signature.strip().lower().encode("utf-8", "replace")
        # One HMAC of the whole body (up to the size limit) per signing source is CPU work: hashlib releases the
        # GIL on large inputs, so it runs in a thread and the event loop keeps serving.
        return await asyncio.to_thread(_signer, await self._signing_sources(box), body, presented)

    async def _signing_sources(self, box: SecretBox) -> list[tuple[SourceIdentity, bytes]]:
        expires, signers = self._signers
        if expires > time.monotonic():
            return signers
        async with self.sessions() as session:
            # Sentry's client secret in config; a polled source's webhook secret (GitHub) in its credentials.
            rows = await session.scalars(select(Source).where(
                Source.enabled, Source.revoked_at.is_(None),
                Source.config.has_key(SIGNING_SECRET_KEY) | Source.credentials.has_key(WEBHOOK_SECRET_KEY)))
            opened = [(_identity(s), box.open(s.config.get(SIGNING_SECRET_KEY) or s.credentials[WEBHOOK_SECRET_KEY]))
                      for s in rows if _trusted(s)]
        # A secret another key sealed, or a short one stored before the minimum, signs nothing.
        signers = [(i, secret.encode()) for i, secret in opened if secret and len(secret) >= MIN_SIGNING_SECRET_CHARS]
        self._signers = (time.monotonic() + self.cache_seconds, signers)
        return signers

    async def _load(self, digest: str) -> SourceIdentity | None:
        async with self.sessions() as session:
            source = await session.scalar(
                select(Source).where(Source.token_hash == digest, Source.enabled, Source.revoked_at.is_(None))
            )
        return _identity(source) if source and _trusted(source) else None


def _trusted(source: Source) -> bool:
    if not is_reserved_source_name(source.name):
        return True
    log.warning("source refused: its name is reserved for the worker's own alerts (the migrations rename it)",
                extra={"source": source.name, "source_id": str(source.id)})
    return False


def _identity(source: Source) -> SourceIdentity:
    return SourceIdentity(source.name, source.kind, source.token_hash, dict(source.config or {}))
