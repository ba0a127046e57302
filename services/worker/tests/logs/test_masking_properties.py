"""Properties of masking: it only replaces (what it keeps of a message is the message's own text, in order),
never raises, and the miner's fast path `tokens` gives what `mask(...).split()` gives."""

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from aiops_worker.logs.masking import WILDCARD, Masker

PROPERTIES = settings(max_examples=200, deadline=None, derandomize=True)
MASKER = Masker.default()
# Shapes the rules look for, and the characters at their edges, so that pieces glue into near misses.
piece = st.sampled_from([
    "Mon Jan  1 10:00:00", "2024-01-02 03:04:05", "/var/log/x.log", "web-7.example.com", "10.0.0.1:8080", "fe80::1",
    "blk_-12", "0x1f", "deadbeef", "12ms", "true", "42", "-3.5", "vm.vendor=abc", "bob@example.org", "http://h/p?q=1",
    "123e4567-e89b-12d3-a456-426614174000", "00:1a:2b:3c:4d:5e", "<*>", " ", "\t", "-", ".", ":", "/", "=", "_", "a",
    "Z", "é",
])
message = (st.lists(piece | st.text(max_size=8), max_size=12).map(" ".join)
           | st.lists(piece, max_size=12).map("".join) | st.text(max_size=80))


@PROPERTIES
@given(message)
def test_masking_keeps_only_the_messages_own_text_in_order(text: str) -> None:
    kept = re.split(re.escape(WILDCARD), MASKER.mask(text))
    assert re.fullmatch(".*?".join(map(re.escape, kept)), text, re.DOTALL)


def spans(text: str) -> bool:
    """Whether a spanning rule (a timestamp with spaces) matches: `tokens` applies those before the split, and
    what follows a match then sees `>` where `mask` saw the match's last character, so the two may differ when
    a match is glued to the next one (`Mon Jan  1 10:00:00 2024-01-02`)."""
    return MASKER.spanning is not None and MASKER.spanning.search(text) is not None


@PROPERTIES
@given(message)
def test_every_spanning_match_holds_the_screen(text: str) -> None:
    """`tokens` skips the spanning pass for a message without the screen: no match may lack it."""
    assert MASKER.spanning is not None and MASKER.spanning_screen is not None
    for match in MASKER.spanning.finditer(text):
        assert MASKER.spanning_screen.search(match.group())


@PROPERTIES
@given(message)
def test_the_rules_that_need_a_digit_never_match_text_without_one(text: str) -> None:
    """`tokens` scans a shape without a digit with the `digitless` pattern: it must find what the whole one finds."""
    assert MASKER.digitless is not None
    text = re.sub(r"\d", "", text)
    found = [(m.span(), m.lastgroup) for m in MASKER.pattern.finditer(text)]
    assert [(m.span(), m.lastgroup) for m in MASKER.digitless.finditer(text)] == found


@PROPERTIES
@given(message, st.data())
def test_the_narrowed_rules_find_what_every_rule_finds_in_text_of_their_characters(text: str, data) -> None:
    """`tokens` scans a shape holding only some of the rules' characters with a `narrowed` pattern (the rules that
    need no other): it must find what the whole one finds in text without the others."""
    assert MASKER.narrowed
    allowed, with_digit, without_digit = data.draw(st.sampled_from(MASKER.narrowed))
    text = "".join(char for char in text if char in allowed or char not in MASKER.rule_chars)
    found = [(m.span(), m.lastgroup) for m in MASKER.pattern.finditer(text)]
    assert [(m.span(), m.lastgroup) for m in with_digit.finditer(text)] == found
    digitless = re.sub(r"\d", "", text)
    found = [(m.span(), m.lastgroup) for m in MASKER.pattern.finditer(digitless)]
    assert [(m.span(), m.lastgroup) for m in without_digit.finditer(digitless)] == found


@PROPERTIES
@given(message)
def test_tokens_are_the_masked_message_split(text: str) -> None:
    if not spans(text):
        assert MASKER.tokens(text, max_token_chars=1_000) == MASKER.mask(text).split()


@PROPERTIES
@given(message, st.integers(1, 12))
def test_a_token_longer_than_the_limit_is_a_wildcard(text: str, limit: int) -> None:
    if not spans(text):
        tokens = Masker.default().tokens(text, max_token_chars=limit)
        assert len(tokens) == len(text.split())
        assert all(token == WILDCARD for raw, token in zip(text.split(), tokens) if len(raw) > limit)
        assert all(len(token) <= max(limit, len(WILDCARD)) for token in tokens)  # masking lengthens "1" to "<*>"


@PROPERTIES
@given(message, st.lists(st.sampled_from("0123456789"), min_size=1, max_size=40))
def test_tokens_differing_only_in_digits_are_each_masked_as_mask_does(text: str, digits: list[str]) -> None:
    """`tokens` scans a token's shape (its digits written 0) once and reuses the spans for every token of that
    shape: a token whose digits were replaced must still be masked as `mask` masks it."""
    masker = Masker.default()
    other = re.sub(r"[0-9]", lambda m: digits[m.start() % len(digits)], text)
    for variant in (text, other):
        if not spans(variant):
            assert masker.tokens(variant, max_token_chars=1_000) == masker.mask(variant).split()
