"""InfluxDB line protocol in: validating a batch, keeping the good lines and reporting the bad ones, and
stamping lines that carry no timestamp.

A line is good when `line-protocol-parser` takes it (a C extension: escaping rules, integer `i` / unsigned `u`
/ string / bool fields, int64 range, unique tag keys, series keys of at most 65535 bytes). Calling its
`parse_line` on every line took most of the API's CPU per metric (it builds a dict per line that we drop), so
runs of lines are first matched whole by RE2 against a subset of line protocol that `parse_line` always takes
(`_line` says what the subset leaves out). The two rules a regular expression cannot check, unique tag keys and
the key's length, are asked of `parse_line` once per series key (remembered within a bound on memory). Finding
each line's series key for that took a fifth of the API's CPU per line, so a run first tries a narrower pattern
whose lines need neither rule asked: only tag keys recent lines taught (`_KnownTagKeys`), each at most once, in a
body without a line long enough to hold a key over the limit. Lines outside the subset go through `parse_line` one
by one: the outcome is the same either way (tests/webhooks/test_line_protocol_subset.py compares the two on
generated and mutated lines).

We keep the original bytes of a good line, so nothing is re-serialised (nor decoded and encoded again: a run's
lines go on as the pieces of the body they are). A line without a timestamp gets the API's receive time
appended: a re-delivered stream entry then rewrites the very same point instead of adding one at the worker's
clock.
"""

import re
import sys
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import NamedTuple

import numpy as np
import re2
from line_protocol_parser import LineFormatError, parse_line
from re2 import _re2

MAX_REPORTED_ERRORS = 100  # the response lists this many bad lines; the counter counts them all
_MAX_JOINED_LINES = 64  # a string field value may span this many raw lines
_JOIN_BYTES_PER_BYTE = 4  # joining lines into string fields may spend this many bytes a byte of the body,
_JOIN_SLACK = 65_536  # and this many more
_JOINED_LINE_BYTES = 64  # a line joined spends this many more than its own (a join step's fixed cost)
_WHITESPACE = " \t\r"
_GENERATION_BYTES = 8_000_000  # memory the newer generation of known series keys holds before it ages
_MAX_REMEMBERED_KEY = 1024  # longer series keys are not remembered: their long lines pay for their parse anyway
_SET_SLOT_BYTES = 64  # a remembered key's share of its set's table, beside the string itself
_MAX_BACKOFF = 64
_LONG_RUN = 8  # a run of the subset this long pays for the RE2 calls that missed before it
_NOT_SUBSET_START = b"#\n \t\r"  # a line starting so is outside the subset: a comment, blank, whitespace first
_MAX_SERIES_KEY = 65535  # bytes; `parse_line` refuses longer keys
_MAX_TAG_KEYS = 128  # tag keys the known-keys pattern names at most
_MAX_TAG_KEY = 64  # bytes: a longer tag key teaches nothing (Telegraf's are a few bytes long)
_MAX_TAUGHT = 512  # tag keys the remembered key sequences hold in all; the least recently taught are forgotten first
_REBUILD_EVERY_S = 1.0  # the known-keys pattern is rebuilt (and compiled) once this often at most,
_REBUILD_BURST = 4  # once this many rebuilds at once are spent (a new process's first bodies teach it all)
_UNESCAPED_COMMA = re.compile(rb"(?<!\\),")
_PLAIN_TAG_KEY = re.compile(rb"[A-Za-z0-9_.\-]+")  # tag keys learned: no escapes (in line protocol)


