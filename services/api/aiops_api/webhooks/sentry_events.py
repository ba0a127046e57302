"""Sentry error events as alerts, grouped the way Sentry groups them into issues:

1. an explicit `fingerprint` (with `{{ default }}` standing for the default grouping below);
2. else the exception chain: each exception's type plus its in-app stack frames as module/function
   (all frames when none is in-app; type and value when there is no stack) — never line numbers, so
   a deploy that moves code keeps the group;
3. else the message template (`logentry.message`, e.g. `Failed to reserve %s items`), or the message
   with numbers, ids and addresses masked;
4. else the culprit/transaction.

Like Sentry's issues, groups never span projects: the project id is part of the hash. The group is the
alert's fingerprint: the alerts store keeps its count and first/last seen, and the latest event's
release, environment and a trimmed sample in `details`. The alert's host is the event's `server_name`, its
service the `service` tag, else the package of a `package@version` release.

The sample is shown to viewers, so it keeps no more than Sentry's server does by default (`scrubbed`): SDKs
sending with send_default_pii send the request's headers, cookies and body and the user whole.
"""

import hashlib
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

import orjson

from aiops_contracts.envelope import MAX_NESTING, nests_within
from aiops_contracts.events import URL_MAX_CHARS, AlertPayload, Severity, SignalKind

LEVELS = {"fatal": Severity.critical, "error": Severity.high, "warning": Severity.medium,
          "info": Severity.info, "debug": Severity.info}
DEFAULT_MARKERS = ("{{ default }}", "{{default}}")
MAX_SAMPLE_BYTES = 16_384  # the sample event kept on the alert; larger parts are dropped
_ENTRY_LEVELS = 3  # levels above the sample event in its alert's stream entry: the envelope, payload, details
MAX_EVENT_NESTING = MAX_NESTING - _ENTRY_LEVELS  # levels of objects and arrays an event may nest
_SAMPLE_KEYS = ("event_id", "level", "platform", "logger", "transaction", "culprit", "server_name", "release",
                "environment", "tags", "user", "request", "contexts", "exception", "logentry", "message")
FILTERED = "[Filtered]"  # Sentry's own marker of a scrubbed value
# Names whose values are credentials, matched anywhere in a header, tag, context key or query parameter, any case
# (Sentry's default scrubbing): authorization covers proxy-authorization, cookie set-cookie, api-key x-api-key.
_SENSITIVE = re.compile(r"authorization|cookie|api[-_]?key|token|secret|passw(?:or)?d|session|csrf|credential",
                        re.IGNORECASE)
_REQUEST_DROPPED = ("cookies", "data", "env")  # the body, cookies and server environment (REMOTE_ADDR)
_USER_KEPT = ("id", "username")  # not the email or IP address
_VARIABLE_PARTS = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"  # uuid
    r"|\b\d{1,3}(?:\.\d{1,3}){3}\b"  # IPv4
    r"|\b0x[0-9a-f]+\b|\b[0-9a-f]{12,}\b"  # addresses, hashes
    r"|\b\d+(?:\.\d+)?\b",  # numbers
    re.IGNORECASE,
)


def event_to_alert(event: dict[str, Any], project_id: str) -> AlertPayload:
    level = str(event.get("level") or "error").lower()
    tags = _tags(event)
    return AlertPayload(
        fingerprint="sentry-" + group_hash(event, project_id),
        title=event_title(event)[:500],
        description=_stack_summary(event)[:20_000],
        severity=LEVELS.get(level, Severity.high),
        host=_text(event.get("server_name")),
        service=_text(tags.get("service")) or release_package(event.get("release")),
        labels={k: v for k, v in {"project_id": project_id, "environment": _text(event.get("environment")),
                                  "release": _text(event.get("release")), "level": level,
                                  "platform": _text(event.get("platform")), "logger": _text(event.get("logger"))
                                  }.items() if v},
        occurred_at=_timestamp(event.get("timestamp")),
        details={"event_id": event.get("event_id"), "project_id": project_id, "release": event.get("release"),
                 "environment": event.get("environment"), "culprit": event.get("culprit") or event.get("transaction"),
                 "sample_event": sample(event)},
        signal=SignalKind.error,
    )


