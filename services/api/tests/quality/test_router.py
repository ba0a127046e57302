"""GET /api/v1/quality: the latest report written by scripts/bench/quality.py, or the empty state."""

import json
from pathlib import Path

import httpx
import pytest

from aiops_api.auth.tokens import Role
from aiops_api.main import create_app

REPORT = {
    "schema_version": 1, "measured_at": "2026-11-29T22:03:05+00:00", "git_commit": "7758566", "duration_s": 127.9,
    "data_path": "../shared/bench-data",
    "benchmarks": [{"name": "nab", "title": "Metric anomaly detection", "data": "41 series", "duration_s": 78.4,
                    "scores": [{"subject": "all", "metric": "standard", "value": 74.2, "better": "higher",
                                "reference": False}]}],
}


@pytest.fixture
async def client(api_settings, clean_db, redis, tmp_path: Path):
    """A client of an app whose QUALITY_REPORT_PATH is tmp_path/quality.json (not written yet)."""
    app = create_app(api_settings.model_copy(update={"quality_report_path": tmp_path / "quality.json"}))
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def test_the_written_report_is_served(client, auth, tmp_path: Path) -> None:
    (tmp_path / "quality.json").write_text(json.dumps(REPORT))
    response = await client.get("/api/v1/quality", headers=auth(Role.viewer))
    assert response.status_code == 200
    body = response.json()
    assert body["available"] is True and body["git_commit"] == "7758566"
    assert body["measured_at"] == "2026-11-29T22:03:05Z"
    assert body["benchmarks"][0]["scores"][0] == REPORT["benchmarks"][0]["scores"][0]


async def test_no_report_yet_is_an_empty_state_not_404(client, auth) -> None:
    response = await client.get("/api/v1/quality", headers=auth(Role.viewer))
    assert response.status_code == 200
    assert response.json() == {"available": False, "measured_at": None, "git_commit": None, "duration_s": None,
                               "benchmarks": []}


async def test_quality_needs_a_token(client) -> None:
    assert (await client.get("/api/v1/quality")).status_code == 401
