"""Template miner: grouping, generalisation, merges with aliases, persistence."""

import json
import re
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiops_worker.logs.masking import WILDCARD
from aiops_worker.logs.mining import LineTooCostly, MinerConfig, MinerLimits, TemplateMiner
from aiops_worker.logs.similarity import HARD, MATCH, SOFT, compare, covers, generalise_token


def test_first_line_creates_template_with_masked_variables() -> None:
    miner = TemplateMiner()
    result = miner.add("PacketResponder 1 for block blk_123 terminating")
    assert result.is_new and not result.changed
    assert result.template == "PacketResponder <*> for block <*> terminating"


def test_same_event_joins_and_generalises_unmasked_variables() -> None:
    miner = TemplateMiner()
    first = miner.add("Temperature (41C) exceeds warning threshold on rack r17x")
    second = miner.add("Temperature (45C) exceeds warning threshold on rack r22y")
    assert second.template_id == first.template_id
    assert not second.is_new and second.changed
    assert second.template == "Temperature (<*>) exceeds warning threshold on rack <*>"


def test_different_words_stay_different_events() -> None:
    miner = TemplateMiner()
    opened = miner.add("cupsd startup succeeded")
    closed = miner.add("cupsd shutdown succeeded")
    assert opened.template_id != closed.template_id
    assert closed.template == "cupsd shutdown succeeded"


def test_word_slot_becomes_variable_after_enough_siblings() -> None:
    miner = TemplateMiner(MinerConfig(sibling_merge=3))
    ids = [miner.add(f"session opened for user {user} by (uid=0)").template_id
           for user in ("root", "cyrus", "news")]
    assert ids[0] != ids[1]
    assert ids[2] == ids[0]  # the oldest cluster survives the merge
    assert miner.resolve(ids[1]) == ids[0]
    assert set(miner.aliases.values()) == {ids[0]} and ids[1] in miner.aliases
    assert len(miner.aliases) == 2  # the third line's own cluster was merged at once
    assert miner.clusters[ids[0]].template == "session opened for user <*> by (uid=<*>)"
    assert miner.clusters[ids[0]].size == 3
    assert miner.add("session opened for user guest by (uid=0)").template_id == ids[0]


def test_a_handful_of_vocabulary_words_stays_event_types() -> None:
    """Capitalised words in one slot (methods, states) are events; lowercase names there are a variable."""
    miner = TemplateMiner()
    states = {miner.add(f"[unit: {n}] Unit {state} (State Change)").template_id
              for n, state in enumerate(("Launched", "Frozen", "Thawed", "Halted", "Launched"))}
    verbs = {miner.add(f'10.0.0.{n} "{verb} /x HTTP/1.1" status: 200 len: {n}').template_id
             for n, verb in enumerate(("FETCH", "STORE", "PURGE", "FETCH"))}
    users = [miner.add(f"session closed for user {user} by scheduler").template_id for user in ("mira", "tobin", "quill")]
    users = {miner.resolve(cid) for cid in users}
    assert len(states) == 4 and len(verbs) == 3 and len(users) == 1


def test_units_of_different_kinds_and_single_letters_stay_event_types() -> None:
    """Interfaces of several kinds (ee0, alt0) and axes (x+, y+) take a handful of values: events, not variables."""
    miner = TemplateMiner()
    units = [miner.add(f"link up on node {n} via interface {unit}").template_id
             for n, unit in enumerate(("ee0", "alt0", "scip0", "ee0"))]
    axes = [miner.add(f"{n} receiver {axis}+ input pipe error detected").template_id for n, axis in enumerate("xyzx")]
    nodes = [miner.add(f"rack power restored after fault on {node} in room").template_id
             for node in ("node1", "node2", "node3", "node4")]
    assert [len({miner.resolve(i) for i in ids}) for ids in (units, axes, nodes)] == [3, 3, 1]


def test_a_lowercase_value_of_one_key_is_a_variable() -> None:
    miner = TemplateMiner(MinerConfig(sibling_merge=0))  # no sibling merging: the key's value alone decides
    ids = {miner.add(f"authentication failure; rhost=10.0.0.{n} user={user}").template_id
           for n, user in enumerate(("root", "guest"))}
    assert len(ids) == 1
    assert miner.templates() == {ids.pop(): "authentication failure; rhost=<*> user=<*>"}


