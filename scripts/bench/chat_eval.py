"""Chat answer quality: the committed questions (chat_questions.json) asked over HTTP of a running API and
worker, after the fleet of chat_fleet.py was posted through the real webhooks (Telegraf, Alertmanager, Sentry,
log lines) and the pipeline made incidents, anomalies, forecasts and templates of it. A question passes when
its answer cites every expected id, none it must not, only ids that exist, and says the expected facts.
Printed per category (paraphrases, written apart from the intent parser, also on their own), beside a plain
baseline (every question answered with the open incidents), with the answer latency seen by the client (p95).

    .venv/bin/python scripts/bench/chat_eval.py [--redis-db 13]       # no-LLM mode (LLM_BASE_URL unset)
    LLM_BASE_URL=... LLM_MODEL=... .venv/bin/python scripts/bench/chat_eval.py   # a configured provider

Uses throwaway stores next to the configured ones (a PostgreSQL database, an InfluxDB database, ChromaDB
collections under a prefix, a Redis database index it flushes) and removes them afterwards."""

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import chromadb
import httpx
from bench_stack import (
    JWT_SECRET,
    Service,
    free_port,
    machine_token,
    redis_db_url,
    require_stores,
    wait_healthy,
    wait_idle,
)
from chat_fleet import HOSTS, name_ids, post_fleet
from redis import Redis
from sqlalchemy import select
from sqlalchemy.engine import make_url

from aiops_contracts.db import Alert, Forecast, Incident, LogTemplate
from aiops_contracts.db.migrate import create_database_if_missing, drop_database, upgrade
from aiops_contracts.db.session import make_engine, make_sessionmaker
from aiops_contracts.influx import InfluxClient, quote_ident
from aiops_contracts.settings import CommonSettings

HERE = Path(__file__).resolve().parent
# The worker's pace for an evaluation: forecasts and enrichment at once, incidents kept open while asked about
# (a burst ends after 2 h of quiet), and a failure after a resolution is a new incident, not the old one reopened.
WORKER_ENV = {"FORECAST_INTERVAL_S": "5", "ENRICHMENT_INTERVAL_S": "0.5", "ENRICHMENT_DEBOUNCE_S": "0",
              "INCIDENT_WINDOW_S": "7200", "INCIDENT_REOPEN_S": "0", "LOG_CLUSTER_INTERVAL_S": "1"}


P95_TARGET_MS = 300


def load_questions() -> list[dict[str, Any]]:
    return json.loads((HERE / "chat_questions.json").read_text())["questions"]


def passed(answer: dict[str, Any], question: dict[str, Any], ids: dict[str, str], existing: set[str]) -> bool:
    cited = {c["id"] for c in answer["citations"]}
    text = answer["answer"].lower()
    return ({ids.get(n, n) for n in question["cite"]} <= cited and not cited & {ids.get(n, n) for n in question["not"]}
            and cited <= existing and all(fact.lower() in text for fact in question.get("says", [])))


async def existing_ids(sessions) -> set[str]:
    """Every id an answer may cite that exists: incidents, alerts, forecasts, templates, hosts."""
    async with sessions() as session:
        incidents = (await session.scalars(select(Incident))).all()
        rows = [*(i.id for i in incidents), *(await session.scalars(select(Alert.id))),
                *(await session.scalars(select(Forecast.series_key))), *(await session.scalars(select(LogTemplate.id)))]
    hosts = {h for i in incidents for h in i.hosts} | set(HOSTS)
    return {str(r) for r in rows} | hosts


async def ask_all(client: httpx.AsyncClient, viewer: dict[str, str], ids: dict[str, str], sessions,
                  now: datetime) -> dict[str, Any]:
    existing = await existing_ids(sessions)
    scores: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # passed, baseline passed, total
    latencies, failures, transcript = [], [], []
    baseline = (await client.post("/api/v1/chat", json={"question": "which incidents are open?"},
                                  headers=viewer)).json()
    places = {**ids, "HOUR": f"{(now - timedelta(hours=1, minutes=30)).hour:02d}:00"}  # nearest the Sentry burst
    mode = ""
    for q in load_questions():
        question = q["q"].format(**places)
        started = time.perf_counter()
        response = await client.post("/api/v1/chat", json={"question": question}, headers=viewer)
        latencies.append(time.perf_counter() - started)
        assert response.status_code == 200, response.text
        answer = response.json()
        mode = answer["mode"]
        ok = passed(answer, q, ids, existing)
        for category in (q["category"], *(["paraphrase"] if q.get("paraphrase") else [])):
            scores[category][0] += ok
            scores[category][1] += passed(baseline, q, ids, existing)
            scores[category][2] += 1
        transcript.append((question, answer, latencies[-1]))
        if not ok:
            failures.append(f"{q['category']}: {question!r} -> {answer['intent']}")
    p95 = statistics.quantiles(latencies, n=20)[-1]
    return {"scores": dict(scores), "p50_ms": statistics.median(latencies) * 1000, "p95_ms": p95 * 1000,
            "failures": failures, "mode": mode,
            "transcript": transcript, "ids": ids}


