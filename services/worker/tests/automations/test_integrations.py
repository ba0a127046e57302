"""AWX / Ansible Tower, Terraform Cloud and ServiceNow actions against small local servers that speak their
documented APIs: the launch or create call, its credentials, polling to the final state, and the result. The
platforms' addresses are the worker's settings: a rule naming another host never gets the credentials."""

import asyncio
import base64
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from pydantic import SecretStr, ValidationError

from aiops_contracts.automations import Action
from aiops_worker.automations.integrations import AWX_OUTPUT_BYTES, JSON_ANSWER_BYTES, run_integration
from aiops_worker.outbound.bodies import cut_note
from aiops_worker.settings import WorkerSettings
from conftest import LINES, StreamedAnswer

HUGE = 64 * 1024 * 1024


class Platforms:
    """AWX, Terraform Cloud and ServiceNow in one aiohttp app; records what it was sent."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict]] = []
        self.reads = 0
        self.awx_final = "successful"
        self.huge_stdout: StreamedAnswer | None = None  # AWX's job output, streamed
        self.huge_job: StreamedAnswer | None = None  # AWX's job status answer, streamed

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/api/v2/job_templates/{id}/launch/", self.awx_launch)
        app.router.add_get("/api/v2/jobs/{id}/", self.awx_job)
        app.router.add_get("/api/v2/jobs/{id}/stdout/", self.awx_stdout)
        app.router.add_post("/api/v2/runs", self.tfc_create)
        app.router.add_get("/api/v2/runs/{id}", self.tfc_run)
        app.router.add_post("/api/now/table/incident", self.snow_incident)
        return app

    async def _record(self, request: web.Request) -> None:
        self.calls.append((request.path, request.headers.get("Authorization", ""), await request.json()))

    async def awx_launch(self, request: web.Request) -> web.Response:
        await self._record(request)
        return web.json_response({"job": 42, "status": "pending"}, status=201)

    async def awx_job(self, request: web.Request) -> web.StreamResponse:
        if self.huge_job is not None:
            return await self.huge_job(request)
        self.reads += 1
        return web.json_response({"id": 42, "status": "running" if self.reads < 3 else self.awx_final})

    async def awx_stdout(self, request: web.Request) -> web.StreamResponse:
        assert request.query["format"] == "txt"
        if self.huge_stdout is not None:
            return await self.huge_stdout(request)
        return web.Response(text="PLAY RECAP\nweb-1 : ok=2 changed=1")

    async def tfc_create(self, request: web.Request) -> web.Response:
        assert request.content_type == "application/vnd.api+json"
        self.calls.append((request.path, request.headers["Authorization"], await request.json()))
        return web.json_response({"data": {"id": "run-abc", "type": "runs", "attributes": {"status": "pending"}}},
                                 status=201, content_type="application/vnd.api+json")

    async def tfc_run(self, request: web.Request) -> web.Response:
        self.reads += 1
        status = "planning" if self.reads < 2 else "applied"
        return web.json_response({"data": {"id": request.match_info["id"], "attributes": {"status": status}}},
                                 content_type="application/vnd.api+json")

    async def snow_incident(self, request: web.Request) -> web.Response:
        await self._record(request)
        return web.json_response({"result": {"number": "INC0010001", "sys_id": "abc123"}}, status=201)


async def serve(fake: Platforms) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(fake.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"


@pytest.fixture
async def platforms() -> AsyncIterator[tuple[Platforms, str]]:
    fake = Platforms()
    runner, url = await serve(fake)
    yield fake, url
    await runner.cleanup()


@pytest.fixture
def settings(worker_settings: WorkerSettings, platforms: tuple[Platforms, str]) -> WorkerSettings:
    url = platforms[1]
    return worker_settings.model_copy(update={
        "awx_url": url, "tfc_url": url, "servicenow_url": url,
        "awx_token": SecretStr("awx-secret"), "tfc_token": SecretStr("tfc-secret"), "servicenow_username": "aiops",
        "servicenow_password": SecretStr("snow-secret"), "integration_poll_s": 0.01})


async def test_awx_job_template_is_launched_and_followed_to_its_end(platforms, settings):
    fake, _ = platforms
    action = Action(kind="awx", template_id=7)
    result = await run_integration(action, {"target_host": "web-1"}, settings)
    assert result.ok and "AWX job 42: successful" in result.output and "PLAY RECAP" in result.output
    assert fake.calls == [("/api/v2/job_templates/7/launch/", "Bearer awx-secret",
                           {"extra_vars": {"target_host": "web-1"}})]
    fake.reads, fake.awx_final = 0, "failed"
    failed = await run_integration(action, {}, settings)
    assert not failed.ok and failed.failed == 1


async def test_an_awx_job_that_outlives_the_actions_timeout_is_named_in_the_runs_output(platforms, settings):
    """Before: "awx: timed out", while the job went on in AWX under a number nobody was told."""
    fake, _ = platforms
    fake.awx_final = "running"  # for ever
    # 5 s: the launch (answered at once by the local fake) must come back within it, on a loaded machine too.
    result = await run_integration(Action(kind="awx", template_id=7, timeout_s=5), {}, settings)
    assert (result.status, result.failed) == ("timeout", 1)
    assert result.output == "awx: timed out after 5 s: AWX job 42 goes on there, not waited for"


@pytest.mark.parametrize("declared", [False, True])
async def test_an_awx_jobs_huge_output_is_read_only_as_far_as_the_runs_output_keeps(platforms, settings, declared):
    """Before: the job's whole output (64 MiB here) was read and stored as the run's output."""
    fake, _ = platforms
    fake.huge_stdout = StreamedAnswer(HUGE, declared, first=b"")  # a chunk of spaces, then lines
    result = await run_integration(Action(kind="awx", template_id=7), {}, settings)
    assert result.ok
    head = " " * 65536 + LINES.decode()
    assert result.output == f"AWX job 42: successful\n{head[:AWX_OUTPUT_BYTES]}{cut_note(AWX_OUTPUT_BYTES)}"
    await asyncio.wait_for(fake.huge_stdout.ended.wait(), 30)
    assert not fake.huge_stdout.completed  # the connection was closed, not read to its end


@pytest.mark.parametrize("declared", [False, True])
async def test_a_platforms_huge_answer_fails_the_run_without_being_read_whole(platforms, settings, declared):
    """Before: every status answer was read whole (response.json()), however big."""
    fake, _ = platforms
    fake.huge_job = StreamedAnswer(HUGE, declared, first=b'{"id": 42, "status": "running"')
    result = await run_integration(Action(kind="awx", template_id=7), {}, settings)
    assert not result.ok and result.failed == 1
    assert f"GET /api/v2/jobs/42/: the answer is over {JSON_ANSWER_BYTES} bytes" in result.output, result.output
    await asyncio.wait_for(fake.huge_job.ended.wait(), 30)
    assert not fake.huge_job.completed


async def test_terraform_cloud_run_is_created_on_the_workspace_and_applied(platforms, settings):
    fake, _ = platforms
    result = await run_integration(Action(kind="terraform", workspace_id="ws-abc123"),
                                   {"message": "scale out web"}, settings)
    assert result.ok and result.output == "Terraform Cloud run run-abc: applied"
    (path, auth, body), = fake.calls
    assert (path, auth) == ("/api/v2/runs", "Bearer tfc-secret")
    assert body["data"]["relationships"]["workspace"]["data"] == {"type": "workspaces", "id": "ws-abc123"}
    assert body["data"]["attributes"]["message"] == "scale out web"


async def test_servicenow_incident_is_created_with_basic_auth(platforms, settings):
    fake, _ = platforms
    result = await run_integration(Action(kind="servicenow"),
                                   {"aiops_event": {"title": "web-1 disk full"}}, settings)
    assert result.ok and "INC0010001" in result.output
    (path, auth, body), = fake.calls
    assert auth == "Basic " + base64.b64encode(b"aiops:snow-secret").decode()
    assert body["short_description"] == "web-1 disk full"


async def test_unreachable_unsafe_or_unset_platform_fails_the_run_with_the_reason(settings):
    unsafe = await run_integration(Action(kind="servicenow"), {}, settings.model_copy(
        update={"servicenow_url": "http://169.254.169.254"}))
    assert not unsafe.ok and "link-local" in unsafe.output
    down = await run_integration(Action(kind="awx", template_id=1), {}, settings.model_copy(
        update={"awx_url": "http://127.0.0.1:9"}))
    assert not down.ok and down.output.startswith("awx: ConnectError")
    unset = await run_integration(Action(kind="awx", template_id=1), {}, settings.model_copy(update={"awx_url": ""}))
    assert not unset.ok and "AWX_URL is not set" in unset.output


@pytest.mark.parametrize(("kind", "setting", "target"), [("awx", "AWX_URL", {"template_id": 7}),
                                                       ("terraform", "TFC_URL", {"workspace_id": "ws-abc123"}),
                                                       ("servicenow", "SERVICENOW_URL", {})])
async def test_a_rule_naming_another_host_never_gets_the_credentials(platforms, settings, kind, setting, target):
    fake, _ = platforms
    other = Platforms()
    runner, other_url = await serve(other)
    try:
        with pytest.raises(ValidationError, match=f"a {kind} action takes no url: .*{setting}"):
            Action(kind=kind, url=other_url, **target)
        # a spec stored before the contract refused it: the run still goes to the configured platform
        result = await run_integration(Action.model_construct(kind=kind, url=other_url, **target), {}, settings)
    finally:
        await runner.cleanup()
    assert result.ok and other.calls == [] and other.reads == 0
    assert len(fake.calls) == 1 and fake.calls[0][1]


def test_an_action_names_what_it_lacks():
    with pytest.raises(ValueError, match="a awx action needs template_id"):
        Action(kind="awx")
