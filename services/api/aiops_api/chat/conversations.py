"""Chat conversations kept per user: a question and its answer are recorded together; a user reads (and
continues) only their own conversations. With an LLM, the last turns give follow-up questions their context."""

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aiops_api.chat.schemas import ChatAnswer, ChatMessageRead
from aiops_api.errors import NotFound
from aiops_contracts.db import ChatMessage
from aiops_contracts.llm import untrusted

CONTEXT_MESSAGES = 6  # previous messages sent to the LLM with a follow-up


async def read_conversation(session: AsyncSession, *, subject: str, conversation_id: uuid.UUID) -> list[ChatMessageRead]:
    rows = (await session.scalars(select(ChatMessage).where(ChatMessage.conversation_id == conversation_id,
                                                            ChatMessage.subject == subject)
                                  .order_by(ChatMessage.id))).all()
    if not rows:
        raise NotFound(f"conversation {conversation_id} not found")
    return [ChatMessageRead.model_validate(r) for r in rows]


async def context_of(session: AsyncSession, *, subject: str, conversation_id: uuid.UUID | None) -> list[dict[str, Any]]:
    """The conversation's last messages as chat messages (none for a new conversation). Earlier answers quote
    alert titles, log templates and host names: they go back to the LLM as data blocks, never as instructions."""
    if conversation_id is None:
        return []
    messages = await read_conversation(session, subject=subject, conversation_id=conversation_id)
    return [{"role": m.role, "content": m.content if m.role == "user" else untrusted("your earlier answer", m.content)}
            for m in messages[-CONTEXT_MESSAGES:]]


async def record_turn(session: AsyncSession, *, subject: str, question: str, answer: ChatAnswer) -> None:
    assert answer.conversation_id is not None
    session.add_all([
        ChatMessage(conversation_id=answer.conversation_id, subject=subject, role="user", content=question,
                    citations=[]),
        ChatMessage(conversation_id=answer.conversation_id, subject=subject, role="assistant", content=answer.answer,
                    citations=[c.model_dump() for c in answer.citations]),
    ])
    await session.commit()