def report(result: dict[str, Any]) -> str:
    lines = [f"{'category':<12}{'pass':>8}{'baseline':>10}"]
    for category, (ok, base, n) in sorted(result["scores"].items()):
        lines.append(f"{category:<12}{ok:>4}/{n:<3}{base:>6}/{n:<3}")
    ok, base, total = totals(result)
    lines.append(f"{'all':<12}{ok:>4}/{total:<3}{base:>6}/{total:<3}  pass rate {100 * ok / total:.1f} % "
                 f"(baseline {100 * base / total:.1f} %, target >= 80 %), mode {result['mode']}")
    lines.append(f"answer latency p50 {result['p50_ms']:.1f} ms, p95 {result['p95_ms']:.1f} ms "
                 f"(target p95 < {P95_TARGET_MS} ms in no-LLM mode, on an idle machine)")
    lines += [f"  failed: {f}" for f in result["failures"]]
    return "\n".join(lines)


def totals(result: dict[str, Any]) -> tuple[int, int, int]:
    """Passed, baseline passed, questions (paraphrases counted once, in their topic's category)."""
    rows = [s for category, s in result["scores"].items() if category != "paraphrase"]
    return sum(s[0] for s in rows), sum(s[1] for s in rows), sum(s[2] for s in rows)


def pass_rate(result: dict[str, Any]) -> float:
    ok, _, total = totals(result)
    return ok / total


def stack_env(settings: CommonSettings, database_url: str, redis_url: str, api_port: int) -> dict[str, str]:
    return {**os.environ, "ENVIRONMENT": "test", "DATABASE_URL": database_url, "REDIS_URL": redis_url,
            "INFLUX_URL": settings.influx_url, "CHROMA_URL": settings.chroma_url,
            "JWT_SECRET": JWT_SECRET, "API_PORT": str(api_port), "LOG_LEVEL": "WARNING", "WORKER_METRICS_PORT": "0",
            "INFLUX_DATABASE": f"aiops_chat_eval_{uuid.uuid4().hex[:8]}", "BUS_PREFIX": f"chat-eval-{uuid.uuid4().hex[:8]}:",
            "CHROMA_COLLECTION_PREFIX": f"eval{uuid.uuid4().hex[:8]}_", "LLM_BASE_URL": settings.llm_base_url,
            **WORKER_ENV}


async def run(settings: CommonSettings, redis_url: str, logs: Path) -> dict[str, Any]:
    database_url = make_url(settings.database_url).set(database=f"aiops_chat_eval_{uuid.uuid4().hex[:8]}")
    url_text = database_url.render_as_string(hide_password=False)
    Redis.from_url(redis_url).flushdb()
    create_database_if_missing(url_text)
    processes: list[Service] = []
    engine = make_engine(settings.model_copy(update={"database_url": url_text}))
    api_port = free_port()
    env = stack_env(settings, url_text, redis_url, api_port)
    try:
        upgrade(url_text)
        processes = [Service("aiops-api", env, logs / "api.log").start(),
                     Service("aiops-worker", env, logs / "worker.log").start()]
        api_url = f"http://127.0.0.1:{api_port}"
        await wait_healthy(api_url, timeout_s=120)
        sessions = make_sessionmaker(engine)
        admin, operator, viewer = ({"Authorization": f"Bearer {machine_token(role)}"}
                                   for role in ("admin", "operator", "viewer"))
        now = datetime.now(UTC)
        async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
            await post_fleet(client, admin, operator, sessions, now)
            ids = await name_ids(sessions)
            await asyncio.to_thread(wait_idle, processes[0].process.pid)  # the API's embedding model is loaded
            return await ask_all(client, viewer, ids, sessions, now)
    finally:
        for process in processes:
            process.kill()
        await engine.dispose()
        drop_database(url_text)
        await drop_scratch(settings, env)


async def drop_scratch(settings: CommonSettings, env: dict[str, str]) -> None:
    """The run's InfluxDB database and ChromaDB collections."""
    scratch = settings.model_copy(update={"influx_database": env["INFLUX_DATABASE"]})
    influx = InfluxClient(scratch)
    try:
        await influx.query(f"DROP DATABASE {quote_ident(scratch.influx_database)}")
    finally:
        await influx.aclose()
    url = urlsplit(settings.chroma_url)
    client = await chromadb.AsyncHttpClient(host=url.hostname, port=url.port)
    for collection in await client.list_collections():
        if collection.name.startswith(env["CHROMA_COLLECTION_PREFIX"]):
            await client.delete_collection(collection.name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--redis-db", type=int, default=13, help="a Redis database index it may flush")
    parser.add_argument("--transcript", action="store_true", help="print every question and answer")
    args = parser.parse_args()
    settings = CommonSettings()
    require_stores(postgres=settings.database_url, redis=settings.redis_url, influx=settings.influx_url,
                   chroma=settings.chroma_url)
    logs = Path(tempfile.mkdtemp(prefix="aiops-chat-eval-"))
    result = asyncio.run(run(settings, redis_db_url(args.redis_db), logs))
    if args.transcript:
        for question, answer, seconds in result["transcript"]:
            print(f"\n> {question}\n{answer['answer']}\n  cites: {[c['link'] for c in answer['citations']]}"
                  f" ({seconds * 1000:.0f} ms)")
    print(report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
