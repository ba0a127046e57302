"""HTTP route of the chat: a viewer asks, the answer cites the incidents, alerts and hosts it used."""

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from aiops_api.chat import conversations, service
from aiops_api.chat.schemas import ChatAnswer, ChatConversation, ChatRequest
from aiops_api.deps import SessionDep, Viewer
from aiops_contracts.llm import LLMClient

router = APIRouter(prefix="/api/v1/chat", tags=["chat"])


def get_llm(request: Request) -> LLMClient:
    return request.app.state.llm


LLMDep = Annotated[LLMClient, Depends(get_llm)]


@router.post("", operation_id="ask_chat", responses={404: {"description": "No such conversation of yours"}})
async def ask_chat(body: ChatRequest, session: SessionDep, llm: LLMDep, user: Viewer) -> ChatAnswer:
    """Questions such as "what is wrong with web-3?", "which disks fill up this week?", "what happened last
    time we saw this?", "how noisy was alertmanager yesterday?". Reads with the caller's role; runs nothing.
    The question and answer are kept in the caller's conversation (`conversation_id`, new when not given)."""
    context = await conversations.context_of(session, subject=user.subject, conversation_id=body.conversation_id)
    answer = await service.answer_question(session, llm, question=body.question, now=datetime.now(UTC),
                                           context=context)
    answer.conversation_id = body.conversation_id or uuid.uuid4()
    await conversations.record_turn(session, subject=user.subject, question=body.question, answer=answer)
    return answer


@router.get("/conversations/{conversation_id}", operation_id="get_chat_conversation",
            responses={404: {"description": "No such conversation of yours"}})
async def get_chat_conversation(conversation_id: uuid.UUID, session: SessionDep, user: Viewer) -> ChatConversation:
    """One of the caller's conversations, oldest message first (other users' conversations are not found)."""
    messages = await conversations.read_conversation(session, subject=user.subject, conversation_id=conversation_id)
    return ChatConversation(conversation_id=conversation_id, messages=messages)


@router.post("/stream", operation_id="stream_chat", response_class=StreamingResponse,
             responses={200: {"content": {"text/event-stream": {}}, "description": "Server-sent events"}})
async def stream_chat(body: ChatRequest, session: SessionDep, llm: LLMDep, _: Viewer) -> StreamingResponse:
    """The same answer as server-sent events: `delta` events ({"text"}) as it is written, then one `answer`
    event holding the whole ChatAnswer. The rows are read before streaming starts."""
    intent, found = await service.retrieve(session, question=body.question, now=datetime.now(UTC))
    return StreamingResponse(service.stream_answer(llm, body.question, intent, found), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