def _line(timestamp: bytes, tag_keys: list[bytes] | None = None) -> bytes:
    """A line of the subset as a bytes pattern (read as Latin-1: the body is known to be UTF-8 by then).

    Left out, for `parse_line` to judge: whitespace but one space between the parts, control characters, DEL,
    escaped spaces in the series key (its first space ends it, so it can be cut without parsing), a backslash
    that escapes nothing, quotes in names, NaN and infinities, floats with more than 18 integer or 30
    fractional digits or a three-digit exponent (no overflow to infinity, no subnormals), integers of 19
    digits and unsigned ones of 20 (int64 and uint64 range), timestamps from 9e18 on either side of zero, and
    a `#` first (a comment).

    With `tag_keys` (plain ones, `_PLAIN_TAG_KEY`), the tags may have only these keys, each at most once, in this
    order: no line of that pattern repeats a tag key."""
    plain = rb'[^\x00-\x20\x7f,="\\]'  # needs no escape: printable ASCII but separators, quote and backslash; non-ASCII
    name = b"(?:" + plain + rb"|\\[,=])+"
    field_key = b"(?:" + plain + rb"|\\[,= ])+"
    measurement = rb'(?:[^\x00-\x20\x7f,="\\#]|\\[,=])(?:' + plain + rb"|\\[,=])*"
    number = rb"-?(?:\d{1,18}(?:\.\d{0,30})?|\.\d{1,30})(?:[eE][-+]?\d{1,2})?|-?\d{1,18}i|\d{1,19}u"
    boolean = rb"[tTfF]|true|True|TRUE|false|False|FALSE"
    string = rb'"(?:[^\x00-\x08\x0a-\x1f\x7f"\\]|\\["\\])*"'
    field_pair = field_key + b"=(?:" + number + b"|" + boolean + b"|" + string + b")"
    if tag_keys is None:
        tags = b"(?:," + name + b"=" + name + b")*"
    else:
        tags = b"".join(b"(?:," + re.escape(key) + b"=" + name + b")?" for key in tag_keys)
    return measurement + tags + b" " + field_pair + b"(?:," + field_pair + b")*" + timestamp


def _run(line: bytes) -> _re2.RE2:
    """One or more lines of the subset, each ending with its newline; the longest such run wins. Compiled by the
    extension itself: the wrapper's `match` costs about three times as much a call (a generator, a match object),
    as much as `parse_line` on a line."""
    options = re2.Options()
    options.encoding = re2.Options.Encoding.LATIN1
    options.longest_match = True
    return _re2.RE2(b"(?:" + line + b"\n)+", options)


_TIMESTAMP = rb" -?(?:\d{1,18}|[1-8]\d{18})"
_SUBSET_RUN = _run(_line(b"(?:" + _TIMESTAMP + b")?"))
_STAMPED_RUN = _run(_line(_TIMESTAMP))  # the same lines, each with its timestamp


class _KnownSeries:
    """Series keys (all before a subset line's first space) that `parse_line` took, bounded by the memory they
    hold: two generations; when the newer one would hold more than `_GENERATION_BYTES` it becomes the older one
    (the older is forgotten), and a key found in the older one moves to the newer. Keys longer than
    `_MAX_REMEMBERED_KEY` are not remembered, nor the new keys of a run holding more than a generation."""

    def __init__(self) -> None:
        self.newer: set[bytes] = set()
        self.older: set[bytes] = set()
        self.newer_bytes = 0

    def unknown(self, keys: set[bytes]) -> set[bytes]:
        """Those of `keys` not remembered; those found in the older generation move to the newer."""
        unknown = keys - self.newer
        if unknown and self.older:
            found = unknown & self.older  # (before remembering them: that may make the newer generation the older)
            unknown -= found
            self.remember(found)
        return unknown

    def remember(self, keys: set[bytes]) -> None:
        keys = {key for key in keys if len(key) <= _MAX_REMEMBERED_KEY}
        held = sum(map(sys.getsizeof, keys)) + _SET_SLOT_BYTES * len(keys)
        if self.newer_bytes + held > _GENERATION_BYTES:
            self.older, self.newer, self.newer_bytes = self.newer, set(), 0
        if held <= _GENERATION_BYTES:
            self.newer |= keys
            self.newer_bytes += held


_known_series = _KnownSeries()


