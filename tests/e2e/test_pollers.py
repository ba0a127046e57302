"""Polled sources with real processes: an API, two worker replicas and a real SNMP agent (snmpd). Each source
is polled by exactly one replica under its Redis lease; kill -9 of that replica hands its sources to the
other within one interval; a change made through the API restarts or stops the poller without a worker
restart; "test connection" is answered by a worker; health reaches the API."""

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from aiops_contracts.settings import CommonSettings
from aiops_contracts.streams import POLLER_HEALTH_KEY, POLLER_LEASE_KEY
from conftest import SERVICE_START_S, ServiceProcess, until

pytestmark = pytest.mark.e2e
INTERVAL_S = 8.0
# Short enough for a quick takeover (LEASE_S + RECONCILE_S < INTERVAL_S), long enough that a replica's loop held
# a few seconds on a loaded machine keeps its leases (at 2.5 s they changed hands back and forth at load 10).
LEASE_S, RECONCILE_S = 5.0, 1.0
WORKER_ENV = {"WORKER_ROLE": "scaled", "POLLER_RECONCILE_S": str(RECONCILE_S), "POLLER_LEASE_S": str(LEASE_S)}
# Waits once both replicas run: a handover (LEASE_S + RECONCILE_S) and a poll or two (INTERVAL_S each) take 22 s
# before any load; a loaded machine holds a replica's loop for seconds at times, and a lease lost then takes
# another such round to settle. Generous: these are waits for a condition, not bounds on how fast it comes.
SETTLE_S = 120.0
# How late a loaded machine may be (a replica's loop held for seconds at times): in the handover (the survivor
# takes a lease past LEASE_S + RECONCILE_S after the kill) and in the survivor's first poll of a source taken over
# (past its due time: one interval after the victim's last poll, or the handover if later). A skipped interval
# would be INTERVAL_S late: LATE_S stays clear of it, so the takeover is still proven to poll when due.
LATE_S = INTERVAL_S * 0.75


async def sources(client: httpx.AsyncClient, headers: dict) -> dict[str, dict]:
    response = await client.get("/api/v1/sources", headers=headers)
    assert response.status_code == 200, response.text
    return {source["name"]: source for source in response.json()}


async def test_each_source_is_polled_once_and_taken_over_after_kill_9(start_service, service_headers, snmp_agent,
                                                                      clean_db, redis, common_settings) -> None:
    api = start_service("aiops-api")
    workers = {name: start_service("aiops-worker", WORKER_NAME=name, **WORKER_ENV) for name in ("w1", "w2")}
    headers = service_headers()
    async with httpx.AsyncClient(base_url=api.url, timeout=40) as client:
        for n in range(4):
            body = {"name": f"switch-{n}", "kind": "snmp", "target": "127.0.0.1", "interval_s": INTERVAL_S,
                    "config": {"port": snmp_agent.port}, "credentials": {"community": snmp_agent.community}}
            assert (await client.post("/api/v1/sources", json=body, headers=headers)).status_code == 201

        async def settled() -> tuple[dict[str, dict], dict[str, str]] | None:
            """Every source polled by the replica holding its lease, the sources shared two and two."""
            listed = await sources(client, headers)
            holders = {name: ((await redis.get(common_settings.redis_key(POLLER_LEASE_KEY, s["id"]))) or b"").decode()
                       for name, s in listed.items()}
            polled_by = {name: (s["health"] or {}).get("worker") for name, s in listed.items()}
            shared = sorted(holders.values()) == ["w1", "w1", "w2", "w2"]
            return (listed, holders) if shared and polled_by == holders else None

        # Both replicas started (each imports for up to SERVICE_START_S on a loaded machine), then the sources
        # settle: one wait for each, each with its own budget.
        replicas_key = common_settings.redis_key(POLLER_LEASE_KEY, "replicas")

        async def both_running() -> bool:
            for worker in workers.values():  # one that died at its start is not waited for
                assert worker.process and worker.process.poll() is None, worker.log_path.read_text()[-3000:]
            return {name.decode() for name in await redis.zrange(replicas_key, 0, -1)} == {"w1", "w2"}

        await until(both_running, SERVICE_START_S, "both replicas reconciling their leases")

        async def settled_and_polled() -> tuple[dict[str, dict], dict[str, str]] | None:
            """Settled, and switch-0's last poll a success: a poll that timed out on a loaded machine (its
            request waits 1 s, once retried) is followed by the next one."""
            found = await settled()
            health = found and found[0]["switch-0"]["health"]
            return found if health and health["consecutive_failures"] == 0 and health["points"] > 3 else None

        polled, holders = await until(settled_and_polled, SETTLE_S,
                                      "every source polled by its lease holder, two per replica")

        victim = holders["switch-0"]
        survivor = ({"w1", "w2"} - {victim}).pop()
        taken_from_victim = [polled[name]["id"] for name, holder in holders.items() if holder == victim]
        takeover = await kill_and_watch_takeover(client, headers, redis, common_settings, workers[victim], victim,
                                                 survivor, taken_from_victim)
        takeover.assert_polled_when_due()
        await assert_a_change_restarts_the_poller(client, headers, polled["switch-1"], snmp_agent)


