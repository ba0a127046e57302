"""InfluxDB line protocol in: validating a batch, keeping the good lines and reporting the bad ones, and
stamping lines that carry no timestamp.

A line is good when `line-protocol-parser` takes it (a C extension: escaping rules, integer `i` / unsigned `u`
/ string / bool fields, int64 range, unique tag keys, series keys of at most 65535 bytes). Calling its
`parse_line` on every line took most of the API's CPU per metric (it builds a dict per line that we drop), so
runs of lines are first matched whole by RE2 against a subset of line protocol that `parse_line` always takes
(`_line` says what the subset leaves out). The two rules a regular expression cannot check, unique tag keys and
the key's length, are asked of `parse_line` once per series key. Lines outside the subset go through
`parse_line` one by one: the outcome is the same either way (tests/webhooks/test_line_protocol_subset.py
compares the two on generated and mutated lines).

We keep the original text of a good line, so nothing is re-serialised. A line without a timestamp gets the
API's receive time appended: a re-delivered stream entry then rewrites the very same point instead of adding
one at the worker's clock.
"""

from dataclasses import dataclass, field

import re2
from line_protocol_parser import LineFormatError, parse_line

MAX_REPORTED_ERRORS = 100  # the response lists this many bad lines; the counter counts them all
_MAX_JOINED_LINES = 64  # a string field value may span this many raw lines
_WHITESPACE = " \t\r"
_MAX_REMEMBERED_SERIES = 100_000  # series keys known good; forgotten all at once past this many
_MAX_BACKOFF = 64


def _line(timestamp: bytes) -> bytes:
    """A line of the subset as a bytes pattern (read as Latin-1: the body is known to be UTF-8 by then).

    Left out, for `parse_line` to judge: whitespace but one space between the parts, control characters, DEL,
    escaped spaces in the series key (its first space ends it, so it can be cut without parsing), a backslash
    that escapes nothing, quotes in names, NaN and infinities, floats with more than 18 integer or 30
    fractional digits or a three-digit exponent (no overflow to infinity, no subnormals), integers of 19
    digits and unsigned ones of 20 (int64 and uint64 range), timestamps from 9e18 on either side of zero, and
    a `#` first (a comment)."""
    plain = rb'[^\x00-\x20\x7f,="\\]'  # needs no escape: printable ASCII but separators, quote and backslash; non-ASCII
    name = b"(?:" + plain + rb"|\\[,=])+"
    field_key = b"(?:" + plain + rb"|\\[,= ])+"
    measurement = rb'(?:[^\x00-\x20\x7f,="\\#]|\\[,=])(?:' + plain + rb"|\\[,=])*"
    number = rb"-?(?:\d{1,18}(?:\.\d{0,30})?|\.\d{1,30})(?:[eE][-+]?\d{1,2})?|-?\d{1,18}i|\d{1,19}u"
    boolean = rb"[tTfF]|true|True|TRUE|false|False|FALSE"
    string = rb'"(?:[^\x00-\x08\x0a-\x1f\x7f"\\]|\\["\\])*"'
    field_pair = field_key + b"=(?:" + number + b"|" + boolean + b"|" + string + b")"
    return measurement + b"(?:," + name + b"=" + name + b")* " + field_pair + b"(?:," + field_pair + b")*" + timestamp


def _run(line: bytes) -> re2._Regexp:
    """One or more lines of the subset, each ending with its newline; the longest such run wins."""
    options = re2.Options()
    options.encoding = re2.Options.Encoding.LATIN1
    options.longest_match = True
    return re2.compile(b"(?:" + line + b"\n)+", options)


_STAMPED_RUN = _run(_line(rb" -?(?:\d{1,18}|[1-8]\d{18})"))
_UNSTAMPED_RUN = _run(_line(b""))
_good_series: set[str] = set()  # series keys (all before a subset line's first space) that parse_line took


@dataclass
class LineError:
    line: int  # 1-based line number in the body (for JSON: the metric's position)
    error: str


@dataclass
class ValidatedLines:
    lines: list[str] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)  # the first MAX_REPORTED_ERRORS
    rejected: int = 0

    def reject(self, line: int, error: str) -> None:
        self.rejected += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(LineError(line, error))


