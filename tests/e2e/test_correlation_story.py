"""Cross-signal correlation through the real webhooks, with real processes (issue 14).

The story: `db-1` runs out of connections. PostgreSQL writes FATAL lines (syslog, relayed to the logs
webhook), the `checkout` service on `web-1` gets `OperationalError ... Connection refused` from the real
sentry-sdk (its release `checkout@4.12.0` names the service; `checkout` depends on `postgres`, declared
through the topology API), Alertmanager fires for the exporter `db-1:9187` (job `postgres`) and the I/O wait
of `db-1` jumps (Telegraf, after a quiet history that warms the detector). At the same time the root disk of
`web-2` fills up: Alertmanager (instance `web-2.prod.example.com:9100`), `No space left on device` lines and
a rising `used_percent`. Each problem is ONE incident, with evidence per signal kind (error, log, alert,
anomaly; each naming its source), the origin marked
and the rule that joined each signal; they stay apart. A CPU anomaly backfilled from 2.5 hours earlier on
`db-1` stays out of the database's incident.

The topology learns from the same traffic: every syslog line's host and program (a routine `sshd` line
too), and the Sentry events' environment and release as labels of the service's host edge.
"""

import random
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from aiops_contracts.events import ANOMALY_SOURCE
from conftest import free_port, until

pytestmark = pytest.mark.e2e

HISTORY_POINTS = 200  # the detector's warm-up (30 points) and tail reference (150) with some to spare
SENTRY_ERRORS = 12
SDK_SCRIPT = '''
import sys
import sentry_sdk
from sqlalchemy import create_engine

sentry_sdk.init(dsn=sys.argv[1], release="checkout@4.12.0", environment="production", server_name="web-1")
engine = create_engine(f"postgresql+psycopg://shop@127.0.0.1:{sys.argv[2]}/shop", connect_args={"connect_timeout": 2})
for _ in range(int(sys.argv[3])):
    try:
        with engine.connect():
            pass
    except Exception:
        sentry_sdk.capture_exception()
sentry_sdk.flush()
'''


def syslog(at: datetime, host: str, program: str, pid: int, severity: int, message: str) -> str:
    """An RFC 5424 line as rsyslog relays it (facility local0)."""
    return f"<{16 * 8 + severity}>1 {at.isoformat(timespec='microseconds')} {host} {program} {pid} - - {message}"


def points(measurement: str, tags: str, field: str, values: list[float], end: datetime) -> str:
    """Line protocol, one point a second, the last at `end`."""
    end_ns = int(end.timestamp() * 1e9)
    return "\n".join(f"{measurement},{tags} {field}={value} {end_ns - (len(values) - 1 - i) * 1_000_000_000}"
                     for i, value in enumerate(values))


def quiet(level: float, spread: float, seed: int) -> list[float]:
    noise = random.Random(seed)
    return [round(level + noise.uniform(-spread, spread), 3) for _ in range(HISTORY_POINTS)]


def alertmanager(alertname: str, labels: dict[str, str], starts: datetime, summary: str) -> dict:
    alert = {"status": "firing", "labels": {"alertname": alertname, **labels}, "annotations": {"summary": summary},
             "startsAt": starts.isoformat(), "endsAt": "0001-01-01T00:00:00Z",
             "generatorURL": "http://prometheus.prod.example.com:9090/graph", "fingerprint": f"{random.getrandbits(64):016x}"}
    return {"version": "4", "status": "firing", "receiver": "aiops", "groupKey": f'{{}}:{{alertname="{alertname}"}}',
            "groupLabels": {"alertname": alertname}, "commonLabels": alert["labels"], "commonAnnotations": {},
            "externalURL": "http://alertmanager.prod.example.com:9093", "alerts": [alert]}


