"""Pipeline routes on a real PostgreSQL: the list with grades, a pipeline's dimensions, runs, anomalies (its
alerts), forecasts and RCA as the worker's pipelines-analysis stores them; unknown ids 404, no token 401."""

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiops_api.auth.tokens import Role
from aiops_contracts.db import Alert, Pipeline, PipelineRun, PipelineScore

NOW = datetime.now(UTC).replace(microsecond=0)
DIMENSIONS = [{"name": name, "weight": w, "score": 90.0, "explanation": "ok", "trend": "steady", "change": 0.0}
              for name, w in (("test_success", .3), ("performance", .25), ("resources", .2), ("errors", .15),
                              ("stability", .1))]
FORECASTS = {"duration_s": {"method": "ets", "interval": 0.95, "backtest_smape": {"chosen": 3.1, "seasonal_naive": 4.0},
                            "points": [[NOW.timestamp() + d * 86_400, 600.0, 550.0, 650.0] for d in range(1, 8)]}}
RCA = {"anomaly": "slow_build", "metric": "duration_s", "onset_index": 10, "onset_ts": NOW.timestamp() - 86_400,
       "before": 600.0, "after": 900.0, "narrative": "Builds slowed.", "narrative_by": "template",
       "causes": [{"kind": "runner_change", "name": "self-hosted-2", "explained": 0.97, "evidence": {}}],
       "checks": [{"from": "self-hosted-2", "granger_p": 0.001, "caveats": ["not proof"]}]}


@pytest.fixture
async def pipelines(sessions: async_sessionmaker[AsyncSession], app) -> dict[str, uuid.UUID]:
    ids = {"api": uuid.uuid4(), "web": uuid.uuid4()}
    async with sessions.begin() as session:
        session.add_all([Pipeline(id=ids["api"], provider="github_actions", key="o/api/.github/workflows/ci.yml",
                                  name="o/api: CI", source="gh"),
                         Pipeline(id=ids["web"], provider="jenkins", key="team/web", name="team/web", source="jk")])
        await session.flush()
        for n in range(3):
            started = NOW - timedelta(hours=3 - n)
            session.add(PipelineRun(pipeline_id=ids["api"], external_id=f"{n}:1", number=n, attempt=1,
                                    status="completed", conclusion="failure" if n == 2 else "success",
                                    started_at=started, finished_at=started + timedelta(minutes=10),
                                    features={"duration_s": 600.0, "failed": int(n == 2)}))
        session.add(PipelineScore(pipeline_id=ids["api"], day=NOW.date(), computed_at=NOW, score=81.5, grade="B",
                                  dimensions=DIMENSIONS, forecasts=FORECASTS, rca=RCA))
        session.add(Alert(source="pipelines", fingerprint=f"pipeline:{ids['api']}:slow_build", title="Slow builds: o/api",
                          description="", severity="high", status="firing", service="o/api: CI",
                          labels={"pipeline_id": str(ids["api"]), "kind": "slow_build"}, details={}, count=1,
                          first_seen_at=NOW, last_seen_at=NOW, last_event_id="e1"))
    return ids


async def test_list_and_detail_with_grades(client: httpx.AsyncClient, auth: Callable, pipelines: dict) -> None:
    listed = await client.get("/api/v1/pipelines", headers=auth(Role.viewer))
    assert listed.status_code == 200, listed.text
    assert [(p["name"], p["grade"], p["builds_7d"], p["failed_7d"]) for p in listed.json()] == [
        ("o/api: CI", "B", 3, 1), ("team/web", None, 0, 0)]
    assert listed.json()[0]["last_run"]["number"] == 2
    detail = (await client.get(f"/api/v1/pipelines/{pipelines['api']}", headers=auth(Role.viewer))).json()
    assert (detail["score"], detail["open_anomalies"], [d["name"] for d in detail["dimensions"]]) == (
        81.5, 1, ["test_success", "performance", "resources", "errors", "stability"])


async def test_runs_anomalies_forecast_and_rca(client: httpx.AsyncClient, auth: Callable, pipelines: dict) -> None:
    base, headers = f"/api/v1/pipelines/{pipelines['api']}", auth(Role.viewer)
    runs_page = (await client.get(f"{base}/runs", params={"limit": 2}, headers=headers)).json()
    assert [r["number"] for r in runs_page["items"]] == [2, 1]
    older = (await client.get(f"{base}/runs", params={"limit": 2, "cursor": runs_page["next_cursor"]},
                              headers=headers)).json()
    assert ([r["number"] for r in older["items"]], older["next_cursor"]) == ([0], None)
    anomalies = (await client.get(f"{base}/anomalies", headers=headers)).json()
    assert [(a["kind"], a["severity"]) for a in anomalies] == [("slow_build", "high")]
    forecast = (await client.get(f"{base}/forecast", headers=headers)).json()
    (series,) = forecast["series"]
    assert series["metric"] == "duration_s" and len(series["points"]) == 7 and series["backtest_smape"]["chosen"] == 3.1
    rca = (await client.get(f"{base}/rca", headers=headers)).json()
    assert (rca["causes"][0]["name"], rca["narrative_by"]) == ("self-hosted-2", "template")
    none = await client.get(f"/api/v1/pipelines/{pipelines['web']}/rca", headers=headers)
    assert none.status_code == 404 and "pipeline_id" in none.json()["detail"]


async def test_runs_page_through_equal_start_times_and_runs_not_started(
        client: httpx.AsyncClient, auth: Callable, sessions: async_sessionmaker[AsyncSession], pipelines: dict) -> None:
    """GitHub's times are whole seconds: runs started in the same second each come once; a queued run (no start
    yet) sits at its queue time, and one with neither at the time it was first seen."""
    base = f"/api/v1/pipelines/{pipelines['web']}/runs"
    same = NOW - timedelta(hours=1)
    async with sessions.begin() as session:
        session.add_all([PipelineRun(pipeline_id=pipelines["web"], external_id=f"{n}:1", number=n, status="completed",
                                     started_at=same, features={}) for n in range(4)])
        session.add_all([PipelineRun(pipeline_id=pipelines["web"], external_id="q:1", number=9, status="queued",
                                     queued_at=same - timedelta(minutes=1), features={}),
                         PipelineRun(pipeline_id=pipelines["web"], external_id="s:1", number=10, status="queued",
                                     features={})])  # first seen now
    seen, cursor = [], None
    while True:
        answer = await client.get(base, params={"limit": 2, **({"cursor": cursor} if cursor else {})}, headers=auth(Role.viewer))
        assert answer.status_code == 200, answer.text
        seen += [r["number"] for r in answer.json()["items"]]
        if (cursor := answer.json()["next_cursor"]) is None:
            break
    assert (seen[0], sorted(seen[1:5]), seen[5]) == (10, [0, 1, 2, 3], 9)
    bad = await client.get(base, params={"cursor": "nope"}, headers=auth(Role.viewer))
    assert bad.status_code == 400 and "cursor" in bad.json()["detail"]


async def test_unknown_pipeline_is_404_and_no_token_401(client: httpx.AsyncClient, auth: Callable, pipelines) -> None:
    for path in ("", "/runs", "/anomalies", "/forecast", "/rca"):
        answer = await client.get(f"/api/v1/pipelines/{uuid.uuid4()}{path}", headers=auth(Role.viewer))
        assert answer.status_code == 404, path
    assert (await client.get("/api/v1/pipelines")).status_code == 401
    assert (await client.get("/api/v1/pipelines/not-a-uuid", headers=auth(Role.viewer))).status_code in (400, 422)
