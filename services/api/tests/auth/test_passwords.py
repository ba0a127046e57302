"""Argon2 (about 160 ms of CPU per hash or verify) runs in the password pool, never on the event loop, and at
most PASSWORD_HASH_CONCURRENCY at once."""

import asyncio
import threading

import argon2
import pytest

CONCURRENCY = 2


@pytest.fixture
def api_settings(api_settings):
    return api_settings.model_copy(update={"password_hash_concurrency": CONCURRENCY})


@pytest.fixture
def argon2_calls(monkeypatch) -> list[tuple[str, int]]:
    """(thread name, verifications running as it started) of each argon2 verify: argon2 is a third party."""
    calls: list[tuple[str, int]] = []
    running = [0]
    lock = threading.Lock()
    verify = argon2.PasswordHasher.verify

    def recorded(self, *args, **kwargs):
        with lock:
            running[0] += 1
            started = running[0]
        try:
            return verify(self, *args, **kwargs)
        finally:
            with lock:
                running[0] -= 1
                calls.append((threading.current_thread().name, started))

    monkeypatch.setattr(argon2.PasswordHasher, "verify", recorded)
    return calls


async def test_logins_verify_off_the_event_loop_within_the_cap(client, make_user, user_password, argon2_calls) -> None:
    await make_user("alice")
    logins = [client.post("/api/v1/auth/login", data={"username": "alice", "password": user_password})
              for _ in range(3 * CONCURRENCY)]
    assert {r.status_code for r in await asyncio.gather(*logins)} == {200}
    assert len(argon2_calls) == 3 * CONCURRENCY
    assert threading.main_thread().name not in {name for name, _ in argon2_calls}
    assert max(running for _, running in argon2_calls) <= CONCURRENCY


async def test_the_loop_answers_health_during_logins(client, make_user, user_password, argon2_calls,
                                                    monkeypatch) -> None:
    """Each verify returns only once the loop has answered a /health request since the verify began: on
    the loop, a verify would hold it, no answer could come, and its wait would run out. No time bound: a loaded
    machine only makes it slower."""
    await make_user("alice")
    answered = threading.Condition()
    health_answers = [0]
    waits: list[bool] = []  # per verify: whether the loop answered while it ran
    verify = argon2.PasswordHasher.verify  # argon2_calls' recording one

    def verify_while_the_loop_answers(self, *args, **kwargs):
        with answered:
            before = health_answers[0]
        try:
            return verify(self, *args, **kwargs)
        finally:
            with answered:  # after one wait ran out (a verify on the loop), the others do not wait again
                timeout_s = 0 if False in waits else 30
                waits.append(answered.wait_for(lambda: health_answers[0] > before, timeout=timeout_s))

    monkeypatch.setattr(argon2.PasswordHasher, "verify", verify_while_the_loop_answers)
    logins = asyncio.gather(*[client.post("/api/v1/auth/login", data={"username": "alice", "password": user_password})
                              for _ in range(2 * CONCURRENCY)])
    while not logins.done():
        assert (await client.get("/health")).status_code == 200
        with answered:
            health_answers[0] += 1
            answered.notify_all()
        await asyncio.sleep(0.005)  # a turn for the logins
    assert {r.status_code for r in await logins} == {200}
    assert waits == [True] * 2 * CONCURRENCY and len(argon2_calls) == 2 * CONCURRENCY
