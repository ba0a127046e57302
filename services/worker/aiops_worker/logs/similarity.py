"""Token comparison for the template miner: wildcard cover, soft/hard differences, generalisation.

A template token's ``<*>`` stands for any text. Two tokens differ *softly* when the parts that differ
look like values (digits, wildcards, qualified names, the lowercase value of one key) and *hard* when
they are plain words.
"""

from __future__ import annotations

import re
from functools import lru_cache

from .masking import WILDCARD

_PIECE = re.compile(r"<\*>|[A-Za-z0-9_]+|[^A-Za-z0-9_]")
# Digits, wildcards and qualified names (a.b.c, pkg/Class) mark tokens that vary between events.
_VARIABLE_MARK = re.compile(r"\d\D*\d|<\*>|\w\.\w+\.\w|\w/\w")
_QUALIFIED = re.compile(r"\w\.\w+\.\w")
_NAME = re.compile(r"[a-z0-9_]+")  # a lowercase name or a number (root, cyrus, 42), not a vocabulary word
MATCH, SOFT, HARD = 0, 1, 2


@lru_cache(maxsize=65536)
def looks_variable(token: str) -> bool:
    return _VARIABLE_MARK.search(token) is not None


@lru_cache(maxsize=65536)  # asked of every line's first token: a cached call runs in C
def may_differ_softly(token: str) -> bool:
    """Whether a difference from ``token`` may be soft: it looks variable or assigns a value (``user=root``).
    Any other token differs hard from every token it does not equal, wildcards aside."""
    return looks_variable(token) or "=" in token


@lru_cache(maxsize=65536)
def _wildcard_parts(pattern: str) -> tuple[str, ...]:
    return tuple(pattern.split(WILDCARD))


def covers(pattern: str, token: str) -> bool:
    """Whether ``token`` is ``pattern`` with each ``<*>`` replaced by any text (empty included).

    The fixed parts are searched in order, each leftmost after the previous one, between the first
    part (a prefix) and the last (a suffix): greedy placement is optimal for ``*``-only patterns, and
    every search starts where the previous one ended, so the cost is linear in the token.
    """
    parts = _wildcard_parts(pattern)
    if len(parts) == 1:
        return token == pattern
    first, *middle, last = parts
    end = len(token) - len(last)
    if end < len(first) or not token.startswith(first) or not token.endswith(last):
        return False
    pos = len(first)
    for part in middle:
        found = token.find(part, pos, end)
        if found < 0:
            return False
        pos = found + len(part)
    return True


@lru_cache(maxsize=65536)
def compare(pattern: str, token: str) -> int:
    """MATCH when ``pattern`` (a template token) covers ``token``, else SOFT or HARD."""
    if pattern in (token, WILDCARD):
        return MATCH
    if WILDCARD in pattern and covers(pattern, token):
        return MATCH
    return _difference(pattern, token)


def _difference(pattern: str, token: str) -> int:
    """SOFT when the parts that differ (shared prefix/suffix pieces removed) look like values.

    Values: both differing parts look variable, both tokens are qualified names (``com.foo.Bar``),
    or both are lowercase names or numbers assigned to one key (``user=root``, ``user=guest``: the
    value of a key=value field varies by design; a capitalised value, ``tty=NODEVssh``, stays a
    word of the program's vocabulary). An empty side ("rhost=" vs "rhost=1.2.3.4") is HARD:
    optional fields usually mark a different event.
    """
    variable = looks_variable(pattern) and looks_variable(token)
    if not variable and "=" not in pattern:
        return HARD  # a part of a token looks variable only if the token does (word against word: HARD)
    pa, pb = _PIECE.findall(pattern), _PIECE.findall(token)
    lo, hi = _common_ends(pa, pb)
    middle_a = "".join(pa[lo:len(pa) - hi])
    middle_b = "".join(pb[lo:len(pb) - hi])
    if not middle_a or not middle_b:
        return HARD
    if pa[lo - 1:lo] == ["="] and _NAME.fullmatch(middle_a) and _NAME.fullmatch(middle_b):
        return SOFT
    if not variable:
        return HARD
    if looks_variable(middle_a) and looks_variable(middle_b):
        return SOFT
    if _QUALIFIED.search(pattern) and _QUALIFIED.search(token):
        return SOFT
    return HARD


def _common_ends(pa: list[str], pb: list[str]) -> tuple[int, int]:
    """Lengths of the common prefix and (non-overlapping) common suffix of two piece lists."""
    shortest = min(len(pa), len(pb))
    lo = 0
    while lo < shortest and pa[lo] == pb[lo]:
        lo += 1
    hi = 0
    while hi < shortest - lo and pa[-1 - hi] == pb[-1 - hi]:
        hi += 1
    return lo, hi


def _collapse(pieces: list[str]) -> str:
    out: list[str] = []
    for piece in pieces:
        if not (piece == WILDCARD and out and out[-1] == WILDCARD):
            out.append(piece)
    return "".join(out)


