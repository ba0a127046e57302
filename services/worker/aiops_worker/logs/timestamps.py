"""Header timestamps (as `headers.parse_line` returns them) to aware datetimes.

Formats without a zone are taken as UTC; RFC 3164 has no year: the current one, or the previous one
when that would put the line more than a day in the future (a December line read in January). A time more than
EVENT_TIME_MAX_YEARS from now (0001-01-01: a clock never set) is no timestamp: the line takes the time it was received.
"""

from datetime import UTC, datetime, timedelta
from functools import lru_cache

from aiops_contracts.events import EVENT_TIME_MAX_DISTANCE

_MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
                                       "Nov", "Dec"), start=1)}
_ACCESS_FORMAT = "%d/%b/%Y:%H:%M:%S %z"  # 10/Oct/2000:13:55:36 -0700
_CTIME_FORMATS = ("%a %b %d %H:%M:%S.%f %Y", "%a %b %d %H:%M:%S %Y")  # Apache's error log, with or without µs


def parse_timestamp(text: str | None, now: datetime) -> datetime | None:
    """The instant `text` names, or None when it is not a timestamp we know or lies more than
    EVENT_TIME_MAX_DISTANCE from `now`."""
    if not text:
        return None
    parsed = _iso(text) or _rfc3164(text, now) or _epoch(text) or _strptime(text)
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed if now - EVENT_TIME_MAX_DISTANCE <= parsed <= now + EVENT_TIME_MAX_DISTANCE else None


def _iso(text: str) -> datetime | None:
    if not text[:4].isdigit():
        return None
    try:  # nginx writes 2024/01/02, log4j 12:00:00,123
        return datetime.fromisoformat(text.replace("/", "-", 2).replace(",", "."))
    except ValueError:
        return None


def _rfc3164(text: str, now: datetime) -> datetime | None:
    month = _MONTHS.get(text[:3])
    parts = text[3:].split()
    if month is None or len(parts) != 2 or not parts[0].isdigit():
        return None
    try:
        hour, minute, second = (int(p) for p in parts[1].split(":"))
        parsed = datetime(now.year, month, int(parts[0]), hour, minute, second, tzinfo=UTC)
    except ValueError:
        return None
    if parsed - now > timedelta(days=1):
        parsed = parsed.replace(year=now.year - 1)
    return parsed


def _epoch(text: str) -> datetime | None:
    try:
        value = float(text)
    except ValueError:
        return None
    if value > 1e12:  # milliseconds
        value /= 1000
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


@lru_cache(maxsize=4096)  # lines of the same second share the text; strptime is the slowest parser here
def _strptime(text: str) -> datetime | None:
    # The format is picked by the text's shape: each failed strptime costs as much as a successful one.
    if text[:1].isdigit():
        formats: tuple[str, ...] = (_ACCESS_FORMAT,)
    else:
        formats = _CTIME_FORMATS if "." in text else _CTIME_FORMATS[1:]
    for fmt in formats:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None
