"""Split raw log lines into header fields and the free-text message.

``parse_line`` tries a fixed list of common formats (JSON, RFC 5424 and RFC 3164
syslog, macOS unified log, Apache/Nginx access and error logs, and a generic
"date time level component: message" shape) and falls back to the whole line as
the message, so the template miner always gets the part that carries the event.

Forwarders (Fluent Bit, Vector, ``logger`` through a relay) often pass a syslog line on whole, header
included, inside their own record: a message that still starts with a syslog header (RFC 5424, RFC
3164, or an RFC 3339 timestamp, host and program[pid]) loses it, and its host, program and pid become
the line's (the originator's); the forwarder's own timestamp and level are kept when it gave them.
``log_format_regex`` turns a logpai ``log_format`` string into a regex; it is used
by the Loghub benchmark.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple

_SYSLOG_SEVERITY = ("emerg", "alert", "crit", "error", "warning", "notice", "info", "debug")
_LEVEL_WORDS = (r"TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|CRIT|CRITICAL|ALERT|EMERG|FATAL"
                r"|SEVERE|trace|debug|info|notice|warn|warning|error|err|crit|critical|fatal")
_EXTRA_FIELDS = ("pid", "msgid", "sd", "client", "user", "module", "thread")
_JSON_KEYS = {
    "message": ("message", "msg", "log", "text", "@message"),
    "timestamp": ("@timestamp", "timestamp", "time", "ts", "date"),
    "level": ("level", "severity", "lvl", "loglevel", "levelname"),
    "host": ("host", "hostname", "host.name"),
    "component": ("logger", "logger_name", "component", "service", "app", "name"),
}
_NO_EXTRA: Mapping[str, str] = MappingProxyType({})


class ParsedLine(NamedTuple):  # a tuple: built per line, several times cheaper than a frozen dataclass
    """Header fields of one raw line; missing fields are ``None``."""

    message: str
    timestamp: str | None = None
    host: str | None = None
    component: str | None = None
    level: str | None = None
    fmt: str = "raw"
    extra: Mapping[str, str] = _NO_EXTRA


_RFC5424 = re.compile(
    r"^<(?P<pri>\d{1,3})>1 (?P<ts>\S+) (?P<host>\S+) (?P<app>\S+) (?P<pid>\S+) (?P<msgid>\S+) "
    r"(?P<sd>-|(?:\[(?:[^\]\\]|\\.)*\])+) ?(?P<msg>.*)$")
_RFC3164 = re.compile(
    r"^(?:<(?P<pri>\d{1,3})>)?(?P<ts>[A-Z][a-z]{2} +\d{1,2} \d{2}:\d{2}:\d{2}) (?P<host>\S+) "
    r"(?P<app>[^\s:\[]+)(?:\[(?P<pid>\d+)\])?(?: \([^)]*\))?: ?(?P<msg>.*)$")
# rsyslog's file format and most forwarders: RFC 3339 timestamp, host, program[pid]:
_SYSLOG_ISO = re.compile(
    r"^(?:<(?P<pri>\d{1,3})>)?(?P<ts>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?) "
    r"(?P<host>\S+) (?P<app>[^\s:\[]+)(?:\[(?P<pid>\d+)\])?: ?(?P<msg>.*)$")
_MAC_UNIFIED = re.compile(
    r"^(?P<ts>\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d+[+-]\d{4}) +0x[0-9a-f]+ +(?P<level>\w+) +"
    r"0x[0-9a-f]+ +(?P<pid>\d+) +\d+ +(?P<app>[^:]+?): (?P<msg>.*)$")
_ACCESS = re.compile(
    r"^(?P<client>\S+) \S+ (?P<user>\S+) \[(?P<ts>[^\]]+)\] (?P<msg>\".*)$")
_APACHE_ERROR = re.compile(
    r"^\[(?P<ts>[A-Z][a-z]{2} [A-Z][a-z]{2} +\d{1,2} [\d:.]+ \d{4})\] \[(?:(?P<module>\w+):)?"
    r"(?P<level>\w+)\](?: \[pid (?P<pid>\d+)(?::tid \d+)?\])? (?P<msg>.*)$")
_NGINX_ERROR = re.compile(
    r"^(?P<ts>\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}) \[(?P<level>\w+)\] (?P<pid>\d+)#\d+: "
    r"(?:\*\d+ )?(?P<msg>.*)$")
_GENERIC = re.compile(
    r"^(?P<ts>\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?)\s+"
    r"\[?(?P<level>" + _LEVEL_WORDS + r")\]?\s+(?:\[(?P<thread>[^\]]+)\]\s+)?(?:(?P<app>[\w.$/\-]+(?:\[\d+\])?):\s+)?(?P<msg>.*)$")


def _severity(pri: str | None) -> str | None:
    return _SYSLOG_SEVERITY[int(pri) % 8] if pri else None


def _first(data: dict, keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = data.get(key)
        if value is not None and not isinstance(value, (dict, list)):
            return str(value)
    return None


def _parse_json(line: str) -> ParsedLine | None:
    if not line.startswith("{"):
        return None
    try:
        data = json.loads(line)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    fields = {name: _first(data, keys) for name, keys in _JSON_KEYS.items()}
    used = {key for keys in _JSON_KEYS.values() for key in keys}
    extra = {k: str(v) for k, v in data.items() if k not in used and not isinstance(v, (dict, list))}
    return ParsedLine(message=fields["message"] or "", timestamp=fields["timestamp"],
                      host=fields["host"], component=fields["component"], level=fields["level"],
                      fmt="json", extra=extra)


def _from_match(fmt: str, m: re.Match[str]) -> ParsedLine:
    # "-" is the RFC 5424 / access-log spelling of "no value" (a message of "-" is still the message).
    groups = {k: None if v == "-" and k != "msg" else v for k, v in m.groupdict().items()}
    level = groups.get("level") or _severity(groups.get("pri"))
    extra = {k: v for k, v in groups.items() if v and k in _EXTRA_FIELDS}
    return ParsedLine(message=groups["msg"].strip(), timestamp=groups.get("ts"),
                      host=groups.get("host"), component=groups.get("app"),
                      level=level.lower() if level else None, fmt=fmt, extra=extra)


# Order matters: the more specific shapes go first.
_REGEX_FORMATS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("rfc5424", _RFC5424), ("rfc3164", _RFC3164), ("mac_unified", _MAC_UNIFIED),
    ("apache_error", _APACHE_ERROR), ("nginx_error", _NGINX_ERROR), ("access", _ACCESS),
    ("generic", _GENERIC), ("syslog_iso", _SYSLOG_ISO),
)
_SYSLOG_FORMATS = (("rfc5424", _RFC5424), ("rfc3164", _RFC3164), ("syslog_iso", _SYSLOG_ISO))
_NAMED_GROUP = re.compile(r"\(\?P<\w+>")
_GROUP_REFERENCE = re.compile(r"\(\?P=|\(\?\(|(?<!\\)\\[1-9]")  # (?P=name), (?(group)...), \1
_PLAIN = re.compile("").flags


class _FirstFormat:
    """Which of several formats, tried in order, is the first to match a text, in one regex call: the formats
    joined as alternatives (the engine tries them in order at the text's start, as separate calls would), each
    alternative a group named after its format, its own groups uncaptured. The format found is matched once
    more, alone, for its fields. Joined, a format's regex loses its flags and its groups' names and numbers, so
    one with flags, a backreference or a conditional group is refused."""

    def __init__(self, formats: tuple[tuple[str, re.Pattern[str]], ...]) -> None:
        for fmt, regex in formats:
            if regex.flags != _PLAIN or _GROUP_REFERENCE.search(regex.pattern):
                raise ValueError(f"log format {fmt}: no flags, backreferences or conditional groups allowed")
        self._regexes = dict(formats)
        self._any = re.compile("|".join(f"(?P<{fmt}>{_NAMED_GROUP.sub('(?:', regex.pattern)})"
                                        for fmt, regex in formats))

    def match(self, text: str) -> tuple[str, re.Match[str]] | None:
        found = self._any.match(text)
        if found is None:
            return None
        fmt = found.lastgroup  # the outermost group closes last: the format's
        assert fmt is not None
        m = self._regexes[fmt].match(text)
        assert m is not None
        return fmt, m


_ANY_FORMAT = _FirstFormat(_REGEX_FORMATS)
_ANY_SYSLOG = _FirstFormat(_SYSLOG_FORMATS)


def parse_line(line: str) -> ParsedLine:
    """Header fields and message of a raw line; unknown shapes give the whole line as message."""
    line = line.rstrip("\r\n")
    parsed = _parse_json(line)
    if parsed is None:
        found = _ANY_FORMAT.match(line)
        if found is None:
            return ParsedLine(message=line.strip())
        parsed = _from_match(*found)
    return _without_inner_header(parsed)


def _without_inner_header(outer: ParsedLine) -> ParsedLine:
    """``outer`` with a syslog header that starts its message stripped, and that header's fields taken."""
    found = _ANY_SYSLOG.match(outer.message)
    if found is None:
        return outer
    fmt, m = found
    inner = _from_match(fmt, m)
    return ParsedLine(message=inner.message, timestamp=outer.timestamp or inner.timestamp,
                      host=inner.host or outer.host, component=inner.component or outer.component,
                      level=outer.level or inner.level, fmt=f"{outer.fmt}+{fmt}", extra={**outer.extra, **inner.extra})


def log_format_regex(log_format: str) -> tuple[list[str], re.Pattern[str]]:
    """Compile a logpai ``log_format`` ("<Date> <Time> <Level>: <Content>") to a regex.

    Text between ``<Field>`` placeholders is kept as regex (the Loghub formats use
    escapes and optional groups), runs of spaces match any whitespace.
    """
    headers: list[str] = []
    parts = re.split(r"(<[^<>]+>)", log_format)
    regex = ""
    for index, part in enumerate(parts):
        if index % 2 == 0:
            regex += re.sub(r" +", r"\\s+", part)
        else:
            name = part.strip("<>")
            headers.append(name)
            regex += f"(?P<{name}>.*?)"
    return headers, re.compile("^" + regex + "$")