def validate_lines(body: bytes, received_ns: int) -> ValidatedLines:
    """Good lines of `body` (stamped with `received_ns` where they have no timestamp) and the bad ones.
    A byte that is not UTF-8 costs its line, not the batch (such a body is read line by line, without the
    subset)."""
    result = ValidatedLines()
    stamp = f" {received_ns}"
    try:
        raw: list[str | UnicodeDecodeError] = body.decode().split("\n")
        subject: bytes | None = body + b"\n"  # every line ends with a newline, the last one too
    except UnicodeDecodeError:
        raw, subject = [_decode(line) for line in body.split(b"\n")], None
    index = offset = 0  # the next line: its index in `raw` and its byte offset in `subject`
    one_by_one_until = 0  # lines before this index go through parse_line one by one
    # Lines read one by one after the subset missed a line: doubles at each miss, back to 1 after a run at least
    # as long, so batches where the subset misses often cost hardly more than reading every line one by one.
    backoff = 1
    while index < len(raw):
        if subject is not None and index >= one_by_one_until:
            stamped, end = _subset_run(subject, offset)
            run = raw[index:index + subject.count(b"\n", offset, end)]
            if run and _series_keys_good(run):
                result.lines.extend(run if stamped else [line + stamp for line in run])
                index, offset, backoff = index + len(run), end, 1 if len(run) >= backoff else backoff
                continue
            one_by_one_until = index + max(len(run), backoff)
            backoff = min(2 * backoff, _MAX_BACKOFF)
        after = _validate_line(raw, index, result, stamp)
        if subject is not None:
            offset = _offset_after(subject, offset, after - index)
        index = after
    return result


def _subset_run(subject: bytes, offset: int) -> tuple[bool, int]:
    """Whether the lines from `offset` carry timestamps, and where the longest run of them in the subset ends
    (`offset` itself when the line there is outside the subset)."""
    for stamped, run in ((True, _STAMPED_RUN), (False, _UNSTAMPED_RUN)):
        match = run.match(subject, offset)
        if match:
            return stamped, match.end()
    return True, offset


def _series_keys_good(lines: list[str]) -> bool:
    """Whether `parse_line` takes the series keys of these subset lines (tag keys unique, at most 65535 bytes).
    Each key not seen good before is parsed once, with a field; the good ones are remembered."""
    new = {line.partition(" ")[0] for line in lines} - _good_series
    for key in new:
        try:
            parse_line(key + " f=0")
        except LineFormatError:
            return False
    if len(_good_series) + len(new) > _MAX_REMEMBERED_SERIES:
        _good_series.clear()
    _good_series.update(new)
    return True


def _validate_line(raw: list[str | UnicodeDecodeError], index: int, result: ValidatedLines, stamp: str) -> int:
    """Judges the line at `index` with `parse_line`, joined with the next lines when a string field spans them;
    returns the index of the line after it."""
    line, number = raw[index], index + 1
    if isinstance(line, UnicodeDecodeError):
        result.reject(number, f"not UTF-8 text (byte 0x{line.object[line.start]:02x} at column {line.start + 1})")
        return number
    line = line.strip(_WHITESPACE)
    if not line or line[0] == "#":
        return number
    try:
        point = parse_line(line)
    except LineFormatError as exc:
        joined = _join_string_field(raw, index)
        if joined is None:
            result.reject(number, describe(exc, line))
            return number
        line, point, number = joined
    result.lines.append(line if point["time"] is not None else line + stamp)
    return number


def _offset_after(subject: bytes, offset: int, lines: int) -> int:
    """The byte offset in `subject` of the line `lines` lines after the one at `offset`."""
    for _ in range(lines):
        offset = subject.index(b"\n", offset) + 1
    return offset


def _decode(line: bytes) -> str | UnicodeDecodeError:
    try:
        return line.decode()
    except UnicodeDecodeError as exc:
        return exc


def _join_string_field(raw: list[str | UnicodeDecodeError], start: int) -> tuple[str, dict, int] | None:
    """A string field may hold raw newlines: while a quote is open, join the following lines (never an
    undecodable one). Returns the joined line, its parse and the index after it; None when no join parses."""
    text = raw[start]
    for end in range(start + 1, min(len(raw), start + _MAX_JOINED_LINES)):
        if not _quote_open(text) or isinstance(raw[end], UnicodeDecodeError):
            return None
        text += "\n" + raw[end]
        try:
            return text.strip(_WHITESPACE), parse_line(text.strip(_WHITESPACE)), end + 1
        except LineFormatError:
            continue
    return None


def _quote_open(text: str) -> bool:
    """Whether `text` ends inside a string field value. Only a quote right after a field's `=` opens one (names
    and tag values may hold quotes), and a backslash escapes the next character, a quote or a backslash."""
    in_fields = in_string = escaped = False
    previous = ""
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif in_string:
            in_string = char != '"'
        elif char == '"':
            in_string = in_fields and previous == "="
        elif char == " ":
            in_fields = True  # the first unescaped space ends the series key
        previous = char
    return in_string


def describe(exc: LineFormatError, line: str) -> str:
    excerpt = line if len(line) <= 80 else line[:77] + "..."
    return f"{str(exc).rstrip('.')} in {excerpt!r}"
