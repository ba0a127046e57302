"""POST /api/v1/chat over the seeded scenario (scripts/bench/chat_scenario.py): answers cite what they used,
with and without an LLM (a local OpenAI-compatible server), and propose the automations that match a cited
incident without running them; viewers may ask, bad questions get a 422."""

import importlib.util
import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import select

from aiops_api.auth.tokens import Role
from aiops_api.chat.intents import MAX_RANGE
from aiops_api.main import create_app
from aiops_contracts.automations import RuleSpec
from aiops_contracts.db import AutomationRule, AutomationRun
from aiops_contracts.embeddings import TextEmbedder

SCENARIO = Path(__file__).resolve().parents[4] / "scripts" / "bench" / "chat_scenario.py"
_spec = importlib.util.spec_from_file_location("chat_scenario", SCENARIO)
scenario = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(scenario)


async def seed(sessions) -> None:
    async with sessions.begin() as session:
        await scenario.seed(session, datetime.now(UTC))


async def ask(client, auth, question: str) -> dict:
    response = await client.post("/api/v1/chat", json={"question": question}, headers=auth(Role.viewer))
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_host_question_cites_its_open_incident_and_the_host(client, auth, sessions) -> None:
    await seed(sessions)
    answer = await ask(client, auth, "what is wrong with web-3?")
    cited = {(c["kind"], c["id"]) for c in answer["citations"]}
    assert answer["mode"] == "rules" and answer["intent"] == "host"
    assert ("incident", str(scenario.I_DB_NOW)) in cited and ("host", "web-3") in cited
    assert ("incident", str(scenario.I_DB_PAST)) not in cited  # resolved: not what is wrong now
    assert "db-1 connection pool exhausted" in answer["answer"]
    assert {"link": f"/incidents/{scenario.I_DB_NOW}"}.items() <= next(
        c for c in answer["citations"] if c["id"] == str(scenario.I_DB_NOW)).items()


async def test_last_time_cites_the_resolved_look_alike_with_who_resolved_it_and_how_fast(client, auth, sessions) -> None:
    await seed(sessions)
    answer = await ask(client, auth, "what happened last time we saw this on web-3?")
    assert [c["id"] for c in answer["citations"]] == [str(scenario.I_DB_NOW), str(scenario.I_DB_PAST)]
    assert "| alice | none | 25 |" in answer["answer"]  # resolved by, actions, minutes to resolve


async def test_a_question_no_keyword_decides_is_routed_by_meaning(client, auth, sessions) -> None:
    await seed(sessions)
    answer = await ask(client, auth, "are we running low on space on db-1?")  # near "running out of storage space"
    assert answer["intent"] == "capacity" and [c["id"] for c in answer["citations"]] == [scenario.F_DB1_DISK]
    general = await ask(client, auth, "is web-3 healthy?")  # nearest the general status questions: the default
    assert general["intent"] == "host"


async def test_questions_need_a_viewer_token_and_a_question(client, auth) -> None:
    assert (await client.post("/api/v1/chat", json={"question": "hi"})).status_code == 401
    response = await client.post("/api/v1/chat", json={"question": ""}, headers=auth(Role.viewer))
    assert response.status_code == 422 and "question" in response.text


async def test_with_an_llm_it_calls_our_queries_as_tools_and_cites_only_what_they_returned(
        api_settings, auth, sessions, clean_db, redis, fake_openai) -> None:
    await seed(sessions)
    made_up = "00000000-0000-0000-0000-00000000dead"
    fake_openai.replies += [
        [("query_automations", {}), ("query_host", {"host": "web-3"})],  # an unknown tool is refused, not fatal
        json.dumps({"answer": "web-3 cannot reach db-1: its pool is exhausted.",
                    "cited_ids": [str(scenario.I_DB_NOW), made_up]}),
        500]
    app = create_app(api_settings.model_copy(update={"llm_base_url": fake_openai.base_url, "llm_max_retries": 0}))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        answer = await ask(client, auth, "what is wrong with web-3?")
        fallback = await ask(client, auth, "what is wrong with web-3?")  # the provider fails: rules answer
    assert answer["mode"] == "llm" and answer["answer"].startswith("web-3 cannot reach db-1")
    assert answer["intent"] == "host" and [c["id"] for c in answer["citations"]] == [str(scenario.I_DB_NOW)]
    first, second = fake_openai.requests[:2]
    tools = {t["function"]["name"] for t in first["tools"]}
    assert tools >= {"query_host", "query_capacity", "query_noise", "query_anomalies", "query_templates",
                     "query_metrics"}
    assert all(name.startswith("query_") for name in tools)  # reads only: no tool runs an automation
    refused, result = [m for m in second["messages"] if m["role"] == "tool"]
    assert "unknown tool" in refused["content"]
    assert result["content"].startswith('<data source="query_host results">') and str(scenario.I_DB_NOW) in result["content"]
    assert fallback["mode"] == "rules" and str(scenario.I_DB_NOW) in {c["id"] for c in fallback["citations"]}