def test_a_field_of_varying_length_keeps_one_event() -> None:
    miner = TemplateMiner()
    short = miner.add("tool - a.example.de:443 close, 403 bytes sent, lifetime 00:02")
    long = miner.add("tool - b.example.de:443 close, 2048 bytes (2.00 KB) sent, lifetime 00:07")
    assert long.template_id == short.template_id and long.template == short.template and not long.is_new
    listed = [miner.add(f"ask 10.0.0.1:50010 to delete {ids}").template_id
              for ids in ("chunk_1", "chunk_2 chunk_3 chunk_4", "chunk_5 chunk_6")]
    assert len({miner.resolve(i) for i in listed}) == 1
    assert miner.add("tool - a.example.de:443 close, 403 bytes dropped, lifetime 00:02").template_id != short.template_id
    assert len(miner.templates()) == 3
    restored = TemplateMiner.from_state(json.loads(json.dumps(miner.to_state())))
    again = restored.add("tool - c.example.de:443 close, 4096 bytes (4.00 KB) sent, lifetime 00:09")
    assert again.template_id == short.template_id and not again.is_new


def test_template_id_is_stable_hash_of_first_template() -> None:
    a, b = TemplateMiner(), TemplateMiner()
    first = a.add("Receiving block blk_1 src: /10.0.0.1:5 dest: /10.0.0.2:50010")
    b.add("unrelated line")
    assert b.add("Receiving block blk_9 src: /10.0.0.3:7 dest: /10.0.0.4:50010").template_id == first.template_id
    changed = a.add("Receiving block blk_2 src: /10.0.0.9:5 dest: host-7x:50010")
    assert changed.template_id == first.template_id


def test_match_does_not_learn() -> None:
    miner = TemplateMiner()
    assert miner.match("Jetty bound to port 8080") is None
    learned = miner.add("Jetty bound to port 8080")
    found = miner.match("Jetty bound to port 9090")
    assert found is not None and found.template_id == learned.template_id
    assert not found.is_new and not found.changed
    assert miner.clusters[learned.template_id].size == 1


def test_state_round_trip_continues_identically() -> None:
    lines = [f"session {verb} for user {user}" for verb in ("opened", "closed")
             for user in ("root", "cyrus", "news", "alice")]
    lines += [f"worker {i} took {i * 3}ms" for i in range(5)]
    straight = TemplateMiner()
    expected = [straight.add(line) for line in lines]
    first = TemplateMiner()
    got = [first.add(line) for line in lines[:5]]
    restored = TemplateMiner.from_state(json.loads(json.dumps(first.to_state())))
    got += [restored.add(line) for line in lines[5:]]
    assert got == expected
    assert restored.templates() == straight.templates()
    assert restored.aliases == straight.aliases


def test_compare_classifies_token_differences() -> None:
    assert compare("uid=<*>", "uid=0") == MATCH
    assert compare("(<*>)", "()") == MATCH
    assert compare("ee0x12", "alt0x34") == SOFT
    assert compare("opened", "closed") == HARD
    assert compare("(uid=<*>)", "LOGIN(uid=<*>)") == HARD
    assert compare("com.tencent.mm/.Main", "com.android.phone") == SOFT
    assert compare("user=root", "user=guest") == SOFT
    assert compare("tty=NODEVssh", "tty=:0") == compare("rhost=", "rhost=db") == HARD


def test_generalise_token_keeps_shared_structure() -> None:
    assert generalise_token("()", "(uid=<*>)") == "(<*>)"
    assert generalise_token("name=com.a.b", "name=com.c.d") == "name=com.<*>.<*>"
    assert generalise_token("com.apple.<*>.<*>:", "com.apple.daily:") == "com.apple.<*>:"
    assert generalise_token("a,b", "a;b") == "<*>"


def test_empty_and_blank_messages_share_one_cluster() -> None:
    miner = TemplateMiner()
    first = miner.add("")
    assert miner.add("   ").template_id == first.template_id
    assert first.template == ""


# ------------------------------------------------------------------ adversarial lines: bounded work


def test_many_wildcards_in_a_template_token_match_in_linear_time() -> None:
    """A token pattern with 10 wildcards against a 122-byte line of its separators: a backtracking regex
    tries every placement of the 10 parts (minutes); the ordered substring search scans the token once."""
    miner = TemplateMiner()
    miner.add("svc w x y " + ".".join("abcdefghij") + ":")
    learned = miner.add("svc w x y " + ".".join("klmnopqrst") + ":")
    assert learned.template == "svc w x y " + ".".join(["<*>"] * 10) + ":"
    before = replace(miner.work)
    result = miner.add("svc w x y " + "." * 110 + "x")
    assert result.template_id != learned.template_id
    assert miner.work.comparisons - before.comparisons <= 2 * 5 + 2  # a search and a sibling scan of 5 tokens, a pre-check of 2


def test_covers_is_wildcard_matching() -> None:
    assert covers("<*>.<*>:", "a.b:") and covers("<*>.<*>:", ".:") and covers("a<*>", "a")
    assert not covers("<*>.<*>:", "a.b") and not covers("ab<*>ba", "aba")
    assert covers("<*>ab<*>ab<*>", "abab") and not covers("<*>ab<*>ab<*>", "aba")


