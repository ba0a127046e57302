"""Chat answer quality: the committed questions (chat_questions.json) over the seeded scenario
(chat_scenario.py), scored by the ids each answer cites. A question passes when its answer cites every
expected id, none of the ids it must not, and only ids that exist. Printed per category, beside a plain
baseline (every question answered with the open incidents), with the no-LLM answer latency (p95).

    python scripts/bench/chat_eval.py            # no-LLM mode (LLM_BASE_URL unset)
    LLM_BASE_URL=... LLM_MODEL=... python scripts/bench/chat_eval.py   # against a configured provider

Uses a throwaway database next to DATABASE_URL (created, migrated with Alembic, dropped)."""
from __future__ import annotations

import asyncio
import importlib.util
import json
import statistics
import sys
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.engine import make_url

from aiops_api.chat.intents import Intent
from aiops_api.chat.retrieval import QUERIES
from aiops_api.chat.service import answer_question
from aiops_contracts.db import Alert, Forecast, Incident
from aiops_contracts.db.migrate import (
    create_database_if_missing,
    drop_database,
    upgrade,
)
from aiops_contracts.db.session import make_engine, make_sessionmaker
from aiops_contracts.llm import LLMClient
from aiops_contracts.settings import CommonSettings

HERE = Path(__file__).resolve().parent
NOW = datetime(2026, 3, 10, 16, 0, tzinfo=UTC)
_spec = importlib.util.spec_from_file_location("chat_scenario", HERE / "chat_scenario.py")
scenario = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(scenario)


def load_questions() -> tuple[dict[str, str], list[dict]]:
    data = json.loads((HERE / "chat_questions.json").read_text())
    return data["ids"], data["questions"]


def passed(cited: set[str], question: dict, ids: dict[str, str], existing: set[str]) -> bool:
    return ({ids[n] for n in question["cite"]} <= cited and not cited & {ids[n] for n in question["not"]}
            and cited <= existing)


async def _existing(sessions) -> set[str]:
    async with sessions() as session:
        rows = [*(await session.scalars(select(Incident.id))), *(await session.scalars(select(Alert.id)))]
        forecasts = (await session.scalars(select(Forecast.series_key))).all()
    return {str(r) for r in rows} | set(forecasts)


async def evaluate(sessions, llm: LLMClient) -> dict:
    ids, questions = load_questions()
    existing = await _existing(sessions)
    scores: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # passed, baseline passed, total
    latencies, failures = [], []
    for q in questions:
        async with sessions() as session:
            started = time.perf_counter()
            answer = await answer_question(session, llm, question=q["q"], now=NOW)
            latencies.append(time.perf_counter() - started)
            baseline = await QUERIES["open"](session, Intent("open", now=NOW))
        cited = {c.id for c in answer.citations if c.kind != "host"}
        ok = passed(cited, q, ids, existing)
        scores[q["category"]][0] += ok
        scores[q["category"]][1] += passed({c.id for c in baseline.citations}, q, ids, existing)
        scores[q["category"]][2] += 1
        if not ok:
            failures.append(f"{q['category']}: {q['q']!r} -> {answer.intent}")
    p95 = statistics.quantiles(latencies, n=20)[-1] if len(latencies) > 1 else latencies[0]
    return {"scores": dict(scores), "p95_ms": p95 * 1000, "failures": failures, "mode": answer.mode}


def report(result: dict) -> str:
    lines = [f"{'category':<12}{'pass':>8}{'baseline':>10}"]
    total = [0, 0, 0]
    for category, (ok, base, n) in sorted(result["scores"].items()):
        lines.append(f"{category:<12}{ok:>4}/{n:<3}{base:>6}/{n:<3}")
        total = [total[0] + ok, total[1] + base, total[2] + n]
    lines.append(f"{'all':<12}{total[0]:>4}/{total[2]:<3}{total[1]:>6}/{total[2]:<3}"
                 f"  pass rate {100 * total[0] / total[2]:.1f} % (baseline {100 * total[1] / total[2]:.1f} %),"
                 f" mode {result['mode']}, answer p95 {result['p95_ms']:.1f} ms")
    lines += [f"  failed: {f}" for f in result["failures"]]
    return "\n".join(lines)


def pass_rate(result: dict) -> float:
    ok = sum(s[0] for s in result["scores"].values())
    return ok / sum(s[2] for s in result["scores"].values())


async def run(settings: CommonSettings) -> dict:
    url = make_url(settings.database_url).set(database=f"aiops_chat_eval_{uuid.uuid4().hex[:8]}")
    url_text = url.render_as_string(hide_password=False)
    create_database_if_missing(url_text)
    try:
        upgrade(url_text)
        engine = make_engine(settings.model_copy(update={"database_url": url_text}))
        sessions = make_sessionmaker(engine)
        async with sessions.begin() as session:
            await scenario.seed(session, NOW)
        redis = Redis.from_url(settings.redis_url)
        llm = LLMClient(settings, redis)
        try:
            return await evaluate(sessions, llm)
        finally:
            await llm.aclose()
            await redis.aclose()
            await engine.dispose()
    finally:
        drop_database(url_text)


def main() -> int:
    from bench_stack import require_stores  # beside this script; imported here so the test can load run()

    settings = CommonSettings()
    require_stores(postgres=settings.database_url, redis=settings.redis_url)
    result = asyncio.run(run(settings))
    print(report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