def events(body: str) -> list[tuple[str, dict]]:
    parsed = []
    for block in body.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        parsed.append((lines["event"], json.loads(lines["data"])))
    return parsed


async def test_the_streamed_variant_sends_deltas_then_the_answer_without_and_with_an_llm(
        client, api_settings, auth, sessions, fake_openai) -> None:
    await seed(sessions)
    plain = await client.post("/api/v1/chat/stream", json={"question": "which disks fill up this week?"},
                              headers=auth(Role.viewer))
    assert plain.status_code == 200 and plain.headers["content-type"].startswith("text/event-stream")
    (kind, delta), (last, answer) = events(plain.text)
    assert kind == "delta" and last == "answer" and delta["text"] == answer["answer"]
    assert [c["id"] for c in answer["citations"]] == [scenario.F_DB1_DISK]
    fake_openai.replies.append(f"db-1 fills /var/lib/postgresql first: see {scenario.F_DB1_DISK}.")
    app = create_app(api_settings.model_copy(update={"llm_base_url": fake_openai.base_url, "llm_max_retries": 0}))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test") as llm_client:
        streamed = await llm_client.post("/api/v1/chat/stream", json={"question": "which disks fill up this week?"},
                                         headers=auth(Role.viewer))
    parsed = events(streamed.text)
    deltas = [data["text"] for kind, data in parsed if kind == "delta"]
    assert len(deltas) > 3 and fake_openai.requests[-1]["stream"] is True
    final = parsed[-1][1]
    assert final["mode"] == "llm" and final["answer"].startswith("db-1 fills /var/lib/postgresql first")
    assert [c["id"] for c in final["citations"]] == [scenario.F_DB1_DISK]


async def test_the_streamed_answer_is_kept_in_the_callers_conversation(client, auth, sessions) -> None:
    await seed(sessions)
    streamed = await client.post("/api/v1/chat/stream", json={"question": "which disks fill up this week?"},
                                 headers=auth(Role.viewer))
    conversation = events(streamed.text)[-1][1]["conversation_id"]
    kept = (await client.get(f"/api/v1/chat/conversations/{conversation}", headers=auth(Role.viewer))).json()
    assert [(m["role"], m["citations"][:1]) for m in kept["messages"]][0] == ("user", [])
    assert kept["messages"][1]["citations"][0]["id"] == scenario.F_DB1_DISK
    others = await client.post("/api/v1/chat/stream", json={"question": "and?", "conversation_id": conversation},
                               headers=auth(Role.operator))
    assert others.status_code == 404  # refused before any event is streamed


