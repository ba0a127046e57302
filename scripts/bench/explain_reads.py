"""EXPLAIN (ANALYZE, BUFFERS) of each list query the dashboard sends, at a million alerts.

Seeds a throwaway database like load_read_api.py (COPY: --alerts alerts, --incidents incidents, --runs
pipeline runs), then runs the API's own queries (alerts_query / incidents_query and the keyset page of
aiops_api/pagination.py) for each filter of the dashboard: severity, status, source, host, service, time range,
incident, a page deep in the list; and a pipeline's runs (RUN_AT, ix_pipeline_runs_pipeline_id_run_at_id).
Prints for each the plan's nodes, the indexes it reads, the buffers touched and the execution time.

    .venv/bin/python scripts/bench/explain_reads.py [--alerts 1000000] [--incidents 100000] [--runs 100000]
Target: every query reads an index (no Seq Scan) in < 10 ms at 1M alerts.
"""

import argparse
import os
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from bench_stack import log, require_stores
from load_read_api import Seeded, seed
from psycopg.types.json import Jsonb
from sqlalchemy import Select, select
from sqlalchemy.dialects import postgresql

from aiops_api.alerts.schemas import AlertFilter
from aiops_api.alerts.service import alerts_query
from aiops_api.incidents.schemas import IncidentFilter
from aiops_api.incidents.service import incidents_query
from aiops_api.pagination import encode_cursor, page
from aiops_contracts.db import Alert, Incident, PipelineRun
from aiops_contracts.db.migrate import create_database_if_missing, drop_database, upgrade
from aiops_contracts.db.pipelines import RUN_AT
from aiops_contracts.settings import CommonSettings

TARGET_MS = 10.0
RUN_PIPELINES = 4
RUNS = PipelineRun.__table__


def seed_runs(database_url: str, runs: int) -> tuple[uuid.UUID, datetime]:
    """COPYs `runs` runs over RUN_PIPELINES pipelines (a run every 1/3 s back from now; one in 50 not started,
    one in 100 of those not queued either), then ANALYZEs. Returns one pipeline and the middle of its runs' span."""
    now = datetime.now(UTC)
    pipelines = [uuid.uuid4() for _ in range(RUN_PIPELINES)]
    with psycopg.connect(database_url.replace("+psycopg", "")) as conn, conn.cursor() as cur:
        with cur.copy("COPY pipelines (id, provider, key, name, source) FROM STDIN") as copy:
            for pipeline_id in pipelines:
                copy.write_row((pipeline_id, "github_actions", str(pipeline_id), str(pipeline_id), "bench"))
        with cur.copy("COPY pipeline_runs (id, pipeline_id, external_id, attempt, status, queued_at, started_at, "
                      "features, created_at) FROM STDIN") as copy:
            for i in range(runs):
                at = now - timedelta(seconds=i / 3)
                copy.write_row((uuid.uuid4(), pipelines[i % RUN_PIPELINES], str(i), 1, "completed",
                                None if i % 100 == 0 else at, None if i % 50 == 0 else at, "{}", at))
        conn.commit()
        conn.autocommit = True
        cur.execute("VACUUM ANALYZE pipeline_runs")
    return pipelines[1], now - timedelta(seconds=runs / 6)


