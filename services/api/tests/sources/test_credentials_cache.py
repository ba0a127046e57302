"""Unknown webhook tokens are cached apart from the known ones: sprayed misses never evict a good token."""

from sqlalchemy import update

from aiops_api.sources.credentials import SourceCredentials, hash_token
from aiops_contracts.db import Source

MISSES = 50  # SOURCE_CACHE_MISSES of this test; the default is 10,000


async def test_sprayed_unknown_tokens_do_not_evict_a_known_one(make_source, sessions, clean_db) -> None:
    source = await make_source("nagios")
    credentials = SourceCredentials(sessions, cache_seconds=600, max_misses=MISSES)
    assert (await credentials.authenticate(source.token)).name == "nagios"
    # Revoked behind the cache's back: the known token is served from the cache as long as it stays there.
    async with sessions() as session:
        await session.execute(update(Source).where(Source.token_hash == hash_token(source.token)).values(enabled=False))
        await session.commit()
    for i in range(2 * MISSES + 1):
        assert await credentials.authenticate(f"aiops_guess-{i}") is None
    assert (await credentials.authenticate(source.token)).name == "nagios"  # never reloaded: still cached


async def test_an_unknown_token_is_looked_up_once_per_cache_period(make_source, sessions, clean_db) -> None:
    credentials = SourceCredentials(sessions, cache_seconds=600, max_misses=MISSES)
    late = "aiops_created-after-the-first-miss"
    assert await credentials.authenticate(late) is None
    created = await make_source("late")
    assert await credentials.authenticate(created.token) is not None
    assert await credentials.authenticate(late) is None  # the miss is remembered