async def test_one_incident_per_problem_across_signals(start_service, service_headers, influx_database, clean_db,
                                                         redis) -> None:
    port = free_port()
    api = start_service("aiops-api", API_PORT=str(port), PUBLIC_URL=f"http://127.0.0.1:{port}")
    start_service("aiops-worker")
    headers = service_headers()
    async with httpx.AsyncClient(base_url=api.url, timeout=30) as client:
        async def source(name: str, kind: str) -> dict:
            created = await client.post("/api/v1/sources", json={"name": name, "kind": kind}, headers=headers)
            assert created.status_code == 201, created.text
            return created.json()

        async def post(path: str, token: str, **body) -> None:  # type: ignore[no-untyped-def]
            response = await client.post(path, headers={"X-AIOps-Token": token}, **body)
            assert response.is_success, response.text

        logs = (await source("rsyslog-relay", "logs"))["token"]
        telegraf = (await source("telegraf-prod", "telegraf"))["token"]
        prometheus = (await source("prod-alertmanager", "alertmanager"))["token"]
        sentry = await source("checkout-sentry", "sentry")
        (dsn,) = [s["content"] for s in sentry["snippets"]["items"] if s["name"] == "sentry_dsn"]
        declared = await client.post("/api/v1/topology/edges", headers=headers,
                                     json={"kind": "depends_on", "source": "checkout", "target": "postgres"})
        assert declared.status_code == 201, declared.text

        # A routine line: the topology learns every line's host and program. Once it shows, the log task is
        # up (it loads its embedding model first), so the story's lines are handled as promptly as its alerts.
        await post("/webhooks/logs", logs, content=syslog(datetime.now(UTC), "db-1", "sshd", 812, 6,
                                                          "Accepted publickey for deploy from 10.0.4.2 port 52214 ssh2"))

        async def learned(edge: tuple[str, str, str]) -> dict | None:
            edges = (await client.get("/api/v1/topology", headers=headers)).json()["edges"]
            return next((e for e in edges if (e["kind"], e["source"], e["target"]) == edge), None)

        await until(lambda: learned(("runs_on", "sshd", "db-1")), 180, "the routine line's program and host")
        now = datetime.now(UTC)

        # Quiet history first (the detectors judge a series only once warm): I/O wait of db-1, root disk of web-2.
        io_tags, disk_tags = "cpu=cpu-total,host=db-1.prod.example.com", "device=nvme0n1p2,fstype=ext4,host=web-2.prod.example.com,mode=rw,path=/"
        start = now - timedelta(seconds=90)
        await post("/webhooks/telegraf", telegraf, content="\n".join([
            points("cpu", io_tags, "usage_iowait", quiet(0.6, 0.3, 1), start),
            points("disk", disk_tags, "used_percent", quiet(61.0, 0.05, 2), start)]))

        # The outage, in event time from `start`: FATAL lines first, then the errors of the service using the
        # database, the alerts, the jumps.
        fatal = ["FATAL:  sorry, too many clients already",
                 "FATAL:  remaining connection slots are reserved for non-replication superuser connections"]
        await post("/webhooks/logs", logs, content="\n".join(
            [syslog(start + timedelta(seconds=i), "db-1", "postgres", 3100 + i, 3,
                      f"[{i + 1}-1] user=shop,db=shop,app=[unknown],client=10.0.3.{20 + i % 5} {fatal[i % 2]}")
               for i in range(8)]
            + [syslog(start + timedelta(seconds=2 + i), "web-2.prod.example.com", "nginx", 1187, 2,
                      f'2026/11/30 03:40:{i:02d} [crit] 1187#1187: *{4400 + i} pwrite() '
                      f'"/var/lib/nginx/body/00000{1200 + i}" failed (28: No space left on device)') for i in range(6)]))
        run = subprocess.run([sys.executable, "-c", SDK_SCRIPT, dsn, str(free_port()), str(SENTRY_ERRORS)],
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        await post("/webhooks/alertmanager", prometheus, json=alertmanager(
            "PostgresqlTooManyConnections", {"instance": "db-1:9187", "job": "postgres", "severity": "critical"},
            start + timedelta(seconds=15), "PostgreSQL instance has too many connections (> 80%)"))
        await post("/webhooks/alertmanager", prometheus, json=alertmanager(
            "NodeFilesystemAlmostOutOfSpace", {"device": "/dev/nvme0n1p2", "fstype": "ext4",
                                               "instance": "web-2.prod.example.com:9100", "job": "node",
                                               "mountpoint": "/", "severity": "warning"},
            start + timedelta(seconds=20), "Filesystem has less than 5% space left"))
        jump_end = start + timedelta(seconds=30)
        await post("/webhooks/telegraf", telegraf, content="\n".join([
            points("cpu", io_tags, "usage_iowait", [38.0, 44.5, 47.2, 45.9, 49.3, 46.1], jump_end),
            points("disk", disk_tags, "used_percent", [86.0, 89.5, 92.8, 95.1, 97.4, 98.9], jump_end)]))
        # PostgreSQL keeps refusing while the outage lasts.
        await post("/webhooks/logs", logs, content="\n".join(
            syslog(start + timedelta(seconds=25 + i), "db-1", "postgres", 3200 + i, 3,
                   f"[{i + 1}-1] user=shop,db=shop,app=[unknown],client=10.0.3.21 {fatal[0]}") for i in range(4)))

        async def incidents(host: str) -> list[dict]:
            page = await client.get("/api/v1/incidents", params={"host": host}, headers=headers)
            return page.json()["items"]

        async def evidence(incident_id: str) -> list[dict]:
            return (await client.get(f"/api/v1/incidents/{incident_id}/evidence", headers=headers)).json()

        async def settled(host: str, counts: dict[str, int]) -> tuple[dict, list[dict]] | None:
            """The host's one incident once it holds every event sent of each signal kind (None before)."""
            found = await incidents(host)
            if len(found) != 1:
                return None
            entries = await evidence(found[0]["id"])
            held: Counter[str] = Counter()
            for entry in entries:
                held[entry["kind"]] += entry["count"]
            return (found[0], entries) if all(held[kind] >= count for kind, count in counts.items()) else None

        database, database_evidence = await until(lambda: settled("db-1", {
            "log": 12, "alert": 1, "error": SENTRY_ERRORS, "anomaly": 1}), 120,
            "the database's signals in one incident")
        disk, disk_evidence = await until(lambda: settled("web-2", {"log": 6, "alert": 1, "anomaly": 1}),
                                          60, "the disk's signals in one incident")

        assert database["id"] != disk["id"]
        assert set(database["hosts"]) == {"db-1", "web-1"} and set(disk["hosts"]) == {"web-2"}
        assert [i["id"] for i in await incidents("web-1")] == [database["id"]]  # no incident of the errors' own
        assert {e["kind"] for e in database_evidence} == {"error", "log", "alert", "anomaly"}
        by_kind = {e["kind"]: e for e in database_evidence}
        assert {kind: by_kind[kind]["source"] for kind in ("error", "alert", "anomaly")} == {
            "error": "checkout-sentry", "alert": "prod-alertmanager", "anomaly": ANOMALY_SOURCE}
        assert by_kind["error"]["count"] == SENTRY_ERRORS and "OperationalError" in by_kind["error"]["title"]
        assert (by_kind["error"]["service"], by_kind["error"]["host"]) == ("checkout", "web-1")
        assert (by_kind["error"]["rule"], by_kind["error"]["via"]) in (
            ("depends_on", "checkout depends on postgres"), ("opened", ""))
        assert by_kind["alert"]["host"] == "db-1"  # from instance db-1:9187
        assert by_kind["anomaly"]["score"] is not None and "usage_iowait" in by_kind["anomaly"]["title"]
        assert {e["rule"] for e in database_evidence} <= {"opened", "same_key", "same_host", "runs_on", "depends_on"}
        assert sum(e["rule"] == "opened" for e in database_evidence) == 1
        (origin,) = [e for e in database_evidence if e["origin"]]
        assert origin["host"] == "db-1"  # upstream of the service's errors
        assert all(e["host"] == "web-2" for e in disk_evidence)
        assert sum(e["origin"] for e in disk_evidence) == 1

        # Backfilled: db-1's CPU 2.5 hours ago (quiet, then a spike), sent late. Its anomaly is another episode.
        earlier = now - timedelta(hours=2, minutes=30)
        await post("/webhooks/telegraf", telegraf, content=points(
            "cpu", io_tags, "usage_system", quiet(4.0, 0.5, 3) + [71.0, 83.5, 88.0], earlier))

        async def backfilled_anomaly() -> dict | None:
            page = (await client.get("/api/v1/alerts", params={"source": ANOMALY_SOURCE}, headers=headers)).json()
            return next((a for a in page["items"] if "usage_system" in a["title"] and a["incident_id"]), None)

        late = await until(backfilled_anomaly, 60, "the backfilled anomaly in an incident")
        assert late["incident_id"] != database["id"]
        after = await evidence(database["id"])
        assert {(e["group_key"], e["kind"]) for e in after} == {(e["group_key"], e["kind"]) for e in database_evidence}
        assert (await client.get(f"/api/v1/incidents/{database['id']}", headers=headers)).json()["first_seen_at"] \
            == database["first_seen_at"]

        # The topology learned from the same traffic.
        topology = (await client.get("/api/v1/topology", headers=headers)).json()
        edges = {(e["kind"], e["source"], e["target"]): e for e in topology["edges"]}
        assert {("runs_on", "postgres", "db-1"), ("runs_on", "nginx", "web-2"),
                ("runs_on", "checkout", "web-1"), ("depends_on", "checkout", "postgres")} <= set(edges)
        assert edges[("runs_on", "checkout", "web-1")]["labels"] == {"environment": "production",
                                                                     "release": "checkout@4.12.0"}
        nodes = {(n["kind"], n["name"]): n for n in topology["nodes"]}
        assert nodes[("host", "db-1")]["open_incidents"] >= 1 and nodes[("host", "web-2")]["open_incidents"] == 1
