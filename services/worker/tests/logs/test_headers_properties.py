"""Properties of header parsing: syslog lines we build from fields (RFC 5424 and RFC 3164) give those fields back,
RFC 5424's nil value `-` reads as no value, and no text makes the header or timestamp parsers raise (nor gives an
instant far from now)."""

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiops_contracts.events import EVENT_TIME_MAX_DISTANCE
from aiops_worker.logs.headers import ParsedLine, parse_line
from aiops_worker.logs.timestamps import parse_timestamp

PROPERTIES = settings(max_examples=150, deadline=None, derandomize=True)
SEVERITIES = ("emerg", "alert", "crit", "error", "warning", "notice", "info", "debug")
NOW = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)

pri = st.integers(0, 191)
nil = st.just("-")
# RFC 5424 header fields are printable US-ASCII without spaces.
printable = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=16)
# A message that does not itself start with a syslog header (that is the forwarded case: test_headers.py).
message = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n"), max_size=40).filter(
    lambda text: not re.match(r"\s*[<\dA-Z]", text))


SD_SPECIALS = re.compile(r'(["\\\]])')


def sd_element(sd_id: str, params: list[tuple[str, str]]) -> str:
    """`[id name="value" ...]`; a value escapes `"`, backslash and `]` with a backslash (RFC 5424 section 6.3.3)."""
    escaped = [name + '="' + SD_SPECIALS.sub(r"\\\1", value) + '"' for name, value in params]
    return "[" + " ".join([sd_id, *escaped]) + "]"


sd_param = st.tuples(st.from_regex(r"[a-z]{1,5}", fullmatch=True), st.text(st.sampled_from('a0 =]"\\'), max_size=6))
structured_data = st.lists(st.builds(sd_element, st.from_regex(r"[a-z0-9@.]{1,8}", fullmatch=True),
                                     st.lists(sd_param, max_size=2)), min_size=1, max_size=2).map("".join)
aware_datetime = st.datetimes(min_value=datetime(1970, 1, 1), timezones=st.just(UTC))
any_datetime = st.datetimes(timezones=st.sampled_from([None, UTC, timezone(timedelta(hours=5)),
                                                       timezone(-timedelta(hours=5))]))  # years 1 to 9999


def value_of(field: str) -> str | None:
    return None if field == "-" else field


@PROPERTIES
@given(pri, aware_datetime.map(datetime.isoformat) | nil, printable | nil, printable | nil, printable | nil,
       printable | nil, structured_data | nil, message)
def test_rfc5424_fields_come_back(
    priority: int, timestamp: str, host: str, app: str, procid: str, msgid: str, sd: str, msg: str
) -> None:
    parsed = parse_line(f"<{priority}>1 {timestamp} {host} {app} {procid} {msgid} {sd} {msg}")
    extra = {k: v for k, v in {"pid": procid, "msgid": msgid, "sd": sd}.items() if v != "-"}
    assert parsed == ParsedLine(message=msg.strip(), timestamp=value_of(timestamp), host=value_of(host),
                                component=value_of(app), level=SEVERITIES[priority % 8], fmt="rfc5424", extra=extra)


@PROPERTIES
@given(pri, aware_datetime.map(lambda at: at.strftime("%b %e %H:%M:%S")), printable,
       st.text(st.characters(min_codepoint=33, max_codepoint=126, blacklist_characters=":["), min_size=1, max_size=16),
       st.none() | st.integers(0, 4_194_304).map(str), message)
def test_rfc3164_fields_come_back(priority: int, timestamp: str, host: str, app: str, pid: str | None, msg: str) -> None:
    parsed = parse_line(f"<{priority}>{timestamp} {host} {app}{f'[{pid}]' if pid else ''}: {msg}")
    assert parsed == ParsedLine(message=msg.strip(), timestamp=timestamp, host=value_of(host),
                                component=value_of(app), level=SEVERITIES[priority % 8], fmt="rfc3164",
                                extra={"pid": pid} if pid else {})


@PROPERTIES
@given(st.text(max_size=200) | st.from_regex(r"\A(<\d{1,3}>)?(1 )?[\w:. \-\[\]{}\"]{0,80}\Z"))
def test_any_text_parses_to_header_fields_and_a_message(line: str) -> None:
    parsed = parse_line(line)
    assert isinstance(parsed.message, str)
    assert all(isinstance(v, str) for v in parsed.extra.values())
    at = parse_timestamp(parsed.timestamp, NOW)
    assert at is None or at.tzinfo is not None


@PROPERTIES
@given(st.text(max_size=40) | aware_datetime.map(datetime.isoformat) | st.floats().map(str)
       | any_datetime.map(datetime.isoformat))
def test_any_timestamp_text_is_an_aware_instant_near_now_or_none(text: str) -> None:
    at = parse_timestamp(text, NOW)
    assert at is None or (at.tzinfo is not None and abs(at - NOW) <= EVENT_TIME_MAX_DISTANCE)


@pytest.mark.parametrize("line", ["0001-01-01 00:00:00 ERROR [main] app: out of memory",
                                  "<3>1 0001-01-01T00:00:00+05:00 web-1 app - - - out of memory",
                                  "9999-12-31T23:59:59-05:00 web-1 app[1]: out of memory",
                                  "<3>1 1970-01-01T00:00:00Z web-1 app - - - out of memory"])
def test_a_stamp_far_from_now_is_no_timestamp(line: str) -> None:
    """A clock never set (year 1, 1970) or a placeholder (9999): the line takes the time it was received."""
    parsed = parse_line(line)
    assert parsed.timestamp and parse_timestamp(parsed.timestamp, NOW) is None
    assert parse_timestamp(parsed.timestamp.replace(parsed.timestamp[:4], "2026", 1), NOW) is not None
