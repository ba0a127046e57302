"""Silences: one definition for the API, where operators create and expire them, and the worker, which leaves a
silenced incident out of every notification. A silence holds while now is in [starts_at, ends_at) and every
matcher holds; a matcher is a shell glob on one of an incident's facts (any of its hosts or services, its
severity, its title), or its negation."""

from datetime import datetime
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Matcher(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Literal["host", "service", "severity", "title"]
    value: str = Field(min_length=1, max_length=255)  # a shell glob: web-*, *disk*
    negate: bool = False  # holds when no value of the fact matches

    def holds(self, facts: dict[str, list[str]]) -> bool:
        found = any(fnmatchcase(value, self.value) for value in facts.get(self.name, []))
        return found != self.negate


class SilenceState(StrEnum):
    pending = "pending"  # starts later
    active = "active"
    expired = "expired"


def silence_state(starts_at: datetime, ends_at: datetime, now: datetime) -> SilenceState:
    if now >= ends_at:
        return SilenceState.expired
    return SilenceState.active if now >= starts_at else SilenceState.pending


def silenced(matchers: list[Matcher], facts: dict[str, list[str]]) -> bool:
    return bool(matchers) and all(m.holds(facts) for m in matchers)


class NotificationStatus(StrEnum):
    sent = "sent"
    failed = "failed"  # the receiver did not take it after its retries, or its circuit is open