def cases(seeded: Seeded, runs: tuple[uuid.UUID, datetime]) -> list[tuple[str, Select[Any]]]:
    middle = seeded.oldest + (seeded.newest - seeded.oldest) / 2
    pipeline_runs = select(RUNS, RUN_AT.label("run_at")).where(RUNS.c.pipeline_id == runs[0])  # list_runs' query
    deep = encode_cursor(middle, uuid.UUID(int=0))  # a page in the middle of the list
    alerts = {
        "alerts": AlertFilter(),
        "alerts severity=critical": AlertFilter(severity=["critical"]),
        "alerts severity=critical,high": AlertFilter(severity=["critical", "high"]),
        "alerts status=resolved": AlertFilter(status=["resolved"]),
        "alerts status=acknowledged source=grafana": AlertFilter(status=["acknowledged"], source=["grafana"]),
        "alerts source=zabbix": AlertFilter(source=["zabbix"]),
        "alerts host=host-7": AlertFilter(host="host-7"),
        "alerts host=host-7 severity=high": AlertFilter(host="host-7", severity=["high"]),
        "alerts service=svc-3": AlertFilter(service="svc-3"),
        "alerts last hour, mid-list": AlertFilter(since=middle - timedelta(hours=1), until=middle),
        "alerts incident": AlertFilter(incident_id=uuid.UUID(seeded.incident_ids[len(seeded.incident_ids) // 2])),
    }
    incidents = {
        "incidents": IncidentFilter(),
        "incidents status=open": IncidentFilter(status=["open"]),
        "incidents severity=critical": IncidentFilter(severity=["critical"]),
        "incidents host=host-7": IncidentFilter(host="host-7"),
    }
    return ([(name, page(alerts_query(f), Alert.last_seen_at, Alert.id, None, 50)) for name, f in alerts.items()]
            + [("alerts, a page mid-list", page(alerts_query(AlertFilter()), Alert.last_seen_at, Alert.id, deep, 50)),
               ("alerts severity=low, a page mid-list",
                page(alerts_query(AlertFilter(severity=["low"])), Alert.last_seen_at, Alert.id, deep, 50))]
            + [(name, page(incidents_query(f), Incident.last_seen_at, Incident.id, None, 50))
               for name, f in incidents.items()]
            + [(name, page(pipeline_runs, RUN_AT, RUNS.c.id, cursor, 50))
               for name, cursor in (("pipeline runs", None),
                                    ("pipeline runs, a page mid-list", encode_cursor(runs[1], uuid.UUID(int=0))))])


def nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(node for child in plan.get("Plans", []) for node in nodes(child))]


def explain(cur: psycopg.Cursor, stmt: Select[Any]) -> dict[str, Any]:
    compiled = stmt.compile(dialect=postgresql.psycopg.dialect(), compile_kwargs={"render_postcompile": True})
    params = {k: Jsonb(v) if isinstance(v, list) else v for k, v in compiled.params.items()}  # hosts @> [..]
    cur.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + str(compiled), params)
    return cur.fetchone()[0][0]


def report(name: str, result: dict[str, Any]) -> bool:
    plan_nodes = nodes(result["Plan"])
    kinds = [n["Node Type"] for n in plan_nodes]
    indexes = sorted({n["Index Name"] for n in plan_nodes if "Index Name" in n})
    buffers = result["Plan"].get("Shared Hit Blocks", 0) + result["Plan"].get("Shared Read Blocks", 0)
    ms = result["Execution Time"]
    ok = ms < TARGET_MS and "Seq Scan" not in kinds
    print(f"{'ok  ' if ok else 'SLOW'} {name:42s} {ms:7.2f} ms (target < {TARGET_MS:.0f})  buffers={buffers:6d}  "
          f"{' > '.join(kinds)}  [{', '.join(indexes)}]")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=1_000_000)
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=100_000)
    args = parser.parse_args()
    base = CommonSettings(database_url=os.environ.get("DATABASE_URL", CommonSettings().database_url))
    require_stores(postgres=base.database_url)
    database_url = base.database_url.rsplit("/", 1)[0] + f"/aiops_explain_{uuid.uuid4().hex[:8]}"
    create_database_if_missing(database_url)
    try:
        upgrade(database_url)
        started = time.monotonic()
        seeded = seed(database_url, args.alerts, args.incidents)
        runs = seed_runs(database_url, args.runs)
        log(f"{args.alerts} alerts, {args.incidents} incidents and {args.runs} pipeline runs seeded in "
            f"{time.monotonic() - started:.0f} s; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        with psycopg.connect(database_url.replace("+psycopg", "")) as conn, conn.cursor() as cur:
            for _, stmt in cases(seeded, runs):
                explain(cur, stmt)  # warm: the figure is the steady state, not the first read from disk
            results = [report(name, explain(cur, stmt)) for name, stmt in cases(seeded, runs)]
        print(f"{sum(results)}/{len(results)} queries within target")
    finally:
        drop_database(database_url)


if __name__ == "__main__":
    sys.exit(main())
