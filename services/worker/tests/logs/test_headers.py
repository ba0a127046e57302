"""Header parsing of common raw log formats and logpai log_format compilation."""

import re

import pytest

from aiops_worker.logs.headers import _FirstFormat, log_format_regex, parse_line


def test_rfc5424() -> None:
    line = ('<165>1 2003-10-11T22:14:15.003Z host app 123 ID1 [ex@32473 iut="3"] An application event')
    parsed = parse_line(line)
    assert (parsed.fmt, parsed.message, parsed.host, parsed.component, parsed.level) == (
        "rfc5424", "An application event", "host", "app", "notice")
    assert parsed.timestamp == "2003-10-11T22:14:15.003Z"
    assert parsed.extra == {"pid": "123", "msgid": "ID1", "sd": '[ex@32473 iut="3"]'}


def test_rfc3164_and_macos_syslog() -> None:
    parsed = parse_line("Jun 14 15:16:01 combo sshd(pam_unix)[19939]: check pass; user unknown")
    assert (parsed.fmt, parsed.host, parsed.component, parsed.message) == (
        "rfc3164", "combo", "sshd(pam_unix)", "check pass; user unknown")
    assert parsed.extra == {"pid": "19939"}
    mac = parse_line("Jul  1 09:01:06 calvisitor-10 com.apple.Bridge[30198] (com.apple.x): Foo bar")
    assert (mac.component, mac.message, mac.timestamp) == ("com.apple.Bridge", "Foo bar", "Jul  1 09:01:06")


def test_macos_unified_log() -> None:
    parsed = parse_line("2017-07-03 13:48:39.362458+0200 0x1a2b     Error       0x0    123    0    "
                        "kernel: (AppleACPI) wake reason")
    assert (parsed.fmt, parsed.component, parsed.level, parsed.message) == (
        "mac_unified", "kernel", "error", "(AppleACPI) wake reason")


def test_apache_and_nginx() -> None:
    error = parse_line("[Sun Dec 04 04:47:44 2005] [notice] workerEnv.init() ok /etc/x.properties")
    assert (error.fmt, error.level, error.message) == ("apache_error", "notice", "workerEnv.init() ok /etc/x.properties")
    access = parse_line('127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /a.gif HTTP/1.0" 200 2326')
    assert (access.fmt, access.message, access.extra) == (
        "access", '"GET /a.gif HTTP/1.0" 200 2326', {"client": "127.0.0.1", "user": "frank"})
    nginx = parse_line('2023/01/01 12:00:00 [error] 1234#0: *5 open() "/x" failed')
    assert (nginx.fmt, nginx.level, nginx.message) == ("nginx_error", "error", 'open() "/x" failed')


def test_json_and_generic_and_fallback() -> None:
    parsed = parse_line('{"ts": "2024-01-01T00:00:00Z", "level": "warn", "msg": "disk full", "pct": 91}')
    assert (parsed.fmt, parsed.message, parsed.level, parsed.extra) == ("json", "disk full", "warn", {"pct": "91"})
    generic = parse_line("2015-10-18 18:01:47,978 INFO [main] org.apache.App: Created master")
    assert (generic.fmt, generic.level, generic.component, generic.message) == (
        "generic", "info", "org.apache.App", "Created master")
    assert generic.extra == {"thread": "main"}
    raw = parse_line("just a message\n")
    assert (raw.fmt, raw.message, raw.timestamp) == ("raw", "just a message", None)


def test_log_format_regex() -> None:
    headers, regex = log_format_regex("<Month> <Date> <Time> <Level> <Component>(\\[<PID>\\])?: <Content>")
    assert headers == ["Month", "Date", "Time", "Level", "Component", "PID", "Content"]
    match = regex.match("Jun 14 15:16:01 combo sshd(pam_unix)[19939]: check pass; user unknown")
    assert match and match.group("Content") == "check pass; user unknown"
    assert match.group("PID") == "19939"


def test_syslog_header_inside_a_forwarded_record_is_stripped() -> None:
    """Fluent Bit and Vector forward the whole syslog line as the record's message, header included."""
    fluent = parse_line('{"log": "<11>Nov  3 12:00:01 web-7 postgres[4242]: FATAL: too many connections"}')
    assert (fluent.fmt, fluent.message, fluent.host, fluent.component, fluent.level, fluent.extra) == (
        "json+rfc3164", "FATAL: too many connections", "web-7", "postgres", "error", {"pid": "4242"})
    vector = parse_line('{"timestamp": "2026-11-03T12:00:01.5Z", "host": "collector", "message": '
                        '"<134>1 2026-11-03T12:00:01Z web-7 nginx 17 - - upstream timed out"}')
    assert (vector.fmt, vector.message, vector.host, vector.component, vector.timestamp, vector.extra["pid"]) == (
        "json+rfc5424", "upstream timed out", "web-7", "nginx", "2026-11-03T12:00:01.5Z", "17")


def test_rfc3339_syslog_lines_and_relayed_headers() -> None:
    iso = parse_line("2026-11-03T12:00:01.123456+00:00 web-7 postgres[4242]: LOG: checkpoint starting: time")
    assert (iso.fmt, iso.host, iso.component, iso.extra, iso.message) == (
        "syslog_iso", "web-7", "postgres", {"pid": "4242"}, "LOG: checkpoint starting: time")
    relayed = parse_line("<13>Nov  3 12:00:02 relay-1 logger: Nov  3 12:00:01 web-7 cron[99]: job done")
    assert (relayed.fmt, relayed.host, relayed.component, relayed.message) == (
        "rfc3164+rfc3164", "web-7", "cron", "job done")
    generic = parse_line("2026-11-03T12:00:01Z INFO worker: started")  # a level, not a host
    assert (generic.fmt, generic.level, generic.component) == ("generic", "info", "worker")


@pytest.mark.parametrize("pattern", [
    re.compile(r"^(?P<msg>error .*)$", re.IGNORECASE), re.compile(r"(?i)^(?P<msg>error .*)$"),
    re.compile(r"^(?P<q>['\"])(?P<msg>.*)(?P=q)$"), re.compile(r"^(['\"])(?P<msg>.*)\1$"),
    re.compile(r"^(<)?(?P<msg>.*?)(?(1)>)$"),
])
def test_a_format_whose_meaning_joining_would_change_is_refused(pattern: re.Pattern[str]) -> None:
    """Joined with the others, a format's regex loses its flags and its groups' names and numbers."""
    with pytest.raises(ValueError, match="odd"):
        _FirstFormat((("plain", re.compile(r"^x (?P<msg>.*)$")), ("odd", pattern)))
