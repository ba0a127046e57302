"""InfluxDB line protocol in: validating a batch line by line, keeping the good lines and reporting the
bad ones, and stamping lines that carry no timestamp.

Each line is parsed by `line-protocol-parser` (a C extension: escaping rules, integer `i` / unsigned `u`
/ string / bool fields, int64 range). We keep the original text of a good line, so nothing is
re-serialised. A line without a timestamp gets the API's receive time appended: a re-delivered stream
entry then rewrites the very same point instead of adding one at the worker's clock.
"""

from dataclasses import dataclass, field

from line_protocol_parser import LineFormatError, parse_line

MAX_REPORTED_ERRORS = 100  # the response lists this many bad lines; the counter counts them all
_MAX_JOINED_LINES = 64  # a string field value may span this many raw lines
_WHITESPACE = " \t\r"


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
    Each line is decoded on its own: a byte that is not UTF-8 costs its line, not the batch."""
    result = ValidatedLines()
    stamp = f" {received_ns}"
    raw = [_decode(line) for line in body.split(b"\n")]
    index = 0
    while index < len(raw):
        line = raw[index]
        number = index = index + 1
        if isinstance(line, UnicodeDecodeError):
            result.reject(number, f"not UTF-8 text (byte 0x{line.object[line.start]:02x} at column {line.start + 1})")
            continue
        line = line.strip(_WHITESPACE)
        if not line or line[0] == "#":
            continue
        try:
            point = parse_line(line)
        except LineFormatError as exc:
            joined = _join_string_field(raw, index - 1)
            if joined is None:
                result.reject(number, describe(exc, line))
                continue
            line, point, index = joined
        result.lines.append(line if point["time"] is not None else line + stamp)
    return result


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