async def test_conversations_are_kept_per_user_and_continued(client, auth, sessions) -> None:
    await seed(sessions)
    first = await ask(client, auth, "what is wrong with web-3?")
    conversation = first["conversation_id"]
    response = await client.post("/api/v1/chat", json={"question": "which disks fill up this week?",
                                                       "conversation_id": conversation}, headers=auth(Role.viewer))
    assert response.status_code == 200 and response.json()["conversation_id"] == conversation
    kept = await client.get(f"/api/v1/chat/conversations/{conversation}", headers=auth(Role.viewer))
    messages = kept.json()["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    assert messages[0]["content"] == "what is wrong with web-3?"
    assert messages[3]["citations"][0]["id"] == scenario.F_DB1_DISK
    others = await client.get(f"/api/v1/chat/conversations/{conversation}", headers=auth(Role.operator))
    assert others.status_code == 404 and "conversation" in others.json()["detail"]


async def test_a_follow_up_sends_earlier_answers_to_the_llm_as_data(
        client, api_settings, auth, sessions, fake_openai) -> None:
    await seed(sessions)
    first = await ask(client, auth, "what is wrong with web-3?")  # rules: its table quotes alert titles
    fake_openai.replies.append(json.dumps({"answer": "Still the pool.", "cited_ids": []}))
    app = create_app(api_settings.model_copy(update={"llm_base_url": fake_openai.base_url, "llm_max_retries": 0}))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test") as llm_client:
        response = await llm_client.post("/api/v1/chat", json={"question": "and now?",
                                                                "conversation_id": first["conversation_id"]},
                                         headers=auth(Role.viewer))
    assert response.status_code == 200, response.text
    sent = fake_openai.requests[-1]["messages"]
    earlier = [m for m in sent if m["role"] == "assistant"]
    assert len(earlier) == 1 and earlier[0]["content"].startswith('<data source="your earlier answer">')
    assert [m["content"] for m in sent if m["role"] == "user"] == ["what is wrong with web-3?", "and now?"]


def _rule(name: str, *, hosts: list[str], enabled: bool = True, destructive: bool = False,
          action: dict[str, str] | None = None) -> AutomationRule:
    spec = RuleSpec(name=name, description=f"{name} for the test", enabled=enabled,
                    trigger={"events": ["incident.opened"], "hosts": hosts},
                    action=action or {"kind": "ansible", "playbook": "restart-service.yml"},
                    guards={"destructive": destructive})
    return AutomationRule(name=name, origin="api", enabled=enabled, spec=spec.model_dump(mode="json"))


async def test_an_answer_about_an_incident_proposes_the_matching_automations_and_runs_none(
        client, auth, sessions) -> None:
    await seed(sessions)
    async with sessions.begin() as session:
        session.add_all([_rule("restart-web", hosts=["web-*"], destructive=True), _rule("off", hosts=["web-*"],
                                                                                     enabled=False),
                         _rule("restart-db", hosts=["db-*"])])
        await session.flush()
        session.add(AutomationRun(rule_name="restart-web", trigger_key="env-1", target="web-3",
                                  incident_id=scenario.I_DB_NOW, status="awaiting_approval", spec={}, event={}))
    answer = await ask(client, auth, "what is wrong with web-3?")
    (proposal,) = answer["proposals"]  # the disabled rule and the one for db hosts are not proposed
    assert proposal["rule"] == "restart-web" and proposal["incident_id"] == str(scenario.I_DB_NOW)
    assert proposal["target"] == "web-3" and proposal["action"] == "ansible restart-service.yml"
    assert proposal["needs_approval"] and proposal["link"] == "/automations#approvals"  # its run awaits approval
    assert "Proposed automation: restart-web" in answer["answer"] and "runs nothing" in answer["answer"]
    db = await ask(client, auth, "anything going on on db-1?")
    assert [(p["rule"], p["link"], p["awaiting_run_id"]) for p in db["proposals"]] == [
        ("restart-db", "/automations#rule-restart-db", None)]
    capacity = await ask(client, auth, "which disks fill up this week?")
    assert capacity["proposals"] == []  # cites no incident
    async with sessions() as session:  # asking ran nothing: the one run is the one planted, still waiting
        assert [r.status for r in await session.scalars(select(AutomationRun))] == ["awaiting_approval"]


async def test_a_rule_is_proposed_for_the_cited_incident_its_run_awaits_approval_on(client, auth, sessions) -> None:
    await seed(sessions)
    async with sessions.begin() as session:
        session.add(_rule("restart-web", hosts=["web-*"], destructive=True))
    before = await ask(client, auth, "which incidents are open?")
    web = [c["id"] for c in before["citations"] if c["id"] in {str(scenario.I_DB_NOW), str(scenario.I_CHECKOUT)}]
    assert len(web) == 2  # both open on a web host: the rule matches both
    assert [(p["incident_id"], p["link"]) for p in before["proposals"]] == [(web[0], "/automations#rule-restart-web")]
    async with sessions.begin() as session:  # a run of the rule awaits approval on the later-cited incident
        session.add(AutomationRun(rule_name="restart-web", trigger_key="env-2", target="web", incident_id=web[1],
                                  status="awaiting_approval", spec={}, event={}))
    after = await ask(client, auth, "which incidents are open?")
    assert [(p["incident_id"], p["link"]) for p in after["proposals"]] == [(web[1], "/automations#approvals")]


async def test_a_general_question_is_answered_by_the_parsers_default_while_the_model_fails(
        app, client, auth, sessions) -> None:
    await seed(sessions)
    app.state.log_search.embedder = TextEmbedder("no-such-device")  # torch refuses it once the weights are read
    answer = await ask(client, auth, "what is wrong with web-3?")
    assert answer["intent"] == "host" and str(scenario.I_DB_NOW) in {c["id"] for c in answer["citations"]}


async def test_a_user_past_the_hourly_chat_quota_gets_429_naming_it_and_others_still_ask(
        api_settings, auth, sessions, clean_db, redis, fake_openai) -> None:
    await seed(sessions)
    fake_openai.model = lambda body: json.dumps({"answer": "web-3 cannot reach db-1.", "cited_ids": []})
    app = create_app(api_settings.model_copy(update={"llm_base_url": fake_openai.base_url, "llm_max_retries": 0,
                                                     "llm_chat_tokens_per_user_hour": 50}))
    question = {"question": "what is wrong with web-3?"}
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        app.state.llm.clock = lambda: 3600 * 500_000 + 1200.0  # one hour's counters, 40 min before it ends
        assert (await ask(client, auth, question["question"]))["mode"] == "llm"  # its prompt alone is over 50 tokens
        refused = [await client.post(path, json=question, headers=auth(Role.viewer))
                   for path in ("/api/v1/chat", "/api/v1/chat/stream")]
        other = await client.post("/api/v1/chat", json=question, headers=auth(Role.operator))
    for response in refused:
        assert response.status_code == 429, response.text
        # The limit in the detail, the time in Retry-After only: the dashboard words it once ("try again in 40 min",
        # services/frontend/tests/chat-errors.test.ts, which answers with this detail).
        assert response.json()["detail"] == "your hourly chat budget is spent (LLM_CHAT_TOKENS_PER_USER_HOUR=50 tokens)"
        assert response.headers["Retry-After"] == "2400"
    assert other.status_code == 200 and other.json()["mode"] == "llm"
    assert len(fake_openai.requests) == 2


async def test_a_proposed_webhook_shows_its_url_as_scheme_and_host(client, auth, sessions) -> None:
    await seed(sessions)
    async with sessions.begin() as session:
        session.add(_rule("page-web", hosts=["web-*"],
                          action={"kind": "webhook", "url": "https://hooks.example.com/services/T000/B000/SECRET"}))
    answer = await ask(client, auth, "what is wrong with web-3?")
    assert [p["action"] for p in answer["proposals"]] == ["webhook https://hooks.example.com"]
    assert "SECRET" not in str(answer)


async def test_a_time_past_what_a_clock_or_a_calendar_holds_reads_as_no_time(client, auth, sessions) -> None:
    """Minute 75, or a range of a million days, once raised ValueError or OverflowError: a 500 for the question."""
    await seed(sessions)
    for question in ("what happened at 10:75", "alerts in the last 1000000 days", "alerts in the last 99999999999 days",
                     "alerts in the last 10000000000 minutes", f"alerts in the last {'9' * 1_900} hours"):
        answer = await ask(client, auth, question)
        assert (answer["since"], answer["until"]) == (None, None), question
    longest = await ask(client, auth, "alerts in the last 999999 days")  # capped at the longest range asked about
    since, until = (datetime.fromisoformat(longest[k]) for k in ("since", "until"))
    assert until - since == MAX_RANGE


async def test_a_tools_bad_time_goes_back_to_the_model_and_a_time_without_offset_is_utc(
        api_settings, auth, sessions, clean_db, redis, fake_openai) -> None:
    await seed(sessions)
    fake_openai.replies += [
        [("query_metrics", {"since": "0001-01-01T00:00:00Z"}), ("query_metrics", {"since": "2026-11-30T00:00:00"})],
        json.dumps({"answer": "The fleet is quiet.", "cited_ids": []})]
    app = create_app(api_settings.model_copy(update={"llm_base_url": fake_openai.base_url, "llm_max_retries": 0}))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        answer = await ask(client, auth, "how busy is the fleet?")
    assert answer["mode"] == "llm" and answer["since"] == "2026-11-30T00:00:00Z"
    refused, result = [m["content"] for m in fake_openai.requests[1]["messages"] if m["role"] == "tool"]
    assert "bad arguments for query_metrics" in refused and "1678-01-01" in refused
    assert result.startswith('<data source="query_metrics results">')
