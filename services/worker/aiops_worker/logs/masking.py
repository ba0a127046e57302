"""Variable masking: replace obvious variables in a log message with ``<*>``.

All patterns are merged into one alternation and applied in a single ``re.sub``
pass, so the cost is one regex scan per line whatever the number of rules.
Order matters: at a given position the first alternative that matches wins,
so composite shapes (URLs, IP:port, timestamps) come before plain numbers.
Numbers are masked only when they form a whole token segment (not glued to
letters), so identifiers such as ``t761`` or ``e820`` stay constant.

``tokens`` is the miner's fast path: only the rules that can match across a
space run over the whole message; every other rule cannot see past a token,
so it runs per whitespace token with a memo (most tokens repeat), which is
several times faster than scanning every message with the whole alternation.
A token seen for the first time is scanned in its *shape*, its ASCII digits all
written 0: the rules tell digits apart only by class, never by value (the one
literal digit, the 0 of a 0x prefix, is why a token with a digit before an x keeps its digits),
so the spans found in the shape are the token's. Identifiers and addresses that
differ only in their digits (block ids, ports, counters) then cost one scan, and a
shape without a digit is scanned only by the rules that can match one (``DIGIT_RULES``
need a digit: a word or a dotted name skips them), and one without the characters a rule needs
(``RULE_CHARS``: a ``/`` for a path, an ``@`` for an e-mail address) by the rules it may hold, one
of a few subsets compiled with the masker (``RULE_CHAR_CLASSES``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

WILDCARD = "<*>"
PROPERTY = "<*>=<*>"

# A segment boundary: not preceded / followed by a letter, digit or underscore.
_B = r"(?<![A-Za-z0-9_])"
_E = r"(?![A-Za-z0-9_])"
_DAY = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_MON = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_HEX4 = r"[0-9a-fA-F]{1,4}"
# Host names: DNS labels (letters, digits, inner dashes; never an underscore) ending in a top-level
# domain: a generic one or any two-letter country code, except the two-letter extensions of source
# files and libraries (util.py, jquery.min.js, lib.so): those names are files.
_LABEL = r"(?>[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)"
_GTLD = r"(?:com|net|org|edu|gov|mil|int|info|biz|name|pro|io|dev|app|cloud|local|lan|internal|localdomain|arpa)"
_FILE_EXT = r"(?:so|py|js|ts|cc|hh|cs|sh|pl|pm|go|rs|rb|md|gz|xz|db|ko|mm|ui)"
_HOST = _LABEL + r"(?:\." + _LABEL + r")*\.(?:" + _GTLD + r"|(?!" + _FILE_EXT + r"\b)[a-z]{2})"
# A lowercase dotted name is a host when a port follows (proxy.corp:8080), not a key (state.top:180).
_DOTTED_LOWER = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+"

# (name, pattern) in priority order.
MASK_RULES: tuple[tuple[str, str], ...] = (
    ("url", r"(?<![\w+-])[A-Za-z][A-Za-z0-9+-]*://[^\s\"'<>()\[\]{}]*[^\s\"'<>()\[\]{},;:.]"),
    ("email", r"[\w.+-]++@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}" + _E),
    ("timestamp", _DAY + r"\s+" + _MON + r"\s+\d{1,2}\s+\d{1,2}:\d{2}:\d{2}(?:\s+\d{4})?"),
    ("iso_datetime", _B + r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?" + _E),
    ("uuid", _B + r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}" + _E),
    ("ipv4", r"(?<![\w.])/?\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?(?![\w.])"),
    # host:port and fully qualified host names; a host needs a dot or dash and a digit
    # so that "key:value" pairs such as "ContAlloc:12" or "state.top:180" keep their key.
    ("host_port", r"(?<![\w.:/-])(?=(?:[.-]|[^\W\d])*+\d)[A-Za-z0-9]\w*+(?:[.-]\w++)++(?:/[\d.]++)?:\d{2,5}"
                  r"(?![\w.:])"),
    ("fqdn", r"(?<![\w.-])(?:" + _HOST + r")(?::\d{1,5})?(?:/[^\s\"'<>()\[\]{},;]*)?(?![\w-]|\.\w)"),
    ("dotted_host_port", r"(?<![\w.:/-])" + _DOTTED_LOWER + r":\d{2,5}(?![\w.:])"),
    # A dotted lowercase key assigned a value (vm.vendor=..., os.arch=...): a property, key and value
    # both vary; ``mask`` writes it <*>=<*>. Member access (maps.isEmpty=) has capitals and stays.
    ("property", r"(?<![\w.])[a-z][a-z0-9_-]*(?:\.[a-z][a-z0-9_-]*)+=[^\s,;]*"),
    ("ipv6", r"(?<![\w:.])(?:" + _HEX4 + r":){7}" + _HEX4 + r"(?![\w:])"),
    ("ipv6_short", r"(?<![\w:.])(?:" + _HEX4 + r":)*" + _HEX4 + r"?::(?:" + _HEX4 + r":)*" + _HEX4 + r"(?![\w:])"),
    ("mac", _B + r"[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}" + _E),
    ("path", r"(?<![\w.:/<>*])(?:/[\w.@~+$%-]+)+/?(?![\w/])"),
    # Underscore-joined identifiers with a numeric part: blk_-42, job_1445_0020, DFSClient_X_15_1.
    ("underscore_id", _B + r"[A-Za-z][A-Za-z0-9]*+(?:_[A-Za-z0-9]+)*_-?\d+(?:_[A-Za-z0-9]+)*" + _E),
    # Bare hex needs 6+ chars with a digit and a letter (or 8+ chars), so "facade" survives.
    ("hex", _B + r"(?:0[xX][0-9a-fA-F]++|(?=[a-fA-F]*+\d)(?=[0-9]*+[a-fA-F])[0-9a-fA-F]{6,}+"
            r"|[0-9a-fA-F]{8,}+)" + _E),
    ("size_or_duration", _B + r"\d++(?:\.\d++)?(?:ms|us|ns|s|sec|min|h|[KMGT]i?B|[kKMG]|B|bytes)" + _E),
    ("boolean_or_null", _B + r"(?:true|false|TRUE|FALSE|True|False|null|NULL|None|nil)" + _E),
    ("number", _B + r"[-+]?\d+(?:\.\d+)*" + _E),
)
# Rules that never match text without a digit (each needs one: \d in every alternative).
DIGIT_RULES = frozenset({"timestamp", "iso_datetime", "ipv4", "host_port", "dotted_host_port", "underscore_id",
                         "size_or_duration", "number"})
# Characters every match of a rule holds (none listed: it may match without any of the listed ones).
RULE_CHARS: dict[str, str] = {
    "url": ":/", "email": "@", "timestamp": ":", "iso_datetime": "-:", "uuid": "-", "ipv4": ".", "host_port": ":",
    "fqdn": ".", "dotted_host_port": ".:", "property": ".=", "ipv6": ":", "ipv6_short": ":", "mac": ":", "path": "/",
    "underscore_id": "_",
}
# Sets of those characters, narrowest first: a token holding only characters of one of them (of those listed) is
# scanned by the rules that need no other (a plain word by neither url nor email...); any other by every rule.
RULE_CHAR_CLASSES = ("", ":", "-._=")
# Rules whose matches may contain white space (the others never match across a token boundary).
SPANNING_RULES = frozenset({"timestamp", "iso_datetime"})
# Text every match of a spanning rule holds (a time of day with its seconds, after the space or the T before
# it): a message without it skips the spanning pass, which a plain search for this literal-led pattern decides
# several times faster (a clock time alone, a MAC address or a duration "00:01:30" skip it too).
SPANNING_SCREEN = r":\d\d:\d\d(?:(?<=[\sT]\d:\d\d:\d\d)|(?<=[\sT]\d\d:\d\d:\d\d))"
_MEMO_LIMIT = 200_000  # distinct tokens remembered before the memo starts afresh
# A table of every Latin-1 character (a dict with only the digits would make each other character a failed lookup).
_DIGITS_TO_ZERO = "".join("0" if char in "123456789" else char for char in map(chr, range(256)))
_NONZERO_BEFORE_X = re.compile(r"[1-9][xX]")  # written 0 it would read as a 0x prefix
_DIGIT = re.compile(r"\d")


@dataclass(frozen=True)
class Masker:
    """Compiled masking rules; ``mask`` returns the message with variables as ``<*>``."""

    pattern: re.Pattern[str]
    spanning: re.Pattern[str] | None = None
    spanning_screen: re.Pattern[str] | None = None  # None: every message takes the spanning pass
    digitless: re.Pattern[str] | None = None  # the rules a token without a digit may match (None: all)
    # (characters, the rules needing none other, those without a digit): for a token holding no other rule character
    narrowed: tuple[tuple[frozenset[str], re.Pattern[str], re.Pattern[str]], ...] = ()
    rule_chars: frozenset[str] = frozenset()  # the characters of ``narrowed``'s rules
    _memos: dict[int, _TokenMemo] = field(default_factory=dict, compare=False, repr=False)  # by max_token_chars
    _shapes: dict[str, tuple[str | None, tuple[tuple[int, int, str], ...]]] = field(
        default_factory=dict, compare=False, repr=False)

    @classmethod
    def default(cls) -> Masker:
        return cls.from_rules(MASK_RULES, SPANNING_RULES, SPANNING_SCREEN, DIGIT_RULES, RULE_CHARS, RULE_CHAR_CLASSES)

    @classmethod
    def from_rules(cls, rules: tuple[tuple[str, str], ...], spanning: frozenset[str] = frozenset(),
                   spanning_screen: str | None = None, digit_rules: frozenset[str] = frozenset(),
                   rule_chars: dict[str, str] | None = None, char_classes: tuple[str, ...] = ()) -> Masker:
        spanning_rules = tuple(rule for rule in rules if rule[0] in spanning)
        digitless_rules = tuple(rule for rule in rules if rule[0] not in digit_rules)
        rule_chars = rule_chars or {}
        narrowed = []
        for chars in char_classes:
            kept = tuple(rule for rule in rules if set(rule_chars.get(rule[0], "")) <= set(chars))
            digitless_kept = tuple(rule for rule in kept if rule[0] not in digit_rules)
            if digitless_kept:  # an empty alternation would match everywhere: such a class takes a wider one
                narrowed.append((frozenset(chars), _compile(kept), _compile(digitless_kept)))
        return cls(_compile(rules), _compile(spanning_rules) if spanning_rules else None,
                   re.compile(spanning_screen) if spanning_screen else None,
                   _compile(digitless_rules) if digit_rules and digitless_rules else None,
                   tuple(narrowed), frozenset("".join(rule_chars.values())))

    def mask(self, message: str) -> str:
        return self.pattern.sub(_replacement, message)

    def tokens(self, message: str, max_token_chars: int) -> list[str]:
        """The masked message split on white space (what ``mask(message).split()`` gives, faster).

        A token longer than ``max_token_chars`` (a blob, a key, a packed list), before or after masking,
        is a variable as a whole; one longer before is neither scanned by the rules nor remembered.
        """
        if self.spanning is not None and (self.spanning_screen is None or self.spanning_screen.search(message)):
            message = self.spanning.sub(WILDCARD, message)
        memo = self._memos.get(max_token_chars)
        if memo is None or len(memo) > _MEMO_LIMIT:
            memo = self._memos[max_token_chars] = _TokenMemo(self._mask_token, max_token_chars)
        return list(map(memo.__getitem__, message.split()))  # most tokens were seen before: one lookup each, in C

    def _mask_token(self, token: str) -> str:
        """``mask(token)``, the rules run once per shape (the token with its digits written 0).

        A shape is remembered masked (None: the rules leave it as it is, so they leave the token too), with
        the spans they replaced when a 0 is left outside them: the token's masking is then the masked shape
        with those digits put back. Most often no 0 is left (a number or an address is replaced whole): the
        masked shape is every token's of that shape.
        """
        shape = token.translate(_DIGITS_TO_ZERO)
        # Searched only when a digit was written 0 before an x.
        if shape != token and ("0x" in shape or "0X" in shape) and _NONZERO_BEFORE_X.search(token):
            shape = token
        known = self._shapes.get(shape)
        if known is None:
            known = self._scan(shape)
        masked, edits = known
        if masked is None:
            return token
        if not edits or token == shape:
            return masked
        pieces: list[str] = []
        pos = 0
        for start, end, text in edits:
            pieces += (token[pos:start], text)
            pos = end
        pieces.append(token[pos:])
        return "".join(pieces)

    def _scan(self, shape: str) -> tuple[str | None, tuple[tuple[int, int, str], ...]]:
        """The masked shape (None: unchanged) and the spans replaced when a 0 is left outside them; remembered."""
        if len(self._shapes) > _MEMO_LIMIT:
            self._shapes.clear()
        pattern = self._pattern(shape)
        masked = pattern.sub(_replacement, shape)
        edits: tuple[tuple[int, int, str], ...] = ()
        if masked != shape and "0" in masked:
            edits = tuple((m.start(), m.end(), _replacement(m)) for m in pattern.finditer(shape))
        known = self._shapes[shape] = (None if masked == shape else masked, edits)
        return known

    def _pattern(self, shape: str) -> re.Pattern[str]:
        """The narrowest compiled subset of the rules that finds every match in ``shape``."""
        # A 0 is a digit, a word of letters holds none: no search.
        digit = "0" in shape or not shape.isalpha() and _DIGIT.search(shape) is not None
        if self.narrowed:
            chars = self.rule_chars.intersection(shape)
            for allowed, with_digit, without_digit in self.narrowed:
                if chars <= allowed:
                    return with_digit if digit else without_digit
        return self.pattern if self.digitless is None or digit else self.digitless


class _TokenMemo(dict[str, str]):
    """The masked text of every token seen, for one ``max_token_chars``: a token not seen yet is masked
    when it is looked up (``__missing__``), so a line of known tokens costs no Python call."""

    def __init__(self, mask_token: Callable[[str], str], max_token_chars: int) -> None:
        super().__init__()
        self.mask_token = mask_token
        self.max_token_chars = max_token_chars

    def __missing__(self, token: str) -> str:
        if len(token) > self.max_token_chars:
            return WILDCARD
        masked = self.mask_token(token)
        if len(masked) > self.max_token_chars:  # masking lengthened it ("1" -> "<*>")
            masked = WILDCARD
        self[token] = masked
        return masked


_OWN_REPLACEMENT = "property"  # the one rule whose match is not replaced by a plain wildcard


def _replacement(match: re.Match[str]) -> str:
    return PROPERTY if match.lastgroup == _OWN_REPLACEMENT else WILDCARD


def _compile(rules: tuple[tuple[str, str], ...]) -> re.Pattern[str]:
    # Every rule starts at a segment boundary; saying so once up front lets the regex
    # engine skip positions inside words, which is most of the scan time. A rule's own
    # leading boundary then repeats that test at the same position: it is left out.
    # Only the rule with its own replacement is a (named) group: the engine marks a group's
    # position at every attempt of its branch, a sixth of the scan time with every rule named.
    joined = "|".join(f"(?P<{name}>{pattern.removeprefix(_B)})" if name == _OWN_REPLACEMENT
                      else f"(?:{pattern.removeprefix(_B)})" for name, pattern in rules)
    return re.compile(f"{_B}(?:{joined})")
