"""The no-LLM intent parser: which of the platform's queries a question asks for, about what and when.
Names (hosts, services, alert sources) are matched against the ones our stores know, not guessed."""

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

UUID_RE = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.IGNORECASE)
CLOCK_RE = re.compile(r"\b(?:at|around)\s+(\d{1,2})(?::(\d{2}))?\s*(am|pm)?\b", re.IGNORECASE)
# Up to six digits: a longer number is no range (and never parsed: Python refuses ints past 4,300 digits).
LAST_RE = re.compile(r"\b(?:last|past)\s+(\d{1,6})\s*(minute|hour|day)s?\b", re.IGNORECASE)
MAX_RANGE = timedelta(days=90)  # the longest "last N days" a question (or a metrics tool call) reads; longer is cut
BREAK_RE = re.compile(r"[^\w-]")  # what a name mentioned as a whole word stands between (or the text's ends)
# Keywords per intent, first match wins (general English and its usual synonyms); a question none of them
# decides is routed by meaning (chat/meaning.py), else to the default (host, service or open incidents).
WORDS = {
    "similar": ("last time", "before", "similar", "previous", "happened last", "seen this", "history of",
                "recur", "earlier incident", "past incident"),
    "capacity": ("disk", "fill", "capacity", "run out", "running out", "exhaust", "full", "storage", "free space",
                 "out of space"),
    "noise": ("noisy", "noise", "how many alert", "alert volume", "loud", "spam", "chatty", "alert storm",
              "alert flood", "number of alerts"),
    "anomalies": ("anomal", "unusual", "abnormal", "outlier", "deviat", "strange", "weird", "out of the ordinary",
                  "irregular"),
    "templates": ("log line", "logs", "log message", "error message", "messages", "template", "log entr",
                  "logged"),
    "metrics": ("cpu", "memory", "load", "metric", "utilisation", "utilization", "usage", "processor", "ram",
                "busiest"),
}


class Names:
    """Known names (hosts, services or alert sources), looked up by the places a text could mention one as a whole
    word: from a start (the text's, or after a break) to an end (a break, or the text's) as long as some name. The
    text is read once, whatever the number of names: no search per name."""

    def __init__(self, names: Iterable[str]) -> None:
        self.by_lower: dict[str, str] = {}
        for name in names:
            if name:
                self.by_lower.setdefault(name.lower(), name)
        self.lengths = sorted({len(lower) for lower in self.by_lower})

    def longest_in(self, text: str) -> str | None:
        """The longest name `text` (in lower case) mentions as a whole word."""
        breaks = [found.start() for found in BREAK_RE.finditer(text)]
        starts, ends = [0, *(at + 1 for at in breaks)], {*breaks, len(text)}
        hits = (self.by_lower.get(text[start:start + n]) for start in starts for n in self.lengths if start + n in ends)
        return max(filter(None, hits), key=len, default=None)


@dataclass(frozen=True)
class Known:
    hosts: Names
    services: Names
    sources: Names


@dataclass(frozen=True)
class Intent:
    kind: str  # incident | similar | capacity | noise | anomalies | templates | metrics | host | service | open
    now: datetime
    incident_id: uuid.UUID | None = None
    host: str | None = None
    service: str | None = None
    source: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    text: str = ""  # what to look for by meaning (templates): the question itself
    sure: bool = True  # False: no keyword decided, the kind is the default (the question may be routed by meaning)


def parse(question: str, known: Known, now: datetime) -> Intent:
    text = question.lower()
    since, until = time_range(text, now)
    found = UUID_RE.search(text)
    names: dict[str, Any] = {"host": known.hosts.longest_in(text), "service": known.services.longest_in(text),
             "source": known.sources.longest_in(text), "since": since, "until": until, "now": now,
             "text": question}
    if found:
        return Intent("incident", incident_id=uuid.UUID(found.group(0)), **names)
    for kind in WORDS:
        if any(word in text for word in WORDS[kind]):
            return Intent(kind, **names)
    default = "host" if names["host"] else "service" if names["service"] else "open"
    return Intent(default, sure=False, **names)


def time_range(text: str, now: datetime) -> tuple[datetime | None, datetime | None]:
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if "yesterday" in text:
        return midnight - timedelta(days=1), midnight
    if last := LAST_RE.search(text):
        return now - min(timedelta(**{f"{last.group(2).lower()}s": int(last.group(1))}), MAX_RANGE), now
    if clock := CLOCK_RE.search(text):
        hour = int(clock.group(1)) % 12 + (12 if (clock.group(3) or "").lower() == "pm" else 0) \
            if clock.group(3) else int(clock.group(1))
        minute = int(clock.group(2) or 0)
        if hour < 24 and minute < 60:  # else no time of day (10:75)
            at = midnight.replace(hour=hour, minute=minute)
            at = at - timedelta(days=1) if at > now else at
            return at - timedelta(minutes=30), at + timedelta(minutes=30)
    if "this week" in text or "week" in text:
        return now - timedelta(days=7), now
    if "today" in text:
        return midnight, now
    return None, None