def fits_an_alert(event: dict[str, Any]) -> bool:
    """Whether the event nests at most MAX_EVENT_NESTING levels, so that its alert's stream entry, which holds it
    _ENTRY_LEVELS deeper (details.sample_event), can be written: orjson writes MAX_NESTING levels, no more."""
    return nests_within(event, MAX_EVENT_NESTING)


def group_hash(event: dict[str, Any], project_id: str) -> str:
    """Groups are per project, as Sentry's issues are: one source may serve several projects' DSNs."""
    default = default_grouping(event)
    fingerprint = event.get("fingerprint")
    if isinstance(fingerprint, list) and fingerprint:
        parts: list[Any] = ["fingerprint"]
        for item in fingerprint:
            parts.extend(default if str(item) in DEFAULT_MARKERS else [str(item)])
    else:
        parts = default
    return hashlib.sha256(orjson.dumps([project_id, *parts])).hexdigest()[:32]


def default_grouping(event: dict[str, Any]) -> list[Any]:
    exceptions = _exceptions(event)
    if exceptions:
        return ["exception", *(_exception_component(e) for e in exceptions)]
    template = _message_template(event)
    if template:
        return ["message", template]
    return ["fallback", str(event.get("culprit") or event.get("transaction") or event.get("logger") or "")]


def event_title(event: dict[str, Any]) -> str:
    exceptions = _exceptions(event)
    if exceptions:
        top = exceptions[-1]  # Sentry lists a chain oldest first: the last one was raised to the top
        value = str(top.get("value") or "")
        return f"{top.get('type') or 'Error'}: {value}" if value else str(top.get("type") or "Error")
    return _formatted_message(event) or str(event.get("transaction") or "Sentry event")


def sample(event: dict[str, Any]) -> dict[str, Any]:
    """The event's useful parts, within MAX_SAMPLE_BYTES (frame variables and source lines dropped first)."""
    kept = scrubbed({k: event[k] for k in _SAMPLE_KEYS if k in event})
    if "exception" in kept:
        kept["exception"] = [{"type": e.get("type"), "value": e.get("value"), "frames": _frames_brief(e)}
                             for e in _exceptions(event)]
    for key in ("request", "contexts", "user", "tags"):
        if len(orjson.dumps(kept)) <= MAX_SAMPLE_BYTES:
            break
        kept.pop(key, None)
    return kept if len(orjson.dumps(kept)) <= MAX_SAMPLE_BYTES else {"event_id": event.get("event_id")}


def scrubbed(event: dict[str, Any]) -> dict[str, Any]:
    """The event without the request's cookies, body and environment, nor the user but for id and username;
    values of credential-like names in the request (headers, query), tags and contexts read FILTERED."""
    kept = dict(event)
    if isinstance(request := event.get("request"), dict):
        kept["request"] = {k: v for k, v in request.items() if k not in _REQUEST_DROPPED}
        if isinstance(request.get("url"), str):
            kept["request"]["url"] = _scrubbed_url(request["url"][:URL_MAX_CHARS])
        if isinstance(request.get("query_string"), str):  # else pairs or an object, which _masked scrubs
            kept["request"]["query_string"] = _scrubbed_pairs(request["query_string"][:URL_MAX_CHARS], "&;")
    if "user" in event:
        user = event["user"]
        kept["user"] = {k: user[k] for k in _USER_KEPT if k in user} if isinstance(user, dict) else {}
    for key in ("request", "tags", "contexts"):
        if key in kept:
            kept[key] = _masked(kept[key])
    return kept


