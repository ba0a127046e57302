"""Polled sources through the whole pipeline, with real processes and real protocol peers: an SNMP agent's
interface counter jump (traffic on loopback, read by snmpd) becomes a rate point in InfluxDB, and a failed fan
on a Redfish BMC becomes an alert the API (and so the dashboard) lists, resolved when the fan spins again."""

import importlib.util
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from conftest import until

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
JUMP_BYTES_PER_S = 5e6  # loopback carries far less than this at rest


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


async def test_counter_jump_reaches_influxdb_and_fan_failure_becomes_an_alert(
        start_service, service_headers, snmp_agent, influx_database, test_env, clean_db, redis, tmp_path) -> None:
    api = start_service("aiops-api")
    start_service("aiops-worker", POLLER_RECONCILE_S="0.5", POLLER_LEASE_S="3")
    headers = service_headers()
    bmc_module = _module("redfish_bmc")
    bmc_module.mockup(tmp_path)
    async with bmc_module.RedfishBmc(tmp_path) as bmc, httpx.AsyncClient(base_url=api.url, timeout=30) as client:
        for body in ({"name": "core-sw", "kind": "snmp", "target": "127.0.0.1", "interval_s": 1,
                      "config": {"port": snmp_agent.port}, "credentials": {"community": snmp_agent.community}},
                     {"name": "rack1-bmc", "kind": "redfish", "target": bmc.url, "interval_s": 1,
                      "config": {"username": bmc_module.USERNAME}, "credentials": {"password": bmc_module.PASSWORD}}):
            assert (await client.post("/api/v1/sources", json=body, headers=headers)).status_code == 201

        async def loopback_peak() -> float | None:
            answer = httpx.get(f"{test_env['INFLUX_URL']}/query", params={"db": influx_database, "q": (
                "SELECT max(in_bytes_per_s) FROM snmp_interface WHERE source = 'core-sw' AND interface = 'lo' "
                "AND time > now() - 20s")}).json()
            series = answer["results"][0].get("series") or []
            return series[0]["values"][0][1] if series else None

        await until(lambda: _present(loopback_peak), 90, "loopback rates in InfluxDB")  # the worker starts first
        stop = threading.Event()
        traffic = threading.Thread(target=loopback_traffic, args=(stop,), daemon=True)
        traffic.start()
        try:
            peak = await until(lambda: _above(loopback_peak, JUMP_BYTES_PER_S), 40, "the counter jump as a rate")
        finally:
            stop.set()
            traffic.join(10)
        assert peak > JUMP_BYTES_PER_S

        async def fan_alert(status: str) -> dict | None:
            page = (await client.get("/api/v1/alerts", params={"source": "rack1-bmc"}, headers=headers)).json()
            return next((a for a in page["items"] if a["title"].startswith("Fan BaseBoard System Fan")
                         and a["status"] == status), None)

        bmc_module.mockup(tmp_path, fan_health="Critical")
        alert = await until(lambda: fan_alert("firing"), 30, "the fan alert")
        assert alert["severity"] == "critical" and alert["host"] == "127.0.0.1"
        bmc_module.mockup(tmp_path)
        await until(lambda: fan_alert("resolved"), 30, "the fan alert resolved")


async def _present(reading) -> bool:  # type: ignore[no-untyped-def]
    return await reading() is not None


async def _above(reading, threshold: float) -> float | None:  # type: ignore[no-untyped-def]
    value = await reading()
    return value if value is not None and value > threshold else None
