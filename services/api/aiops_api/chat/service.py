"""Answering a question about the fleet from our own data: the intent parser picks the query (retrieval.py),
the rows it returns are the answer's table and citations. With an LLM configured, the LLM writes the prose
from those rows (quoted as data) and cites from them; any id it cites that the rows do not hold is dropped.
Without one, or while it is unavailable, templated prose answers. The chat only reads: it runs nothing."""

import logging
from datetime import datetime

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from aiops_api.chat.intents import parse
from aiops_api.chat.retrieval import QUERIES, Found, known_names
from aiops_api.chat.schemas import ChatAnswer
from aiops_contracts.llm import LLMClient, LLMMalformed, LLMRequest, LLMUnavailable, untrusted
from aiops_contracts.llm.prompts import DATA_RULE

log = logging.getLogger(__name__)

SYSTEM = ("You answer an SRE's question about a monitored fleet using only the rows given, found by the "
          f"platform's own queries. {DATA_RULE} Be brief and concrete; name hosts, times and causes from the rows; "
          "cite the ids you used in cited_ids; say so when the rows do not answer the question. You never run "
          "actions; you may suggest one. Answer with JSON: {\"answer\": str, \"cited_ids\": [str]}.")


class LLMAnswer(BaseModel):
    answer: str = Field(max_length=4_000)
    cited_ids: list[str] = Field(default_factory=list, max_length=30)


async def answer_question(session: AsyncSession, llm: LLMClient, *, question: str, now: datetime) -> ChatAnswer:
    intent = parse(question, await known_names(session), now)
    found = await QUERIES[intent.kind](session, intent)
    answer = ChatAnswer(answer=f"{found.headline}\n\n{table(found)}".strip(), intent=intent.kind, mode="rules",
                        citations=found.citations, since=intent.since, until=intent.until)
    if not llm.enabled:
        return answer
    try:
        reply = await llm.structured(LLMRequest("chat", messages(question, found)), LLMAnswer)
    except (LLMUnavailable, LLMMalformed) as exc:
        log.warning("chat answered by rules, llm failed", extra={"error": str(exc)})
        return answer
    cited = set(reply.cited_ids)
    return answer.model_copy(update={
        "answer": f"{reply.answer}\n\n{table(found)}".strip(), "mode": "llm",
        "citations": [c for c in found.citations if c.id in cited] or found.citations})


def messages(question: str, found: Found) -> list[dict[str, str]]:
    rows = untrusted("query results", f"{found.headline}\n{table(found)}\nids: "
                     + ", ".join(c.id for c in found.citations))
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": f"Question: {question}\n\n{rows}"}]


def table(found: Found) -> str:
    if not found.rows:
        return ""
    head = f"| {' | '.join(found.columns)} |\n|{'---|' * len(found.columns)}"
    return head + "".join(f"\n| {' | '.join(cell.replace('|', '/') for cell in row)} |" for row in found.rows)
