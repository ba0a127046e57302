"""Actions on other automation platforms, written against their documented HTTP APIs:
- AWX / Ansible Tower: POST /api/v2/job_templates/{id}/launch/, then GET /api/v2/jobs/{id}/ until it finishes,
  and its text output from /api/v2/jobs/{id}/stdout/?format=txt (Bearer token);
- Terraform Cloud: POST /api/v2/runs (JSON:API, a workspace relationship), then GET /api/v2/runs/{id} until
  its status is final (Bearer token);
- ServiceNow: POST /api/now/table/incident (basic auth), answered with the record's number and sys_id.
The base URL is the worker's setting (AWX_URL, TFC_URL, SERVICENOW_URL), like the credentials it goes with.
Each returns the same result as a playbook run: status, output, changed/failed counts. Answers are streamed and
read only so far: a JSON answer over JSON_ANSWER_BYTES fails the run naming the limit, and of AWX's job output
only the first AWX_OUTPUT_BYTES are read and kept, with a note when it was cut. An action that runs past its
`timeout_s` fails as `timeout`, naming the AWX job or Terraform Cloud run it started (once the platform's answer
said which): it goes on there, and only that name lets an operator find it."""

import asyncio
import codecs
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from aiops_contracts.automations import PLATFORM_URL_SETTINGS, Action
from aiops_worker.automations.ansible import PlaybookResult
from aiops_worker.outbound.bodies import BodyTooLarge, cut_note, read_at_most, read_within
from aiops_worker.outbound.urls import check_url, outbound_client
from aiops_worker.settings import WorkerSettings

JSON_API = "application/vnd.api+json"
AWX_OUTPUT_BYTES = 100_000  # of a job's output, read and kept as its run's output (the rest is not read)
JSON_ANSWER_BYTES = 1024 * 1024  # a platform's JSON answer, decoded: a bigger one fails the run
AWX_DONE = {"successful", "failed", "error", "canceled"}
TFC_DONE = {"applied", "planned_and_finished", "errored", "discarded", "canceled", "force_canceled",
            "policy_soft_failed"}
TFC_OK = {"applied", "planned_and_finished"}



@dataclass
class Started:
    """What a call started on its platform, once its answer said (an action timed out after that names it)."""

    what: str | None = None


Call = Callable[[httpx.AsyncClient, Action, dict[str, Any], WorkerSettings, Started], Awaitable[PlaybookResult]]


async def run_integration(action: Action, extra_vars: dict[str, Any], settings: WorkerSettings) -> PlaybookResult:
    call = CALLS[action.kind]
    url_setting = PLATFORM_URL_SETTINGS[action.kind]
    started = Started()
    try:  # no URL, an unsafe one (UnsafeUrl), an HTTP error or an unexpected answer fails the run with the reason
        if not (url := getattr(settings, url_setting.lower())):
            raise ValueError(f"{url_setting} is not set")
        base = await check_url(url, settings.outbound_allowed_hosts)
        async with outbound_client(settings.outbound_allowed_hosts, base_url=base.rstrip("/"),
                                   timeout=min(action.timeout_s, 30.0)) as client:
            return await asyncio.wait_for(call(client, action, extra_vars, settings, started), action.timeout_s)
    except (httpx.HTTPError, KeyError, ValueError) as exc:
        return PlaybookResult(status="failed", rc=None, changed=0, failed=1, output=f"{action.kind}: {exc!r}")
    except TimeoutError:
        left = f": {started.what} goes on there, not waited for" if started.what else ""
        return PlaybookResult(status="timeout", rc=None, changed=0, failed=1,
                              output=f"{action.kind}: timed out after {action.timeout_s:g} s{left}")


async def read_output(response: httpx.Response, limit: int) -> str:
    """The text of a streamed answer, its first `limit` bytes (then a note that it was cut): the rest is not
    read, and the connection is closed with the response."""
    body, more = await read_at_most(response.aiter_bytes(), limit)
    try:
        decoder = codecs.getincrementaldecoder(response.charset_encoding or "utf-8")("replace")
    except LookupError:  # a charset Python does not know
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
    # A cut body is decoded as not final: a character the cut split is left out, not shown as U+FFFD.
    text = decoder.decode(body, final=not more)
    return text + cut_note(limit) if more else text


