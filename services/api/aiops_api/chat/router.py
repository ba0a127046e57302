"""HTTP route of the chat: a viewer asks, the answer cites the incidents, alerts and hosts it used."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from aiops_api.chat import service
from aiops_api.chat.schemas import ChatAnswer, ChatRequest
from aiops_api.deps import SessionDep, Viewer
from aiops_contracts.llm import LLMClient

router = APIRouter(prefix="/api/v1/chat", tags=["chat"])


def get_llm(request: Request) -> LLMClient:
    return request.app.state.llm


LLMDep = Annotated[LLMClient, Depends(get_llm)]


@router.post("", operation_id="ask_chat")
async def ask_chat(body: ChatRequest, session: SessionDep, llm: LLMDep, _: Viewer) -> ChatAnswer:
    """Questions such as "what is wrong with web-3?", "which disks fill up this week?", "what happened last
    time we saw this?", "how noisy was alertmanager yesterday?". Reads with the caller's role; runs nothing."""
    return await service.answer_question(session, llm, question=body.question, now=datetime.now(UTC))
