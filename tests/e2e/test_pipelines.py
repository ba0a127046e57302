"""Cross-service: a signed GitHub `workflow_run` webhook for a failed run -> aiops:pipelines:runs -> the worker's
pipelines-store -> a build-failure alert -> alerts-store -> an incident; readable through /api/v1/pipelines."""

import hashlib
import hmac
from pathlib import Path

import httpx
import pytest

from conftest import SERVICE_START_S, until

pytestmark = pytest.mark.e2e
PAYLOAD = Path(__file__).parent / "payloads" / "github_workflow_run_failed.json"
SECRET = "whsec-0123456789abcdef0123456789abcdef"


def signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "X-GitHub-Event": "workflow_run",
            "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958", "Content-Type": "application/json"}


async def test_signed_failed_workflow_run_becomes_a_build_alert_in_an_incident(start_service, service_headers,
                                                                                 clean_db) -> None:
    api = start_service("aiops-api")
    start_service("aiops-worker")
    headers, viewer = service_headers(), service_headers("viewer")
    body = PAYLOAD.read_bytes()
    async with httpx.AsyncClient(base_url=api.url, timeout=30) as client:
        source = {"name": "octo-ci", "kind": "github_actions", "target": "https://api.github.com", "interval_s": 900,
                  "config": {"repositories": ["octo-org/octo-repo"]}, "credentials": {"webhook_secret": SECRET}}
        created = await client.post("/api/v1/sources", json=source, headers=headers)
        assert created.status_code == 201, created.text

        forged = await client.post("/webhooks/github", content=body, headers=signed(body, "x" * 40))
        assert forged.status_code == 401
        unsigned = await client.post("/webhooks/github", content=body, headers={"X-GitHub-Event": "workflow_run"})
        assert unsigned.status_code == 401
        accepted = await client.post("/webhooks/github", content=body, headers=signed(body))
        assert (accepted.status_code, accepted.json()["accepted"]) == (202, 1), accepted.text

        async def alert_in_incident() -> dict | None:
            found = (await client.get("/api/v1/alerts", params={"source": "pipelines"}, headers=viewer)).json()
            items = [a for a in found["items"] if a.get("incident_id")]
            return items[0] if items else None

        alert = await until(alert_in_incident, SERVICE_START_S, "the build alert joins an incident")
        assert alert["title"] == "Build failed: octo-org/octo-repo: Build"
        assert (alert["severity"], alert["status"], alert["service"]) == ("medium", "firing", alert["title"][14:])
        incident = (await client.get(f"/api/v1/incidents/{alert['incident_id']}", headers=viewer)).json()
        assert incident["status"] == "open"

        pipelines = (await client.get("/api/v1/pipelines", headers=viewer)).json()
        assert [(p["provider"], p["key"], p["failed_7d"] >= 0) for p in pipelines] == [
            ("github_actions", "octo-org/octo-repo/.github/workflows/build.yml", True)]
        runs = (await client.get(f"/api/v1/pipelines/{pipelines[0]['id']}/runs", headers=viewer)).json()["items"]
        assert [(r["number"], r["conclusion"], r["commit_sha"][:7], r["features"]["duration_s"]) for r in runs] == [
            (562, "failure", "acb5820", 520.0)]
        anomalies = (await client.get(f"/api/v1/pipelines/{pipelines[0]['id']}/anomalies", headers=viewer)).json()
        assert [(a["kind"], a["incident_id"]) for a in anomalies] == [("build_failed", alert["incident_id"])]