class _KnownTagKeys:
    """The run of stamped subset lines whose tags have only known keys, each at most once, in the known order: the
    lines of that run need no series key rule asked (`_subset_ends`). Keys and order come from the tag-key sequences
    recent lines taught (`teach`): those of the series keys `parse_line` took (`_bad_series_keys`), and that of the
    line where a body's known run stops (`validate_lines`), which brings back the sequences of lines whose series keys
    are long known. The order is rebuilt from the remembered sequences, the most recently taught first: a new key goes
    right after the one before it in its sequence; a sequence that goes against the order so far, or would make it
    name over `_MAX_TAG_KEYS` keys, is left out (its lines take the other runs until it is taught again). So neither
    a body of junk keys nor one teaching `host` before `cpu` holds the pattern longer than it takes the next Telegraf
    body to teach its own sequences again, and no source can shut the others out for good. (Byte order fixed in
    advance, Telegraf's, would need no teaching of order, but other clients keep theirs: the ingest benchmark's
    `disk` and `net` lines put `host` last, 2 lines in 5. Keeping keys per source would not help a source whose own
    lines disagree, and would multiply the compiled patterns.)

    Any keys and order give the same results (the pattern still asks for unique keys, and `validate_lines` for short
    lines): this is speed only. Figures (2 shared cores): compiling the pattern costs 0.15 ms for 2 keys, 0.66 ms for
    128 keys of 4 bytes, 1.3 ms for 128 of 64 bytes, and rebuilding the order from 512 remembered keys up to 0.5 ms,
    on the event loop: both happen only when a line teaches a sequence the pattern does not take, and at most
    `_REBUILD_BURST` times at once, then once a `_REBUILD_EVERY_S` (a token bucket: at most 0.2 % of a core however
    many bodies teach, 7 ms at once; a sequence taught waits that long at most).
    Teaching costs ~1.2 µs (`_tag_keys`) a new series key and a line where a known run stops (a few a body at most,
    none when the run takes the body). Memory: sequences holding `_MAX_TAUGHT` keys of at most `_MAX_TAG_KEY` bytes
    (~50 KB), and one compiled pattern, bounded by RE2 as the two others are."""

    def __init__(self, rebuild_every_s: float = _REBUILD_EVERY_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.order: list[bytes] = []  # the keys the pattern names, in its order
        self.compiles = 0  # the times the pattern was compiled
        self._taught: OrderedDict[tuple[bytes, ...], None] = OrderedDict()  # the least recently taught first
        self._taught_keys = 0
        self._positions: dict[bytes, int] = {}  # each key's position in `order`
        self._run: _re2.RE2 | None = None
        self._stale = True  # a sequence the pattern does not take was taught (or none is compiled yet)
        self._every_s, self._clock = rebuild_every_s, clock
        self._rebuilds, self._counted_at = float(_REBUILD_BURST), clock()  # rebuilds allowed now, as of then

    def run(self) -> _re2.RE2:
        """The known-keys run, rebuilt first when it is stale and a rebuild is allowed."""
        if self._stale:
            now = self._clock()
            self._rebuilds = (_REBUILD_BURST if self._every_s <= 0 else
                              min(_REBUILD_BURST, self._rebuilds + (now - self._counted_at) / self._every_s))
            self._counted_at = now
        if self._stale and self._rebuilds >= 1:
            self._stale, self._rebuilds = False, self._rebuilds - 1
            order = self._order()
            if self._run is None or order != self.order:
                self.order, self._positions = order, {key: at for at, key in enumerate(order)}
                self._run = _run(_line(_TIMESTAMP, order))
                self.compiles += 1
        assert self._run is not None  # (the first call compiles it)
        return self._run

    def teach(self, tag_keys: list[bytes]) -> None:
        """Remembers a line's tag keys in their order (plain, short and unique ones only) as the most recent; the
        pattern goes stale when it does not take them."""
        sequence = tuple(tag_keys)
        if sequence in self._taught:
            self._taught.move_to_end(sequence)
        elif (0 < len(sequence) <= _MAX_TAG_KEYS and len(set(sequence)) == len(sequence)
              and all(len(key) <= _MAX_TAG_KEY and _PLAIN_TAG_KEY.fullmatch(key) for key in sequence)):
            self._taught[sequence] = None
            self._taught_keys += len(sequence)
            while self._taught_keys > _MAX_TAUGHT:
                self._taught_keys -= len(self._taught.popitem(last=False)[0])
        else:
            return
        positions = [self._positions.get(key, -1) for key in sequence]
        if -1 in positions or positions != sorted(positions):
            self._stale = True

    def _order(self) -> list[bytes]:
        """The keys of the remembered sequences in an order each agrees with, the most recent first (those that go
        against it, or would make it too long, left out)."""
        order: list[bytes] = []
        for sequence in reversed(self._taught):
            known = [order.index(key) for key in sequence if key in order]
            if known != sorted(known) or len(order) + len(sequence) - len(known) > _MAX_TAG_KEYS:
                continue
            at = 0
            for key in sequence:
                if key not in order:
                    order.insert(at, key)
                at = order.index(key) + 1
        return order


_known_tag_keys = _KnownTagKeys()


@dataclass
class LineError:
    line: int  # 1-based line number in the body (for JSON: the metric's position)
    error: str


@dataclass
class ValidatedLines:
    good: list[bytes] = field(default_factory=list)  # the good lines, stamped, as UTF-8 (none with `body`)
    errors: list[LineError] = field(default_factory=list)  # the first MAX_REPORTED_ERRORS
    rejected: int = 0
    # A body whose every line is good as it is (Telegraf's, mostly) stands for its lines: not split into them, it
    # is cut into entries at its newlines (`entries`). Splitting took a tenth of the API's CPU per line.
    body: bytes | None = None
    join_budget: int = 0  # what joining lines into string fields may still read (`_join_string_field`)

    @property
    def count(self) -> int:
        return len(self.good) if self.body is None else len(self._newlines) + 1

    def entries(self, size: int) -> Iterator[tuple[bytes, int]]:
        """The good lines `size` at a time: their UTF-8 text, one a line, and how many."""
        if self.body is None:
            for start in range(0, len(self.good), size):
                chunk = self.good[start:start + size]
                yield b"\n".join(chunk), len(chunk)
            return
        cuts = self._newlines[size - 1::size].tolist()  # the newlines after every `size`th line
        for number, (start, stop) in enumerate(zip([0, *(cut + 1 for cut in cuts)], [*cuts, len(self.body)])):
            yield self.body[start:stop], min(size, self.count - number * size)

    @cached_property
    def _newlines(self) -> np.ndarray:
        """The offsets of the body's newlines (NumPy finds them at a few bytes a CPU cycle)."""
        assert self.body is not None
        return np.flatnonzero(np.frombuffer(self.body, np.uint8) == ord("\n"))

    def accept(self, line: str) -> None:
        self.good.append(line.encode())

    def reject(self, line: int, error: str) -> None:
        self.rejected += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(LineError(line, error))


def validate_lines(body: bytes, received_ns: int) -> ValidatedLines:
    """Good lines of `body` (stamped with `received_ns` where they have no timestamp) and the bad ones.
    A byte that is not UTF-8 costs its line, not the batch (such a body is read line by line, without the
    subset)."""
    result = ValidatedLines(join_budget=_JOIN_BYTES_PER_BYTE * len(body) + _JOIN_SLACK)
    stamp = f" {received_ns}".encode()
    subject = body + b"\n" if _is_utf8(body) else None  # every line ends with a newline, the last one too
    known = _known_tag_keys.run() if subject is not None and _lines_within(subject, _MAX_SERIES_KEY) else None
    first = None if subject is None or subject[0] in _NOT_SUBSET_START else _subset_ends(subject, 0, known)
    if first is not None and first[0] == len(subject):  # one run of known tag keys: every line good as it is
        return ValidatedLines(body=body)
    if first is not None and first[0] == len(subject) - 1 and body.endswith(b"\n"):  # and a newline last (Telegraf)
        return ValidatedLines(body=body[:-1])
    # The lines stay bytes: those of a run go on as they are (decoding the body, then joining and encoding each
    # entry's lines again cost 5 % of the API's CPU per line); a line read one by one is decoded then.
    raw = body.split(b"\n")
    index = 0  # the next line's index in `raw`
    offset = offset_index = 0  # the byte offset in `subject` of the line at this index
    one_by_one_until = 0 if subject is not None else len(raw)  # lines before this index are read one by one
    # Lines read one by one after RE2 missed a line or took a short run (which saves less than its RE2 call and
    # series keys cost): doubles at each, back to 1 after a long run, so batches where the subset misses often
    # cost hardly more than reading every line one by one. The line after a run is outside the subset, and so
    # is one starting with `_NOT_SUBSET_START`: read one by one, without asking RE2.
    backoff = 1
    while index < len(raw):
        if subject is not None and index >= one_by_one_until:
            offset, offset_index = offset + _bytes_taken(raw[offset_index:index]), index
            outside = subject[offset] in _NOT_SUBSET_START
            if outside:
                known_end = stamped_end = end = offset
            else:
                known_end, stamped_end, end = first if first and offset == 0 else _subset_ends(subject, offset, known)
                if known is not None and known_end < stamped_end:  # a line the known run has no tag keys for
                    _known_tag_keys.teach(_tag_keys(subject[known_end:subject.index(b" ", known_end)]))
            # (counting newlines reads 3 bytes a ns: 40 ns a line, a quarter of RE2's cost; a run to the end needs none)
            lines = len(raw) - index if end == len(subject) else subject.count(b"\n", offset, end)
            if lines:
                stamped = lines if stamped_end == end else subject.count(b"\n", offset, stamped_end)
                checked = stamped if known_end == stamped_end else subject.count(b"\n", offset, known_end)
                _take_run(raw, index, index + lines, index + stamped, index + checked, result, stamp)
                index = offset_index = index + lines
                offset, backoff = end, 1 if lines >= _LONG_RUN else backoff
                if index == len(raw):
                    break
            if 0 < lines < _LONG_RUN or not lines and subject[offset] not in _NOT_SUBSET_START:
                one_by_one_until, backoff = index + backoff, min(2 * backoff, _MAX_BACKOFF)
        index = _validate_lines(raw, index, max(index + 1, one_by_one_until), result, stamp)
    return result


def _subset_ends(subject: bytes, offset: int, known: _re2.RE2 | None) -> tuple[int, int, int]:
    """Where the longest run of lines from `offset` of the `known` run's pattern ends (`offset` without one), then
    where the longest run of subset lines that each carry a timestamp ends, and where the longest run of subset
    lines ends (each is where the one before ends when the line there is not such a line). Telegraf stamps every
    line, with tag keys seen before: then one RE2 pass tells all three, and no line's timestamp is looked for in
    Python (`_stamped`), nor its series key (`_bad_series_keys`)."""
    known_end = offset if known is None else _run_end(known, subject, offset)
    stamped_end = known_end if known_end == len(subject) else _run_end(_STAMPED_RUN, subject, known_end)
    return known_end, stamped_end, stamped_end if stamped_end == len(subject) else _run_end(_SUBSET_RUN, subject,
                                                                                           stamped_end)


def _run_end(run: _re2.RE2, subject: bytes, offset: int) -> int:
    end = run.Match(_re2.RE2.Anchor.ANCHOR_START, subject, offset, len(subject))[0][1]
    return end if end >= 0 else offset


def _take_run(raw: list[bytes], start: int, stop: int, stamped_stop: int, checked_stop: int,
              result: ValidatedLines, stamp: bytes) -> None:
    """Takes the subset lines `raw[start:stop]` (those before `stamped_stop` known to carry a timestamp, those before
    `checked_stop` to have a good series key), but for those whose series key `parse_line` refuses (tag keys
    repeated, over 65535 bytes): it judges them one by one."""
    run = raw[start:stop]
    bad = _bad_series_keys(run[checked_stop - start:])
    if not bad:
        stamped = stamped_stop - start
        result.good.extend(run if stamped == len(run) else run[:stamped] + _stamped(run[stamped:], stamp))
        return
    for index, line in enumerate(run, start):
        if line.partition(b" ")[0] in bad:
            _validate_lines(raw, index, index + 1, result, stamp)
        else:
            result.good.extend(_stamped([line], stamp))


def _stamped(lines: list[bytes], stamp: bytes) -> list[bytes]:
    """Subset lines, `stamp` appended to those without a timestamp: a subset line has one exactly when its last
    space-separated part is an integer (that of a line without holds a field's `=` or ends a string's `"`)."""
    return [line if line.rpartition(b" ")[2].lstrip(b"-").isdigit() else line + stamp for line in lines]


def _bad_series_keys(lines: list[bytes]) -> set[bytes]:
    """The series keys of these subset lines that `parse_line` refuses (tag keys repeated, over 65535 bytes).
    Each key not known good is parsed once, with a field; the good ones are remembered, and their tag keys taught."""
    unknown, bad = _known_series.unknown({line.partition(b" ")[0] for line in lines}), set()
    for key in unknown:
        try:
            parse_line(key.decode() + " f=0")
        except LineFormatError:
            bad.add(key)
        else:
            _known_tag_keys.teach(_tag_keys(key))
    _known_series.remember(unknown - bad)
    return bad


def _tag_keys(series_key: bytes) -> list[bytes]:
    """The tag keys of a subset line's series key, in its order (`parse_line`'s tags are not): there a backslash
    always escapes a comma or `=`."""
    return [pair.partition(b"=")[0] for pair in _UNESCAPED_COMMA.split(series_key)[1:]]


def _validate_lines(raw: list[bytes], start: int, stop: int, result: ValidatedLines, stamp: bytes) -> int:
    """Judges the lines from `start` to `stop` with `parse_line`, one joined with the next lines when a string
    field spans them (`stop` may lie past the last line); returns the index of the line after the last."""
    index, stop = start, min(stop, len(raw))
    while index < stop:
        line = _decode(raw[index])
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
            joined = _join_string_field(raw, index - 1, result)
            if joined is None:
                result.reject(number, describe(exc, line))
                continue
            line, point, index = joined
        result.good.append(line.encode() if point["time"] is not None else line.encode() + stamp)
    return index


def _bytes_taken(lines: list[bytes]) -> int:
    """The bytes these lines take in the body, each with its newline."""
    return sum(map(len, lines)) + len(lines)


def _lines_within(subject: bytes, limit: int) -> bool:
    """Whether every line of `subject` (which ends with a newline) holds at most `limit` bytes: it does when every
    block of (limit + 1) // 2 bytes holds a newline, since a longer line would hold a whole block. Some 20 `find`s
    for a 5,000-line body, each reading a line at most."""
    block = (limit + 1) // 2
    return all(subject.find(b"\n", start, start + block) >= 0 for start in range(0, len(subject), block))


def _is_utf8(body: bytes) -> bool:
    if body.isascii():  # (most bodies: 0.03 ns a byte, a tenth of decoding)
        return True
    try:
        body.decode()
    except UnicodeDecodeError:
        return False
    return True


def _decode(line: bytes) -> str | UnicodeDecodeError:
    try:
        return line.decode()
    except UnicodeDecodeError as exc:
        return exc


def _join_string_field(raw: list[bytes], start: int, result: ValidatedLines) -> tuple[str, dict, int] | None:
    """A string field may hold raw newlines: while a quote is open, join the following lines (never an
    undecodable one). Returns the joined line, its parse and the index after it; None when no join parses.

    Each step scans only the line it joins for quotes, but `parse_line` reads the whole joined text again, and a
    line may be joined by each of the 63 lines before it when all of them keep a quote open: so the joins of a body
    spend `result.join_budget`, each joined line its bytes and `_JOINED_LINE_BYTES`. Lines joined into a string
    that parses spend the body's bytes once (and the per-line part), so only bodies of many lines that never
    parse run out; past that, a line that does not parse is rejected as it is. Joins then cost a few times what
    reading the same bad lines without quotes costs (tests/webhooks/test_line_protocol.py). CPU for 5 MB: a quote
    left open before 63 lines without one, 0.33 s (was 3.9 s: each step scanned the whole text in Python; 0.15 s
    without the quotes); every line keeping a quote open, 1.4 s (was 66 s a MB; 1.0 s without the quotes)."""
    text = raw[start].decode()
    quotes = _scan_quotes(text, _Quotes())
    for end in range(start + 1, min(len(raw), start + _MAX_JOINED_LINES)):
        following = _decode(raw[end])
        if not quotes.in_string or isinstance(following, UnicodeDecodeError) or result.join_budget <= 0:
            return None
        result.join_budget -= len(raw[end]) + _JOINED_LINE_BYTES
        text += "\n" + following
        quotes = _scan_quotes("\n" + following, quotes)
        line = text.strip(_WHITESPACE)
        try:
            return line, parse_line(line), end + 1
        except LineFormatError:
            continue
    return None


class _Quotes(NamedTuple):
    """Where a scan for string field values stands after some text (`_scan_quotes`)."""
    in_fields: bool = False  # past the series key
    in_string: bool = False  # inside a string field value
    escaped: bool = False  # right after a backslash
    previous: str = ""  # the last character


def _scan_quotes(text: str, quotes: _Quotes) -> _Quotes:
    """Where the scan stands after `text`, from `quotes` (those of the text before). Only a quote right after a
    field's `=` opens a string (names and tag values may hold quotes), and a backslash escapes the next
    character, a quote or a backslash."""
    in_fields, in_string, escaped, previous = quotes
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
    return _Quotes(in_fields, in_string, escaped, previous)


def describe(exc: LineFormatError, line: str) -> str:
    excerpt = line if len(line) <= 80 else line[:77] + "..."
    return f"{str(exc).rstrip('.')} in {excerpt!r}"