@dataclass
class Takeover:
    """When the survivor took over the victim's sources, by source id: the end of the victim's last poll
    (victim_ends), when the survivor was first seen holding the lease (leased_at) and the start of its first poll
    (first_polls), all epoch seconds, and when the victim was killed (killed_at)."""

    killed_at: float
    victim_ends: dict[str, float]
    leased_at: dict[str, float] = field(default_factory=dict)
    first_polls: dict[str, float] = field(default_factory=dict)

    def assert_polled_when_due(self) -> None:
        """Taken over once the lease expires (LEASE_S + RECONCILE_S < INTERVAL_S), polled when due: one interval
        after the victim's last poll, or at once if the handover came later; each late by no more than a loaded
        machine's scheduling (LATE_S). A skipped interval would be INTERVAL_S late, and is not taken for lateness:
        the due time is each source's own, not the worst case of any source (the kill came up to an interval
        after the victim's last poll). A poll's time is its start: its end follows its publish and commit, which
        take a second or more under load. The handover is the lease seen taken, or the first poll if earlier (a
        read of the lease late on a loaded machine makes it no later than that)."""
        handovers = {source_id: min(self.leased_at.get(source_id, started), started) - self.killed_at
                     for source_id, started in self.first_polls.items()}
        assert max(handovers.values()) < LEASE_S + RECONCILE_S + LATE_S, (handovers, self.first_polls)
        due = {source_id: max(self.victim_ends[source_id] + INTERVAL_S, self.killed_at + handover)
               for source_id, handover in handovers.items()}
        lateness = {source_id: started - due[source_id] for source_id, started in self.first_polls.items()}
        assert max(lateness.values()) < LATE_S, (lateness, self.victim_ends, handovers, self.first_polls)


async def kill_and_watch_takeover(client: httpx.AsyncClient, headers: dict, redis: Redis, settings: CommonSettings,
                                  victim_process: ServiceProcess, victim: str, survivor: str,
                                  source_ids: list[str]) -> Takeover:
    """Kills the victim replica (kill -9) and waits until the survivor polled each of its sources (`source_ids`)
    successfully: the times of the takeover."""
    def health_key(source_id: str) -> str:
        return settings.redis_key(POLLER_HEALTH_KEY, source_id)

    # The end of the victim's last poll of each source (the survivor polls it one interval later): read before
    # the kill, and again after it until the survivor polls (a poll the victim ended in between).
    victim_ends = {source_id: float((await redis.hgetall(health_key(source_id)))[b"last_poll_at"])
                   for source_id in source_ids}
    victim_process.kill()
    takeover = Takeover(time.time(), victim_ends)

    async def taken_over() -> bool:
        """Every source polled by the survivor since the kill. Its health and lease in Redis, read straight
        (fast, every 0.1 s), record the first poll of each source taken over, not a later one that a slow read
        would see, and about when the survivor took it."""
        for source_id in source_ids:
            health = await redis.hgetall(health_key(source_id))
            worker = health.get(b"worker", b"").decode()
            if worker == victim:
                victim_ends[source_id] = max(victim_ends[source_id], float(health[b"last_poll_at"]))
            lease = await redis.get(settings.redis_key(POLLER_LEASE_KEY, source_id))
            if lease == survivor.encode() and source_id not in takeover.leased_at:
                takeover.leased_at[source_id] = time.time()
            if worker == survivor and source_id not in takeover.first_polls:
                started = float(health[b"last_poll_at"]) - float(health[b"duration_s"])
                if started > takeover.killed_at:
                    takeover.first_polls[source_id] = started
        if len(takeover.first_polls) < len(source_ids):
            return False  # no API request (slow on a loaded machine) between two reads of the health
        listed = await sources(client, headers)
        return all(
            s["health"]["worker"] == survivor and
            s["health"]["last_success_at"] and _epoch(s["health"]["last_success_at"]) > takeover.killed_at
            for s in listed.values())

    await until(taken_over, SETTLE_S, "the survivor polls every source")
    return takeover


async def assert_a_change_restarts_the_poller(client: httpx.AsyncClient, headers: dict, source: dict,
                                              snmp_agent: Any) -> None:
    """A change through the API restarts the poller (labels), disabling stops it, with no worker restart."""
    connection = await client.post(f"/api/v1/sources/{source['id']}/test", headers=headers)
    assert connection.status_code == 200 and connection.json()["ok"], connection.text
    assert [s["stage"] for s in connection.json()["steps"]] == ["dns", "protocol"]
    bad = await client.patch(f"/api/v1/sources/{source['id']}", json={"credentials": {"community": "wrong"},
                             "config": {"port": snmp_agent.port, "request_timeout_s": 0.2, "retries": 0}},
                             headers=headers)
    assert bad.status_code == 200

    async def failing() -> bool:
        health = (await sources(client, headers))[source["name"]]["health"]
        return bool(health["last_error"] and "wrong community" in health["last_error"])

    # Restarted at the next reconcile, polled one interval after its last poll: 9 s before any load.
    await until(failing, SETTLE_S, "the changed source fails with its reason")
    tested = (await client.post(f"/api/v1/sources/{source['id']}/test", headers=headers)).json()
    assert [(s["stage"], s["ok"]) for s in tested["steps"]] == [("dns", True), ("timeout", False)]

def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()
