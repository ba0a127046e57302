"""A worker killed (SIGKILL) in the middle of a playbook: its run is marked `interrupted` once its lease is
over, by the next worker, and the redelivered trigger never runs the playbook again."""

import asyncio
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from aiops_contracts.bus import Bus
from aiops_contracts.db import AutomationRun
from aiops_contracts.envelope import Envelope, utcnow
from aiops_contracts.events import ALERT_RECEIVED, AlertPayload, Severity
from aiops_contracts.streams import ALERTS_INGESTED, ALERTS_STORED
from conftest import SERVICE_START_S, until

pytestmark = pytest.mark.e2e

# The timeout outlasts ansible-playbook's own start (about 5 s at load 8 on 2 cores), so the test sees the run
# running, its marker written, before the kill; the run's lease (timeout + margin) then runs out.
RULES = """
rules:
  - name: slow-cleanup
    trigger: {events: [prediction], measurement: disk}
    action: {playbook: slow.yml, timeout_s: 30, extra_vars: {marker: "MARKER"}}
    guards: {cooldown_s: 0}
"""
PLAYBOOK = """
- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.shell: "echo started >> {{ marker }} && sleep 60"
"""


async def wait_for(sessions, condition, timeout_s: float = SERVICE_START_S + 30) -> AutomationRun:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        async with sessions() as session:
            run = await session.scalar(select(AutomationRun))
        if run is not None and condition(run):
            return run
        await asyncio.sleep(0.2)
    raise TimeoutError(f"run never reached the expected state: {run and run.status}")


async def test_a_run_cut_off_by_kill_9_is_interrupted_and_never_rerun(start_service, bus: Bus, sessions, clean_db,
                                                                      tmp_path: Path, test_env, influx_database) -> None:
    # web-1 is a host of the fleet (it sends metrics): playbooks run only on those.
    httpx.post(f"{test_env['INFLUX_URL']}/write", params={"db": influx_database},
               content=b"automations_fleet,host=web-1 up=1").raise_for_status()
    marker = tmp_path / "started.txt"
    (tmp_path / "automations.yml").write_text(RULES.replace("MARKER", str(marker)))
    (tmp_path / "slow.yml").write_text(PLAYBOOK)
    env = {"AUTOMATIONS_PATH": str(tmp_path / "automations.yml"), "AUTOMATIONS_PLAYBOOKS_DIR": str(tmp_path),
           "AUTOMATIONS_CONNECTION": "local", "AUTOMATIONS_HOSTS": '["web-1"]', "AUTOMATIONS_RUN_DIR": str(tmp_path),
           "AUTOMATIONS_LEASE_MARGIN_S": "1", "AUTOMATIONS_SWEEP_S": "0.5",
           "STREAM_CLAIM_IDLE_MS": "500", "WORKER_NAME": "worker-a", "WORKER_METRICS_PORT": "0"}
    first = start_service("aiops-worker", **env)
    payload = AlertPayload(fingerprint="disk-web-1", title="Disk / on web-1 predicted full", severity=Severity.high,
                           host="web-1", labels={"measurement": "disk", "field": "used_percent"}, occurred_at=utcnow())
    await bus.publish(ALERTS_INGESTED, Envelope(id="e-kill-1", type=ALERT_RECEIVED, source="capacity-forecast",
                                                payload=payload.model_dump(mode="json")))
    await wait_for(sessions, lambda run: run.status == "running" and marker.exists())
    first.kill()  # SIGKILL: no result recorded, the stream entry stays pending

    start_service("aiops-worker", **{**env, "WORKER_NAME": "worker-b"})  # takes the pending entry over
    run = await wait_for(sessions, lambda run: run.status == "interrupted")
    assert "not re-run" in run.reason

    async def redelivery_handled() -> bool:  # worker-b took the trigger worker-a never acked over and acked it
        return (await bus.redis.xpending(bus.key(ALERTS_STORED), "automations-alerts"))["pending"] == 0

    await until(redelivery_handled, SERVICE_START_S, "the redelivered trigger handled")  # still one run, one start
    async with sessions() as session:
        runs = (await session.scalars(select(AutomationRun))).all()
    assert [r.status for r in runs] == ["interrupted"]
    assert marker.read_text() == "started\n"
