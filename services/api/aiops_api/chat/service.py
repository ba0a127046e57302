"""Answering a question about the fleet from our own data: the intent parser picks the query (retrieval.py),
the rows it returns are the answer's table and citations. With an LLM configured, the LLM writes the prose
from those rows (quoted as data) and cites from them; any id it cites that the rows do not hold is dropped.
Without one, or while it is unavailable, templated prose answers. The chat only reads: it runs nothing."""

import json
import logging
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from aiops_contracts.llm import (
    LLMClient,
    LLMMalformed,
    LLMRequest,
    LLMUnavailable,
    untrusted,
)
from aiops_contracts.llm.prompts import DATA_RULE
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from aiops_api.chat.intents import Intent, parse
from aiops_api.chat.retrieval import QUERIES, Found, known_names
from aiops_api.chat.schemas import ChatAnswer

log = logging.getLogger(__name__)

SYSTEM = ("You answer an SRE's question about a monitored fleet using only the rows given, found by the "
          f"platform's own queries. {DATA_RULE} Be brief and concrete; name hosts, times and causes from the rows; "
          "cite the ids you used; say so when the rows do not answer the question. You never run "
          "actions; you may suggest one.")
JSON_REPLY = "Answer with JSON: {\"answer\": str, \"cited_ids\": [str]}."
PROSE_REPLY = "Answer in plain prose, naming the ids you used."


class LLMAnswer(BaseModel):
    answer: str = Field(max_length=4_000)
    cited_ids: list[str] = Field(default_factory=list, max_length=30)


async def retrieve(session: AsyncSession, *, question: str, now: datetime) -> tuple[Intent, Found]:
    intent = parse(question, await known_names(session), now)
    return intent, await QUERIES[intent.kind](session, intent)


def by_rules(intent: Intent, found: Found) -> ChatAnswer:
    return ChatAnswer(answer=f"{found.headline}\n\n{table(found)}".strip(), intent=intent.kind, mode="rules",
                      citations=found.citations, since=intent.since, until=intent.until)


async def answer_question(session: AsyncSession, llm: LLMClient, *, question: str, now: datetime) -> ChatAnswer:
    intent, found = await retrieve(session, question=question, now=now)
    answer = by_rules(intent, found)
    if not llm.enabled:
        return answer
    try:
        reply = await llm.structured(LLMRequest("chat", messages(question, found, JSON_REPLY)), LLMAnswer)
    except (LLMUnavailable, LLMMalformed) as exc:
        log.warning("chat answered by rules, llm failed", extra={"error": str(exc)})
        return answer
    return _with_prose(answer, found, reply.answer, set(reply.cited_ids))


async def stream_answer(llm: LLMClient, question: str, intent: Intent, found: Found) -> AsyncIterator[str]:
    """Server-sent events: `delta` events with text as it is written, then one `answer` with the whole answer."""
    answer = by_rules(intent, found)
    prose: list[str] = []
    if llm.enabled:
        try:
            async for text in llm.stream_text("chat", messages(question, found, PROSE_REPLY)):
                prose.append(text)
                yield _event("delta", {"text": text})
        except LLMUnavailable as exc:
            log.warning("chat streamed by rules, llm failed", extra={"error": str(exc)})
    if prose:
        answer = _with_prose(answer, found, "".join(prose), {c.id for c in found.citations if c.id in "".join(prose)})
        yield _event("delta", {"text": f"\n\n{table(found)}"})
    else:
        yield _event("delta", {"text": answer.answer})
    yield _event("answer", answer.model_dump(mode="json"))


def _with_prose(answer: ChatAnswer, found: Found, prose: str, cited: set[str]) -> ChatAnswer:
    """The LLM's prose over the rows' table; it may cite only what the rows hold (else all rows are cited)."""
    return answer.model_copy(update={
        "answer": f"{prose}\n\n{table(found)}".strip(), "mode": "llm",
        "citations": [c for c in found.citations if c.id in cited] or found.citations})


def _event(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"


def messages(question: str, found: Found, reply: str) -> list[dict[str, str]]:
    rows = untrusted("query results", f"{found.headline}\n{table(found)}\nids: "
                     + ", ".join(c.id for c in found.citations))
    return [{"role": "system", "content": f"{SYSTEM} {reply}"},
            {"role": "user", "content": f"Question: {question}\n\n{rows}"}]


def table(found: Found) -> str:
    if not found.rows:
        return ""
    head = f"| {' | '.join(found.columns)} |\n|{'---|' * len(found.columns)}"
    return head + "".join(f"\n| {' | '.join(cell.replace('|', '/') for cell in row)} |" for row in found.rows)