def generalise_token(a: str, b: str) -> str:
    """Smallest token pattern covering both: keeps shared pieces such as ``uid=`` or brackets."""
    if compare(a, b) == MATCH:
        return a
    pa, pb = _PIECE.findall(a), _PIECE.findall(b)
    if len(pa) == len(pb):
        merged = []
        for x, y in zip(pa, pb):
            if x == y:
                merged.append(x)
            elif (x[0].isalnum() or x[0] in "_<") and (y[0].isalnum() or y[0] in "_<"):
                merged.append(WILDCARD)
            else:
                return WILDCARD  # punctuation differs: no shared structure to keep
        return _collapse(merged)
    lo, hi = _common_ends(pa, pb)
    return _collapse(pa[:lo] + [WILDCARD] + pa[len(pa) - hi:])


_WORD = re.compile(r"[A-Za-z]{2,}")
_UNIT = re.compile(r"([A-Za-z]+)\d+")  # a device or unit: a kind and its number (ee0, alt0, sda1)
_OPENERS, _CLOSERS = "([{", ")]}"
_OPENERS_T = tuple(_OPENERS)
_SHORT_GROUP = 3  # tokens of a bracketed aside such as "(1.16 KB)" dropped from a skeleton
_ASSIGNED_VALUE = "=" + WILDCARD  # the plain words after such a token continue its value


def skeleton(tokens: list[str]) -> tuple[str, ...]:
    """The constant words of a template, whatever the number of tokens its variables take.

    A token without a wildcard is kept whole; of a token with one only its words are kept
    (``(uid=<*>)`` -> ``uid``), so ``<*>`` and ``<*>:<*>`` agree. A short bracketed aside holding a
    value (``(<*> KB)``) and a plain word continuing a ``key=<*>`` value (``vendor=<*> Corporation``)
    are dropped: both are parts of a variable that may or may not be there, or span more tokens.
    Only the tokens with a wildcard or an opening bracket are looked at further; the plain words between
    them are kept as slices.
    """
    if WILDCARD not in " ".join(tokens):
        return tuple(tokens)  # no value: no aside to drop, every token kept whole
    out: list[str] = []
    kept = 0  # the tokens before it are taken or dropped
    for index, token in enumerate(tokens):  # compiled (services/worker/setup.py): a plain loop is the fast one
        if index < kept or WILDCARD not in token and not token.startswith(_OPENERS_T):
            continue  # a plain word (kept with the next slice), or dropped: inside an aside or a value
        out += tokens[kept:index]
        kept = index + 1
        if token[:1] in _OPENERS and (end := _aside_end(tokens, index)):
            kept = end
        elif WILDCARD not in token:
            out.append(token)
        elif token != WILDCARD:  # a bare wildcard holds no word
            out += _WORD.findall(token.replace(WILDCARD, " "))
            if token.endswith(_ASSIGNED_VALUE):
                while kept < len(tokens) and "=" not in tokens[kept] and WILDCARD not in tokens[kept]:
                    kept += 1
    out += tokens[kept:]
    return tuple(out)


def _aside_end(tokens: list[str], start: int) -> int:
    """End index of a bracketed aside of at most ``_SHORT_GROUP`` tokens with a wildcard, else 0."""
    opener = tokens[start][:1]
    if opener not in _OPENERS:
        return 0
    closer = _CLOSERS[_OPENERS.index(opener)]
    for end in range(start, min(start + _SHORT_GROUP, len(tokens))):
        if tokens[end].rstrip(",;:.").endswith(closer):
            has_value = any(WILDCARD in t for t in tokens[start:end + 1])
            return end + 1 if has_value and end > start else 0
    return 0


def vocabulary_slot(a: str, b: str) -> bool:
    """Whether two tokens differ by words of a program's vocabulary, not by names.

    Words that take a handful of values by construction name event types: a plain alphabetic word
    with a capital (``GET``, ``Started``, ``willTerminate``: methods, states, actions), a single
    letter (an axis or a flag: ``x+``, ``y+``) and units of different kinds (``ee0``, ``alt0``: the
    interfaces or disks a machine has). Lowercase words, identifiers with underscores, units of one
    kind and parts of dotted names (``root``, ``root_domain``, ``node1``/``node2``, ``com.a.b``,
    ``Tool.exe``) are names.
    """
    pa, pb = _PIECE.findall(a), _PIECE.findall(b)
    lo, hi = _common_ends(pa, pb)
    if "." in pa[lo - 1:lo] or "." in pa[len(pa) - hi:len(pa) - hi + 1]:
        return False  # part of a dotted name: a file or a qualified name
    middle_a, middle_b = "".join(pa[lo:len(pa) - hi]), "".join(pb[lo:len(pb) - hi])
    unit_a, unit_b = _UNIT.fullmatch(middle_a), _UNIT.fullmatch(middle_b)
    if unit_a and unit_b:
        return unit_a.group(1) != unit_b.group(1)
    return any(middle.isalpha() and (len(middle) == 1 or not middle.islower()) for middle in (middle_a, middle_b))
