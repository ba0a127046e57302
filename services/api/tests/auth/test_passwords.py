"""Argon2 (about 160 ms of CPU per hash or verify) runs in the password pool, never on the event loop, and at
most PASSWORD_HASH_CONCURRENCY at once."""

import asyncio
import threading
import time

import argon2
import pytest

CONCURRENCY = 2


@pytest.fixture
def api_settings(api_settings):
    return api_settings.model_copy(update={"password_hash_concurrency": CONCURRENCY})


@pytest.fixture
def argon2_calls(monkeypatch) -> list[tuple[str, int, float]]:
    """(thread name, verifications running as it started, its wall seconds) of each argon2 verify: argon2 is a
    third party."""
    calls: list[tuple[str, int, float]] = []
    running = [0]
    lock = threading.Lock()
    verify = argon2.PasswordHasher.verify

    def recorded(self, *args, **kwargs):
        with lock:
            running[0] += 1
            started = running[0]
        began = time.perf_counter()
        try:
            return verify(self, *args, **kwargs)
        finally:
            with lock:
                running[0] -= 1
                calls.append((threading.current_thread().name, started, time.perf_counter() - began))

    monkeypatch.setattr(argon2.PasswordHasher, "verify", recorded)
    return calls


async def test_logins_verify_off_the_event_loop_within_the_cap(client, make_user, user_password, argon2_calls) -> None:
    await make_user("alice")
    logins = [client.post("/api/v1/auth/login", data={"username": "alice", "password": user_password})
              for _ in range(3 * CONCURRENCY)]
    assert {r.status_code for r in await asyncio.gather(*logins)} == {200}
    assert len(argon2_calls) == 3 * CONCURRENCY
    assert threading.main_thread().name not in {name for name, _, _ in argon2_calls}
    assert max(running for _, running, _ in argon2_calls) <= CONCURRENCY


async def test_the_loop_answers_health_during_logins(client, make_user, user_password, argon2_calls) -> None:
    await make_user("alice")
    logins = asyncio.gather(*[client.post("/api/v1/auth/login", data={"username": "alice", "password": user_password})
                              for _ in range(2 * CONCURRENCY)])
    lags = []
    while not logins.done():  # how late a 5 ms sleep wakes up, and /health, while the logins run
        started = time.perf_counter()
        await asyncio.sleep(0.005)
        assert (await client.get("/health")).status_code == 200
        lags.append(time.perf_counter() - started)
    await logins
    # On the loop, a verify would hold it for its whole duration (or several back to back): some lag would last
    # at least as long as the shortest of these verifies, timed under the same load as the lags; generous bound.
    shortest_verify = min(seconds for _, _, seconds in argon2_calls)
    assert max(lags) < max(shortest_verify, 0.1), (max(lags), shortest_verify)