def _masked(value: Any, name: str = "") -> Any:
    if _SENSITIVE.search(name):
        return FILTERED
    if isinstance(value, dict):
        return {k: _masked(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        if len(value) == 2 and isinstance(value[0], str):  # a [name, value] pair: headers, tags, a query as lists
            return [value[0], _masked(value[1], value[0])]
        return [_masked(v) for v in value]
    return value


def _scrubbed_url(url: str) -> str:
    """The URL with credential-like `name=value` pairs FILTERED in its query and fragment (`#access_token=`) and its
    path's parameters (`;jsessionid=`). Split by hand, not by urlsplit, which raises on a malformed host and whose
    urlunsplit drops an empty `?` or `#`."""
    before_fragment, hash_mark, fragment = url.partition("#")
    path, question_mark, query = before_fragment.partition("?")
    return (_scrubbed_pairs(path, "/;") + question_mark + _scrubbed_pairs(query, "&;") + hash_mark
            + _scrubbed_pairs(fragment, "&;"))


def _scrubbed_pairs(text: str, separators: str) -> str:
    """`text` split at each of `separators` in turn, the value of each part `name=value` whose (decoded) name is
    credential-like FILTERED. Each character is looked at a fixed number of times: no regex scans the text, whose
    backtracking took time in the square of a long run without `=`."""
    if separators:
        return separators[0].join(_scrubbed_pairs(part, separators[1:]) for part in text.split(separators[0]))
    name, equals, _ = text.partition("=")
    return f"{name}={FILTERED}" if equals and _SENSITIVE.search(unquote_plus(name)) else text


def _exceptions(event: dict[str, Any]) -> list[dict[str, Any]]:
    exception = event.get("exception")
    values = exception.get("values") if isinstance(exception, dict) else exception
    return [v for v in values if isinstance(v, dict)] if isinstance(values, list) else []


def _frames(exception: dict[str, Any]) -> list[dict[str, Any]]:
    stacktrace = exception.get("stacktrace") or {}
    frames = stacktrace.get("frames") if isinstance(stacktrace, dict) else None
    return [f for f in frames if isinstance(f, dict)] if isinstance(frames, list) else []


def _exception_component(exception: dict[str, Any]) -> list[Any]:
    frames = _frames(exception)
    in_app = [f for f in frames if f.get("in_app")] or frames
    if not in_app:  # no stack: the type and the (masked) value are all there is
        return [exception.get("type"), _mask(str(exception.get("value") or ""))]
    return [exception.get("type"), [[_frame_module(f), f.get("function")] for f in in_app]]


def _frame_module(frame: dict[str, Any]) -> str | None:
    return frame.get("module") or frame.get("filename") or frame.get("abs_path")


def _frames_brief(exception: dict[str, Any]) -> list[str]:
    return [f"{_frame_module(f)}:{f.get('function')}:{f.get('lineno')}" for f in _frames(exception)[-20:]]


def _stack_summary(event: dict[str, Any]) -> str:
    lines = []
    for exception in _exceptions(event):
        lines.append(f"{exception.get('type')}: {exception.get('value') or ''}")
        lines.extend(f"  at {frame}" for frame in _frames_brief(exception))
    return "\n".join(lines) or _formatted_message(event)


def _message_template(event: dict[str, Any]) -> str:
    logentry = event.get("logentry")
    if isinstance(logentry, dict) and logentry.get("message"):
        return str(logentry["message"]) if logentry.get("params") else _mask(str(logentry["message"]))
    return _mask(_formatted_message(event))


def _formatted_message(event: dict[str, Any]) -> str:
    for key in ("logentry", "message"):
        value = event.get(key)
        if isinstance(value, dict):
            value = value.get("formatted") or value.get("message")
        if value:
            return str(value)
    return ""


def _mask(text: str) -> str:
    return _VARIABLE_PARTS.sub("<var>", text)


def release_package(release: Any) -> str | None:
    """The package of a release named the way Sentry asks, `package@version` (`checkout@4.12.0`): the service
    that sent the event, when no `service` tag says so. A bare version or commit hash names none."""
    package, at, version = str(release or "").rpartition("@")
    return _text(package) if at and version else None


def _tags(event: dict[str, Any]) -> dict[str, Any]:
    tags = event.get("tags")
    if isinstance(tags, list):  # some SDKs send [[key, value], ...]
        return {str(t[0]): t[1] for t in tags if isinstance(t, list | tuple) and len(t) == 2}
    return tags if isinstance(tags, dict) else {}


def _text(value: Any) -> str | None:
    return str(value)[:255] if value not in (None, "") else None


def _timestamp(value: Any) -> datetime | None:
    """Sentry SDKs send RFC 3339 strings or Unix seconds (a string without an offset is UTC: AlertPayload says so)."""
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, UTC)
        if isinstance(value, str):
            return datetime.fromisoformat(value)
    except (ValueError, OverflowError, OSError):
        return None
    return None
