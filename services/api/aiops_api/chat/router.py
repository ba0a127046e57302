"""HTTP route of the chat: a viewer asks, the answer cites the incidents, alerts and hosts it used."""

from datetime import UTC, datetime
from typing import Annotated

from aiops_contracts.llm import LLMClient
from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from aiops_api.chat import service
from aiops_api.chat.schemas import ChatAnswer, ChatRequest
from aiops_api.deps import SessionDep, Viewer

router = APIRouter(prefix="/api/v1/chat", tags=["chat"])


def get_llm(request: Request) -> LLMClient:
    return request.app.state.llm


LLMDep = Annotated[LLMClient, Depends(get_llm)]


@router.post("", operation_id="ask_chat")
async def ask_chat(body: ChatRequest, session: SessionDep, llm: LLMDep, _: Viewer) -> ChatAnswer:
    """Questions such as "what is wrong with web-3?", "which disks fill up this week?", "what happened last
    time we saw this?", "how noisy was alertmanager yesterday?". Reads with the caller's role; runs nothing."""
    return await service.answer_question(session, llm, question=body.question, now=datetime.now(UTC))


@router.post("/stream", operation_id="stream_chat", response_class=StreamingResponse,
             responses={200: {"content": {"text/event-stream": {}}, "description": "Server-sent events"}})
async def stream_chat(body: ChatRequest, session: SessionDep, llm: LLMDep, _: Viewer) -> StreamingResponse:
    """The same answer as server-sent events: `delta` events ({"text"}) as it is written, then one `answer`
    event holding the whole ChatAnswer. The rows are read before streaming starts."""
    intent, found = await service.retrieve(session, question=body.question, now=datetime.now(UTC))
    return StreamingResponse(service.stream_answer(llm, body.question, intent, found), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