@given(st.lists(st.sampled_from(["a", "b", ".", WILDCARD]), max_size=8).map("".join),
       st.text(alphabet="ab.", max_size=12))
def test_covers_agrees_with_a_regular_expression(pattern: str, token: str) -> None:
    reference = re.fullmatch(".*".join(re.escape(p) for p in pattern.split(WILDCARD)), token, re.S)
    assert covers(pattern, token) == (reference is not None)


def test_long_tokens_are_variables_and_long_lines_are_cut() -> None:
    miner = TemplateMiner(limits=MinerLimits(max_line_chars=100, max_token_chars=20))
    assert miner.add("upload " + "Zq" * 40 + " done").template == "upload <*> done"
    assert miner.tokenize("word " * 100) == ["word"] * 20


def test_a_line_over_the_comparison_budget_is_refused_before_the_miner_changes() -> None:
    learner = TemplateMiner()
    learner.add("job " + " ".join(str(i) for i in range(40)))
    miner = TemplateMiner.from_state(learner.to_state(), MinerLimits(max_line_comparisons=30))
    with pytest.raises(LineTooCostly, match="over 30 token comparisons"):
        miner.add("job " + " ".join(str(i * 7) for i in range(40)))  # 41 comparisons with the one candidate
    assert miner.to_state() == learner.to_state()
    assert miner.add("job 1 2").is_new  # another shape: within the budget


def test_nul_never_reaches_a_template() -> None:
    miner = TemplateMiner()
    assert "\0" not in miner.add("disk\0 full on sda1").template
    assert "\0" not in json.dumps(miner.to_state())


# Shapes that hurt backtracking matchers and quadratic scans: separators, wildcard-like text, repeated pieces.
_PIECES = st.sampled_from(["a", "b", "1", ".", ":", "-", "_", "/", "=", "<*>", "aa.", "x1", "0x", "@", "(", ")"])
_TOKENS = st.lists(_PIECES, min_size=1, max_size=40).map("".join)
_LINES = st.lists(_TOKENS, min_size=1, max_size=12).map(" ".join)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_LINES, min_size=1, max_size=40))
def test_work_per_line_is_bounded_by_the_caps(lines: list[str]) -> None:
    """Counted, not timed: every line examines at most the capped candidates of its shape (search, sibling and
    cover scans), compares each token once per candidate, and every token it compares is capped."""
    limits = MinerLimits(max_token_chars=64, max_candidates=8)
    miner = TemplateMiner(limits=limits)
    for line in lines:
        tokens = miner.tokenize(line)
        before = replace(miner.work)
        miner.add(line)
        candidates = miner.work.candidates - before.candidates
        assert candidates <= 5 * limits.max_candidates  # search (2 buckets), siblings, cover scan
        assert miner.work.comparisons - before.comparisons <= candidates * len(tokens)
        assert all(len(token) <= limits.max_token_chars for token in tokens)
    for cluster in miner.clusters.values():
        assert all(len(token) <= limits.max_token_chars + 2 for token in cluster.tokens)


# Few words, values and wildcard-like first tokens: lines that join, generalise, merge and split buckets.
_WORDS = st.sampled_from(["open", "close", "user", "root", "job", "Started", "a1", "b2", "x=1", "x=2", "42", "7", "<*>"])
_SHORT_LINES = st.lists(_WORDS, min_size=1, max_size=6).map(" ".join)


@settings(max_examples=80, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_SHORT_LINES, min_size=1, max_size=80), st.integers(1, 6))
def test_remembered_searches_and_lines_give_what_new_ones_give(lines: list[str], max_candidates: int) -> None:
    """A remembered search (updated with the clusters added since) and a remembered message answer as a new
    search of a new tokenisation would, including when few candidates are examined (the oldest drop out)."""
    limits = MinerLimits(max_candidates=max_candidates)
    remembering, forgetting = TemplateMiner(limits=limits), TemplateMiner(limits=limits)

    def forget() -> TemplateMiner:  # every search and message (the compiled miner's methods cannot be replaced)
        forgetting._candidates._searches.clear()
        forgetting._lines.clear()
        return forgetting

    for line in lines:
        assert remembering.add(line) == forget().add(line)
        assert remembering.match(line) == forget().match(line)
    assert remembering.to_state() == forgetting.to_state()


def test_a_cluster_no_longer_among_the_newest_examined_is_not_recalled() -> None:
    miner = TemplateMiner(limits=MinerLimits(max_candidates=1))
    miner.add("disk sda full")
    miner.add("disk sda empty")  # the same bucket: only this newer cluster is examined now
    miner.add("disk sda full")
    assert len(miner.clusters) == 3
