"""Polled sources through the whole pipeline, with real processes and real protocol peers: an SNMP agent's
interface counter jump (traffic on loopback, read by snmpd) becomes a rate point in InfluxDB and an anomaly
alert, and a failed fan on a Redfish BMC becomes an alert the API (and so the dashboard) lists, resolved when
the fan spins again; an event the BMC pushes to the poller's subscription becomes an alert at once.

The anomaly detector judges a series only after ~180 points of it, minutes of 1 s polls: the loopback
series' quiet history goes in first through Telegraf's webhook (the same metrics stream, so the detector sees
it before the poller's first point), then the poller reads the agent while loopback carries the burst.
"""

import importlib.util
import random
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from aiops_contracts.events import ANOMALY_SOURCE
from conftest import SERVICE_START_S, until

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
JUMP_BYTES_PER_S = 5e6  # loopback carries far less than this at rest
HISTORY_POINTS = 200  # the detector's warm-up (30 points) and tail reference (150) with some to spare


def _module(name: str):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(name, ROOT / f"tests/fakes/{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def loopback_traffic(stop: threading.Event) -> None:
    """About 20 MB/s over a loopback TCP connection until `stop`."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        sender = socket.create_connection(server.getsockname())
        receiver, _ = server.accept()
        chunk = b"x" * 1_000_000
        threading.Thread(target=lambda: [None for _ in iter(lambda: receiver.recv(1 << 20), b"")], daemon=True).start()
        while not stop.is_set():
            sender.sendall(chunk)
            time.sleep(0.05)
        sender.close()


async def test_counter_jump_becomes_a_rate_and_an_anomaly_and_fan_failure_an_alert(
        start_service, service_headers, snmp_agent, influx_database, test_env, clean_db, redis, tmp_path) -> None:
    api = start_service("aiops-api")
    start_service("aiops-worker", POLLER_RECONCILE_S="0.5", POLLER_LEASE_S="3")
    headers = service_headers()
    bmc_module = _module("redfish_bmc")
    bmc_module.mockup(tmp_path)
    async with bmc_module.RedfishBmc(tmp_path) as bmc, httpx.AsyncClient(base_url=api.url, timeout=30) as client:
        telegraf = await client.post("/api/v1/sources", json={"name": "history", "kind": "telegraf"}, headers=headers)
        accepted = await client.post("/webhooks/telegraf", content="\n".join(quiet_loopback_history()),
                                     headers={"X-AIOps-Token": telegraf.json()["token"]})
        assert accepted.status_code == 202 and accepted.json()["accepted"] == HISTORY_POINTS
        stop = threading.Event()
        traffic = threading.Thread(target=loopback_traffic, args=(stop,), daemon=True)
        traffic.start()
        try:
            for body in ({"name": "core-sw", "kind": "snmp", "target": "127.0.0.1", "interval_s": 1,
                          "config": {"port": snmp_agent.port}, "credentials": {"community": snmp_agent.community}},
                         {"name": "rack1-bmc", "kind": "redfish", "target": bmc.url, "interval_s": 1,
                          "config": {"username": bmc_module.USERNAME},
                          "credentials": {"password": bmc_module.PASSWORD}}):
                assert (await client.post("/api/v1/sources", json=body, headers=headers)).status_code == 201

            async def loopback_peak() -> float | None:
                answer = httpx.get(f"{test_env['INFLUX_URL']}/query", params={"db": influx_database, "q": (
                    "SELECT max(in_bytes_per_s) FROM snmp_interface WHERE source = 'core-sw' AND interface = 'lo' "
                    "AND time > now() - 20s")}).json()
                series = answer["results"][0].get("series") or []
                return series[0]["values"][0][1] if series else None

            async def loopback_anomaly() -> dict | None:
                page = (await client.get("/api/v1/alerts", params={"source": ANOMALY_SOURCE, "host": "127.0.0.1"},
                                         headers=headers)).json()
                series = {"measurement": "snmp_interface", "field": "in_bytes_per_s", "interface": "lo"}
                return next((a for a in page["items"] if series.items() <= a["labels"].items()), None)

            # The worker starts first, then the poller needs two polls for a rate.
            peak = await until(lambda: _above(loopback_peak, JUMP_BYTES_PER_S), SERVICE_START_S,
                               "the counter jump as a rate")
            anomaly = await until(loopback_anomaly, 30, "the counter jump as an anomaly alert")
        finally:
            stop.set()
            traffic.join(10)
        assert peak > JUMP_BYTES_PER_S
        assert anomaly["status"] == "firing" and anomaly["details"]["value"] > JUMP_BYTES_PER_S  # the jump opened it

        async def fan_alert(status: str) -> dict | None:
            page = (await client.get("/api/v1/alerts", params={"source": "rack1-bmc"}, headers=headers)).json()
            return next((a for a in page["items"] if a["title"].startswith("Fan BaseBoard System Fan")
                         and a["status"] == status), None)

        bmc_module.mockup(tmp_path, fan_health="Critical")
        alert = await until(lambda: fan_alert("firing"), 30, "the fan alert")
        assert alert["severity"] == "critical" and alert["host"] == "127.0.0.1"
        bmc_module.mockup(tmp_path)
        await until(lambda: fan_alert("resolved"), 30, "the fan alert resolved")


async def test_a_bmcs_pushed_event_becomes_an_alert_and_disabling_the_source_unsubscribes(
        start_service, service_headers, clean_db, redis, tmp_path) -> None:
    api = start_service("aiops-api")
    start_service("aiops-worker", PUBLIC_URL=api.url, POLLER_RECONCILE_S="0.5", POLLER_LEASE_S="3")
    headers = service_headers()
    bmc_module = _module("redfish_bmc")
    bmc_module.mockup(tmp_path)
    drive = "/redfish/v1/Systems/437XR1138R2/Storage/1/Drives/0"  # a component the poller does not read
    psu = "/redfish/v1/Chassis/1U/Power#/PowerSupplies/0"  # one it reads (OK)
    async with bmc_module.RedfishBmc(tmp_path) as bmc, httpx.AsyncClient(base_url=api.url, timeout=30) as client:
        source = (await client.post("/api/v1/sources", headers=headers, json={
            "name": "rack2-bmc", "kind": "redfish", "target": bmc.url, "interval_s": 1,
            "config": {"username": bmc_module.USERNAME}, "credentials": {"password": bmc_module.PASSWORD}})).json()

        async def subscribed() -> dict | None:
            return next(iter(bmc.subscriptions.values()), None)

        # The worker starts first, then its poller subscribes.
        subscription = await until(subscribed, SERVICE_START_S, "the poller's subscription on the BMC's EventService")
        assert subscription["Destination"] == f"{api.url}/webhooks/redfish/{source['id']}"

        async def component_alert(component: str, status: str) -> dict | None:
            page = (await client.get("/api/v1/alerts", params={"source": "rack2-bmc"}, headers=headers)).json()
            return next((a for a in page["items"]
                         if a["labels"].get("component") == component and a["status"] == status), None)

        assert await bmc.send_event(bmc_module.status_changed(drive, "Critical", "1")) == [202]
        alert = await until(lambda: component_alert(drive, "firing"), 30, "the pushed drive failure as an alert")
        assert alert["severity"] == "critical" and alert["host"] == "127.0.0.1"
        forged = {"Context": "0" * 64, "Events": [bmc_module.status_changed(drive, "OK", "2")]}
        assert (await client.post(subscription["Destination"], json=forged)).status_code == 401
        assert await bmc.send_event(bmc_module.status_changed(drive, "OK", "3")) == [202]
        await until(lambda: component_alert(drive, "resolved"), 30, "the drive alert resolved by the BMC's OK event")
        assert await bmc.send_event(bmc_module.status_changed(psu, "Warning", "4")) == [202]
        await until(lambda: component_alert(psu, "resolved"), 30,
                    "the pushed power supply warning resolved by the next poll, which reads it OK")

        assert (await client.patch(f"/api/v1/sources/{source['id']}", json={"enabled": False},
                                   headers=headers)).status_code == 200

        async def unsubscribed() -> bool:
            return not bmc.subscriptions

        await until(unsubscribed, 30, "the subscription deleted once the source is disabled")


def quiet_loopback_history() -> list[str]:
    """The poller's loopback series (same measurement and tags) over the last HISTORY_POINTS seconds, at rest:
    snmpd refreshes its counters every few seconds, so most 1 s rates are 0 and the others below the jump."""
    noise = random.Random(19)
    end_ns = time.time_ns()
    tags = f"host=127.0.0.1,if_index={socket.if_nametoindex('lo')},interface=lo,source=core-sw"
    return [f"snmp_interface,{tags} in_bytes_per_s={noise.uniform(0, JUMP_BYTES_PER_S) if i % 3 == 0 else 0.0} "
            f"{end_ns - (HISTORY_POINTS - i) * 1_000_000_000}" for i in range(HISTORY_POINTS)]


async def _above(reading, threshold: float) -> float | None:  # type: ignore[no-untyped-def]
    value = await reading()
    return value if value is not None and value > threshold else None
