"""The intent parser finds the names our stores know (hosts, services, alert sources) as whole words in any case,
the longest when several match, as the stores spell them; and with 5,000 known hosts a question's work does not
grow with the names: they are looked up by the places in the question a name could start and end, not searched for
one by one."""

import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime

import pytest

from aiops_api.chat.intents import Names, parse, time_range
from aiops_api.chat.retrieval import known_names
from aiops_contracts.db import Incident
from aiops_contracts.events import IncidentStatus

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("names", "text", "found"), [
    ({"web-3"}, "what is wrong with web-3?", "web-3"),
    ({"Web-3"}, "web-3 down", "Web-3"),  # the text is in lower case; the name comes back as stored
    ({"web-3"}, "web-30 is down", None),
    ({"web-3"}, "is my-web-3 down", None),  # '-' joins words: my-web-3 is another name
    ({"web-3"}, "is web-3-canary down", None),
    ({"web-3", "web"}, "web_3 or web.3", "web"),  # '_' is a word character, '.' breaks words
    ({"db-1", "db-1.example.com"}, "errors on db-1.example.com", "db-1.example.com"),
    ({"db-1", "db-1.example.com"}, "errors on db-1.example.org", "db-1"),
    ({"api", "api gateway"}, "is the api gateway slow", "api gateway"),
    ({"gateway", "api gateway", "gateway eu"}, "api gateway eu", "api gateway"),  # overlapping mentions: the longest
    ({"café-1"}, "café-1", "café-1"),
    ({"café"}, "cafés", None),  # é is a word character
    ({"", "c++"}, "why is c++ slow", "c++"),
    ({"web-3"}, "", None),
])
def test_names_are_found_as_whole_words(names: set[str], text: str, found: str | None) -> None:
    assert Names(names).longest_in(text) == found


class CountingNames(Mapping[str, str]):
    """A matcher's name mapping that counts what is asked of it: lookups by name, and names handed out by iteration
    (a search per name, like the regex per known name the parser once ran, has to take every name out this way)."""

    def __init__(self, names: Mapping[str, str]) -> None:
        self.names, self.lookups, self.iterated = names, 0, 0

    def __getitem__(self, name: str) -> str:
        self.lookups += 1
        return self.names[name]

    def __iter__(self) -> Iterator[str]:
        for name in self.names:
            self.iterated += 1
            yield name

    def __len__(self) -> int:
        return len(self.names)


async def test_a_question_looks_up_5000_known_hosts_without_going_through_them(sessions, clean_db) -> None:
    hosts = [f"host-{i}.dc-{i % 7}.example.com" for i in range(5_000)]
    async with sessions.begin() as session:
        session.add(Incident(id=uuid.uuid4(), group_key="fleet", title="fleet", severity="warning",
                             status=IncidentStatus.open, event_count=1, hosts=hosts, services=["checkout"], details={},
                             first_seen_at=NOW, last_seen_at=NOW))
    async with sessions() as session:
        known = await known_names(session)
    known.hosts.by_lower = counting = CountingNames(known.hosts.by_lower)
    question = "what is wrong with HOST-4321.dc-2.example.com since yesterday?"
    intent = parse(question, known, NOW)
    assert (intent.kind, intent.host, intent.service) == ("host", "host-4321.dc-2.example.com", None)
    assert counting.iterated == 0
    # At most one lookup per place in the question and length of a known name (4 lengths here): 248, whatever the
    # number of names.
    assert 0 < counting.lookups <= len(question) * len(known.hosts.lengths) < len(hosts)


def test_a_number_too_long_for_a_range_is_no_range_and_never_parsed() -> None:
    """Python refuses to parse an int of over 4,300 digits (ValueError), whatever reaches the parser."""
    assert time_range(f"alerts in the last {'9' * 5_000} hours", NOW) == (None, None)
