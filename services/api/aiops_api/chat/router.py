"""HTTP route of the chat: a viewer asks, the answer cites the incidents, alerts and hosts it used."""

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import StreamingResponse

from aiops_api.chat import conversations, service
from aiops_api.chat.retrieval import Stores
from aiops_api.chat.schemas import ChatAnswer, ChatConversation, ChatRequest
from aiops_api.deps import SessionDep, Viewer
from aiops_contracts.llm import LLMClient, LLMQuotaExceeded

router = APIRouter(prefix="/api/v1/chat", tags=["chat"])


def get_llm(request: Request) -> LLMClient:
    return request.app.state.llm


def get_stores(request: Request, session: SessionDep) -> Stores:
    state = request.app.state
    return Stores(session=session, influx=state.influx, log_search=state.log_search, meaning=state.chat_meaning,
                  known=state.chat_known)


LLMDep = Annotated[LLMClient, Depends(get_llm)]
StoresDep = Annotated[Stores, Depends(get_stores)]
QUOTA_SPENT: dict[int | str, dict[str, Any]] = {
    429: {"description": "The caller's hourly chat tokens (LLM_CHAT_TOKENS_PER_USER_HOUR) are spent"}}


async def within_quota(llm: LLMClient, subject: str) -> None:
    """429 with Retry-After when the caller spent their hourly chat tokens: one viewer cannot use up the LLM
    budget the platform's incident enrichment needs (LLM_CHAT_BUDGET_SHARE bounds all chat users together)."""
    try:
        await llm.check_user_quota(subject)
    except LLMQuotaExceeded as exc:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, str(exc),
                            {"Retry-After": str(exc.retry_after_s)}) from exc


@router.post("", operation_id="ask_chat",
             responses={404: {"description": "No such conversation of yours"}, **QUOTA_SPENT})
async def ask_chat(body: ChatRequest, stores: StoresDep, llm: LLMDep, user: Viewer) -> ChatAnswer:
    """Questions such as "what is wrong with web-3?", "which disks fill up this week?", "what happened last
    time we saw this?", "how noisy was alertmanager yesterday?". Reads with the caller's role; runs nothing.
    The question and answer are kept in the caller's conversation (`conversation_id`, new when not given)."""
    await within_quota(llm, user.subject)
    context = await conversations.context_of(stores.session, subject=user.subject,
                                             conversation_id=body.conversation_id)
    answer = await service.answer_question(stores, llm, question=body.question, now=datetime.now(UTC),
                                           context=context, user=user.subject)
    answer.conversation_id = body.conversation_id or uuid.uuid4()
    await conversations.record_turn(stores.session, subject=user.subject, question=body.question, answer=answer)
    return answer


@router.get("/conversations/{conversation_id}", operation_id="get_chat_conversation",
            responses={404: {"description": "No such conversation of yours"}})
async def get_chat_conversation(conversation_id: uuid.UUID, session: SessionDep, user: Viewer) -> ChatConversation:
    """One of the caller's conversations, oldest message first (other users' conversations are not found)."""
    messages = await conversations.read_conversation(session, subject=user.subject, conversation_id=conversation_id)
    return ChatConversation(conversation_id=conversation_id, messages=messages)


@router.post("/stream", operation_id="stream_chat", response_class=StreamingResponse,
             responses={200: {"content": {"text/event-stream": {}}, "description": "Server-sent events"},
                        404: {"description": "No such conversation of yours"}, **QUOTA_SPENT})
async def stream_chat(request: Request, body: ChatRequest, stores: StoresDep, llm: LLMDep,
                      user: Viewer) -> StreamingResponse:
    """The same answer as server-sent events: `delta` events ({"text"}) as it is written, then one `answer`
    event holding the whole ChatAnswer, kept in the caller's conversation like POST /api/v1/chat's. The rows
    are read before streaming starts."""
    await within_quota(llm, user.subject)
    context = await conversations.context_of(stores.session, subject=user.subject,
                                             conversation_id=body.conversation_id)
    intent, found = await service.retrieve(stores, question=body.question, now=datetime.now(UTC))
    conversation_id = body.conversation_id or uuid.uuid4()
    sessions = request.app.state.sessions

    async def events() -> AsyncIterator[str]:
        async for name, data in service.stream_answer(llm, body.question, intent, found, context, user.subject):
            if name == "answer":
                answer = ChatAnswer.model_validate({**data, "conversation_id": conversation_id})
                async with sessions() as session:  # the request's session may be closed by now
                    await conversations.record_turn(session, subject=user.subject, question=body.question,
                                                    answer=answer)
                data = answer.model_dump(mode="json")
            yield _event(name, data)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _event(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"
