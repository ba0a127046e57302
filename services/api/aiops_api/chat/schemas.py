"""API models of the chat: a question in, an answer citing what it used out."""

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ChatRequest(BaseModel):
    question: str = Field(min_length=1, max_length=2_000)
    conversation_id: uuid.UUID | None = None  # continue one of your conversations; None starts one


class Citation(BaseModel):
    kind: Literal["incident", "alert", "host", "forecast", "template"]
    id: str
    title: str
    link: str


class Proposal(BaseModel):
    """An enabled automation rule whose trigger matches an open incident the answer cites. Proposed only: the chat
    runs nothing; an operator runs or approves it on the automations page (`link`)."""

    rule: str
    description: str
    action: str  # the action's kind and what it runs, e.g. "ansible restart-nginx.yml"
    incident_id: uuid.UUID
    target: str  # the host (or service) it would act on
    needs_approval: bool  # its runs wait for an operator's approval (a destructive rule)
    awaiting_run_id: uuid.UUID | None = None  # a run of it for this incident waits for approval now
    link: str


class ChatAnswer(BaseModel):
    answer: str  # prose, then a Markdown table of the rows it rests on
    intent: str  # which query answered: incident, host, service, open, similar, capacity, noise, anomalies,
    # templates, metrics
    mode: Literal["llm", "rules"]
    citations: list[Citation]
    since: datetime | None = None  # the time range the answer covers, when it has one
    until: datetime | None = None
    conversation_id: uuid.UUID | None = None  # where the question and answer are kept
    proposals: list[Proposal] = Field(default_factory=list)  # automations that match a cited incident


class ChatMessageRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    role: Literal["user", "assistant"]
    content: str
    citations: list[Citation]
    created_at: datetime


class ChatConversation(BaseModel):
    conversation_id: uuid.UUID
    messages: list[ChatMessageRead]