async def _json(client: httpx.AsyncClient, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    """A 2xx answer's status and JSON, read up to JSON_ANSWER_BYTES (ValueError naming the limit past it, the
    rest unread); an error status raises as raise_for_status does, its body unread."""
    async with client.stream(method, path, **kwargs) as response:
        response.raise_for_status()
        try:
            body = await read_within(response.aiter_bytes(), JSON_ANSWER_BYTES, _content_length(response))
        except BodyTooLarge as exc:
            raise ValueError(f"{method} {path}: {exc}") from exc
    return response.status_code, orjson.loads(body)


def _content_length(response: httpx.Response) -> int | None:
    try:
        return int(response.headers["Content-Length"])
    except (KeyError, ValueError):
        return None


async def _poll(read: Callable[[], Awaitable[str]], done: set[str], interval_s: float) -> str:
    while (status := await read()) not in done:
        await asyncio.sleep(interval_s)
    return status


async def awx_job(client: httpx.AsyncClient, action: Action, extra_vars: dict[str, Any],
                  settings: WorkerSettings, started: Started) -> PlaybookResult:
    headers = {"Authorization": f"Bearer {settings.awx_token.get_secret_value()}"}
    _, launched = await _json(client, "POST", f"/api/v2/job_templates/{action.template_id}/launch/",
                              headers=headers, json={"extra_vars": extra_vars})
    job = launched["job"]
    started.what = f"AWX job {job}"

    async def status() -> str:
        _, answer = await _json(client, "GET", f"/api/v2/jobs/{job}/", headers=headers)
        return str(answer["status"])

    final = await _poll(status, AWX_DONE, settings.integration_poll_s)
    async with client.stream("GET", f"/api/v2/jobs/{job}/stdout/", params={"format": "txt"},
                             headers=headers) as response:
        stdout = await read_output(response, AWX_OUTPUT_BYTES)
    ok = final == "successful"
    return PlaybookResult(status="successful" if ok else "failed", rc=None, changed=int(ok), failed=int(not ok),
                          output=f"AWX job {job}: {final}\n{stdout}")


async def terraform_run(client: httpx.AsyncClient, action: Action, extra_vars: dict[str, Any],
                        settings: WorkerSettings, started: Started) -> PlaybookResult:
    headers = {"Authorization": f"Bearer {settings.tfc_token.get_secret_value()}", "Content-Type": JSON_API}
    body = {"data": {"type": "runs", "attributes": {"message": str(extra_vars.get("message", "AIOps automation"))},
                     "relationships": {"workspace": {"data": {"type": "workspaces", "id": action.workspace_id}}}}}
    _, created = await _json(client, "POST", "/api/v2/runs", headers=headers, content=orjson.dumps(body))
    run_id = created["data"]["id"]
    started.what = f"Terraform Cloud run {run_id}"

    async def status() -> str:
        _, run = await _json(client, "GET", f"/api/v2/runs/{run_id}", headers=headers)
        return str(run["data"]["attributes"]["status"])

    final = await _poll(status, TFC_DONE, settings.integration_poll_s)
    ok = final in TFC_OK
    return PlaybookResult(status="successful" if ok else "failed", rc=None, changed=int(ok), failed=int(not ok),
                          output=f"Terraform Cloud run {run_id}: {final}")


async def servicenow_incident(client: httpx.AsyncClient, action: Action, extra_vars: dict[str, Any],
                              settings: WorkerSettings, started: Started) -> PlaybookResult:
    event = extra_vars.get("aiops_event", {})
    body = {"short_description": str(extra_vars.get("short_description", event.get("title", "AIOps incident")))[:160],
            "description": str(extra_vars.get("description", event)),
            "urgency": str(extra_vars.get("urgency", "2")), "impact": str(extra_vars.get("impact", "2"))}
    code, answer = await _json(client, "POST", "/api/now/table/incident", json=body,
                               headers={"Accept": "application/json"},
                               auth=(settings.servicenow_username, settings.servicenow_password.get_secret_value()))
    record = answer["result"]
    return PlaybookResult(status="successful", rc=code, changed=1, failed=0,
                          output=f"ServiceNow incident {record['number']} (sys_id {record['sys_id']}) created")


CALLS: dict[str, Call] = {"awx": awx_job, "terraform": terraform_run, "servicenow": servicenow_incident}
