"""Answering a question about the fleet from our own data: the intent parser picks the query (retrieval.py),
the rows it returns are the answer's table and citations. With an LLM configured, the LLM writes the prose
from those rows (quoted as data) and cites from them; any id it cites that the rows do not hold is dropped.
Without one, or while it is unavailable, templated prose answers. The chat only reads: it runs nothing."""

import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from aiops_api.chat.intents import Intent, parse
from aiops_api.chat.proposals import propose, sentence
from aiops_api.chat.retrieval import QUERIES, Found, Stores
from aiops_api.chat.schemas import ChatAnswer
from aiops_api.chat.tools import TOOL_SPECS, BadToolCall, intent_of_call
from aiops_contracts.llm import (
    LLMClient,
    LLMMalformed,
    LLMRequest,
    LLMUnavailable,
    untrusted,
)
from aiops_contracts.llm.prompts import DATA_RULE

log = logging.getLogger(__name__)

SYSTEM = ("You answer an SRE's question about a monitored fleet using only the rows given, found by the "
          f"platform's own queries. {DATA_RULE} Be brief and concrete; name hosts, times and causes from the rows; "
          "cite the ids you used; say so when the rows do not answer the question. You never run "
          "actions; you may suggest one.")
JSON_REPLY = "Answer with JSON: {\"answer\": str, \"cited_ids\": [str]}."
MAX_TOOL_ROUNDS = 3
PROSE_REPLY = "Answer in plain prose, naming the ids you used."


class LLMAnswer(BaseModel):
    answer: str = Field(max_length=4_000)
    cited_ids: list[str] = Field(default_factory=list, max_length=30)


async def retrieve(stores: Stores, *, question: str, now: datetime) -> tuple[Intent, Found]:
    """The query the question asks for (by its keywords, else by meaning), its rows, and the automations that
    match the incidents it cites."""
    intent = parse(question, await stores.known.get(stores.session), now)
    if not intent.sure and (kind := await stores.meaning.nearest(question)):
        intent = replace(intent, kind=kind)
    found = await QUERIES[intent.kind](stores, intent)
    found.proposals = await propose(stores.session, found.citations)
    return intent, found


def by_rules(intent: Intent, found: Found) -> ChatAnswer:
    prose = "\n".join([found.headline, *(sentence(p) for p in found.proposals)])
    return ChatAnswer(answer=f"{prose}\n\n{table(found)}".strip(), intent=intent.kind, mode="rules",
                      citations=found.citations, since=intent.since, until=intent.until, proposals=found.proposals)


async def answer_question(stores: Stores, llm: LLMClient, *, question: str, now: datetime,
                          context: Sequence[dict[str, Any]] = (), user: str | None = None) -> ChatAnswer:
    """With an LLM: its tool calls over our queries (`context`: the conversation so far); without one (or while
    it fails, or its chat budget or `user`'s hourly quota is spent): the intent parser."""
    if llm.enabled:
        try:
            return await _answer_with_tools(stores, llm, [*context, {"role": "user", "content": question}], now,
                                            user)
        except (LLMUnavailable, LLMMalformed) as exc:
            log.warning("chat answered by rules, llm failed", extra={"error": str(exc)})
    intent, found = await retrieve(stores, question=question, now=now)
    return by_rules(intent, found)


async def _answer_with_tools(stores: Stores, llm: LLMClient, asked: list[dict[str, Any]],
                             now: datetime, user: str | None = None) -> ChatAnswer:
    conversation: list[dict[str, Any]] = [
        {"role": "system", "content": f"{SYSTEM} Use the tools to read the platform's data. {JSON_REPLY} "
                                      f"The time now is {now.isoformat()}."}, *asked]
    results: list[tuple[Intent, Found]] = []
    for _ in range(MAX_TOOL_ROUNDS):
        message = await llm.complete(LLMRequest("chat", conversation, user=user), TOOL_SPECS)
        if not message.tool_calls:
            answer = _final(message.content or "", results, now)
            answer.proposals = await propose(stores.session, answer.citations)
            return answer
        conversation.append(message.model_dump(exclude_none=True))
        for call in message.tool_calls:
            conversation.append({"role": "tool", "tool_call_id": call.id,
                                 "content": await _run_tool(stores, call.function, now, results)})
    raise LLMMalformed("chat: still calling tools after the last round")


async def _run_tool(stores: Stores, function: Any, now: datetime, results: list[tuple[Intent, Found]]) -> str:
    try:
        intent = intent_of_call(function.name, function.arguments, now)
    except BadToolCall as exc:
        return str(exc)
    found = await QUERIES[intent.kind](stores, intent)
    results.append((intent, found))
    return untrusted(f"{function.name} results", f"{found.headline}\n{table(found)}\nids: "
                     + ", ".join(c.id for c in found.citations))


def _final(content: str, results: list[tuple[Intent, Found]], now: datetime) -> ChatAnswer:
    try:
        reply = LLMAnswer.model_validate_json(content)
    except ValidationError as exc:
        raise LLMMalformed("chat: final answer is not the JSON asked for") from exc
    merged = Found("", results[0][1].columns if results else [])
    for _, found in results:
        merged.citations += [c for c in found.citations if c not in merged.citations]
    tables = "\n\n".join(table(found) for _, found in results if found.rows)
    cited = set(reply.cited_ids)
    intent = results[0][0] if results else Intent("open", now=now)
    return ChatAnswer(answer=f"{reply.answer}\n\n{tables}".strip(), intent=intent.kind, mode="llm",
                      citations=[c for c in merged.citations if c.id in cited] or merged.citations,
                      since=intent.since, until=intent.until)


async def stream_answer(llm: LLMClient, question: str, intent: Intent, found: Found,
                        context: Sequence[dict[str, Any]] = (),
                        user: str | None = None) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """(event, data): `delta` events with text as it is written, then one `answer` with the whole answer."""
    answer = by_rules(intent, found)
    prose: list[str] = []
    if llm.enabled:
        try:
            async for text in llm.stream_text("chat", messages(question, found, PROSE_REPLY, context), user):
                prose.append(text)
                yield "delta", {"text": text}
        except LLMUnavailable as exc:
            log.warning("chat streamed by rules, llm failed", extra={"error": str(exc)})
    if prose:
        answer = _with_prose(answer, found, "".join(prose), {c.id for c in found.citations if c.id in "".join(prose)})
        yield "delta", {"text": f"\n\n{table(found)}"}
    else:
        yield "delta", {"text": answer.answer}
    yield "answer", answer.model_dump(mode="json")


def _with_prose(answer: ChatAnswer, found: Found, prose: str, cited: set[str]) -> ChatAnswer:
    """The LLM's prose over the rows' table; it may cite only what the rows hold (else all rows are cited)."""
    return answer.model_copy(update={
        "answer": f"{prose}\n\n{table(found)}".strip(), "mode": "llm",
        "citations": [c for c in found.citations if c.id in cited] or found.citations})


def messages(question: str, found: Found, reply: str,
             context: Sequence[dict[str, Any]] = ()) -> list[dict[str, Any]]:
    rows = untrusted("query results", f"{found.headline}\n{table(found)}\nids: "
                     + ", ".join(c.id for c in found.citations))
    return [{"role": "system", "content": f"{SYSTEM} {reply}"}, *context,
            {"role": "user", "content": f"Question: {question}\n\n{rows}"}]


def table(found: Found) -> str:
    if not found.rows:
        return ""
    head = f"| {' | '.join(found.columns)} |\n|{'---|' * len(found.columns)}"
    return head + "".join(f"\n| {' | '.join(cell.replace('|', '/') for cell in row)} |" for row in found.rows)
