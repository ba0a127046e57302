"""Template miner: grouping, generalisation, merges with aliases, persistence."""

import json
import random
import re
import string
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from aiops_worker.logs import bound
from aiops_worker.logs.masking import WILDCARD
from aiops_worker.logs.mining import LineTooCostly, MinerConfig, MinerLimits, TemplateMiner
from aiops_worker.logs.similarity import HARD, MATCH, SOFT, compare, covers, generalise_token
from aiops_worker.settings import WorkerSettings


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


# ------------------------------------------------------------------ the bound on clusters (least recently used out)
def _garbage(seed: int, n: int) -> list[str]:
    """Lines of random plain words: no masking catches them, no two share a word, each is a template."""
    rng = random.Random(seed)
    return [" ".join("".join(rng.choices(string.ascii_lowercase, k=10)) for _ in range(5)) for _ in range(n)]


def test_unique_lines_keep_the_clusters_and_the_state_at_the_bound() -> None:
    miner = TemplateMiner(limits=MinerLimits(max_clusters=50))
    sizes = []
    for i, line in enumerate(_garbage(1, 3000)):
        miner.add(line)
        assert len(miner.clusters) <= 50
        if i in (999, 2999):
            sizes.append(len(json.dumps(miner.to_state())))
    assert len(miner.clusters) == 50
    assert len(miner.aliases) <= 50
    assert sizes[1] <= sizes[0] * 1.1  # the saved state stops growing too
    assert sum(map(len, miner._by_length.values())) == 50  # the indexes forget the evicted clusters as well


def test_the_most_recently_matched_templates_survive_the_bound() -> None:
    miner = TemplateMiner(limits=MinerLimits(max_clusters=20))
    hot = [miner.add("Jetty bound to port 8000").template_id,
           miner.add("session opened for user root by (uid=0)").template_id]
    cold = miner.add("a line seen once at the start").template_id
    for i, line in enumerate(_garbage(2, 500)):
        miner.add(line)
        if i % 10 == 0:  # matched again now and then: more recently than most of the garbage
            assert miner.add(f"Jetty bound to port {9000 + i}").template_id == hot[0]
            assert miner.add("session opened for user root by (uid=0)").template_id == hot[1]
    assert set(hot) <= set(miner.clusters)
    assert cold not in miner.clusters and cold not in miner.aliases
    # The evicted template comes back under its own id (a hash of its first template): no other one takes it.
    assert miner.add("a line seen once at the start").template_id == cold


def test_an_evicted_id_is_never_given_to_another_template() -> None:
    miner = TemplateMiner(limits=MinerLimits(max_clusters=10))
    template_of: dict[str, str] = {}
    for line in _garbage(3, 300) + _garbage(3, 300):  # every line twice: evicted, then back
        result = miner.add(line)
        assert template_of.setdefault(result.template_id, result.template) == result.template


def test_a_variant_group_is_evicted_whole_and_its_ids_forgotten() -> None:
    miner = TemplateMiner(limits=MinerLimits(max_clusters=5))
    short = miner.add("Uploaded file to bucket in 3 ms")
    long = miner.add("Uploaded file (2.0 KB) to bucket in 3 ms")  # a variant: named by the short one's id
    assert long.template_id == short.template_id and miner.aliases
    for line in _garbage(4, 20):
        miner.add(line)
    assert not miner.aliases and short.template_id not in miner.clusters
    assert miner.resolve(short.template_id) == short.template_id
    evicted = miner.take_evicted()  # what the caller needs of ids it was handed before they went
    assert evicted[short.template_id] == (short.template_id, short.template)
    assert miner.take_evicted() == {}


def test_state_round_trip_keeps_the_recency_of_the_bound() -> None:
    limits = MinerLimits(max_clusters=30)
    lines, tail = _garbage(5, 60), _garbage(6, 25)
    recent = lines[:10]  # the oldest templates, matched again last: the ones the bound keeps longest
    straight = TemplateMiner(limits=limits)
    for line in lines + recent:
        straight.add(line)
    recent_ids = [straight.add(line).template_id for line in recent]
    saved = json.loads(json.dumps(straight.to_state()))
    restored = TemplateMiner.from_state(saved, limits)
    assert restored.templates() == straight.templates()
    for line in tail:  # the same clusters go, in the same order: recency was saved, not only creation order
        assert restored.add(line) == straight.add(line)
        assert set(restored.clusters) == set(straight.clusters)
    assert set(recent_ids[5:]) <= set(straight.clusters) and not set(recent_ids[:5]) & set(straight.clusters)
    # A state saved under a larger bound is cut to a smaller one, least recently used first.
    smaller = TemplateMiner.from_state(saved, MinerLimits(max_clusters=10))
    new = smaller.add(tail[0]).template_id
    assert set(smaller.clusters) == set(recent_ids[1:]) | {new}


def test_the_ids_of_a_hot_group_count_toward_the_bound() -> None:
    """A rarely matched variant of a hot event is forgotten again and again, each time coming back as a new
    cluster (its old id still an alias, the new one takes the next free id): every forgotten member left an
    alias, and aliases grew without end while the live clusters stayed at the bound."""
    miner = TemplateMiner(limits=MinerLimits(max_clusters=5))
    hot = miner.add("Uploaded file (2.0 KB) to bucket in 3 ms").template_id  # the root: the oldest of its group
    garbage = _garbage(7, 1500)
    for i in range(300):
        assert miner.add("Uploaded file to bucket in 3 ms").template_id == hot
        for line in garbage[5 * i:5 * i + 5]:  # the variant's cluster goes, the root stays: matched in between
            miner.add(line)
            miner.add("Uploaded file (2.0 KB) to bucket in 3 ms")
        assert len(miner.clusters) + len(set(miner.aliases) - set(miner.clusters)) <= 5
        assert sum(map(len, miner._members.values())) == len(miner.aliases)
        assert all(miner.resolve(old) in miner.clusters for old in miner.aliases)
    forgotten = miner.take_evicted()
    assert forgotten and all(root == hot for root, _ in forgotten.values() if root in miner.clusters)
    state = miner.to_state()
    assert len(state["clusters"]) + len(set(state["aliases"]) - set(miner.clusters)) <= 5


def test_forgetting_a_merged_id_keeps_the_ids_merged_into_it_resolvable() -> None:
    miner = TemplateMiner(limits=MinerLimits(max_clusters=4))
    for user in ("root", "cyrus", "news"):  # merged into root's: two aliases
        miner.add(f"session opened for user {user} by (uid=0)")
    for line in _garbage(8, 3):
        miner.add(line)
        miner.add("session opened for user root by (uid=0)")  # the group stays hot: its aliases go first
    assert len(miner.clusters) + len(set(miner.aliases) - set(miner.clusters)) <= 4
    assert all(miner.resolve(old) in miner.clusters for old in miner.aliases)


def restored_without_recency(miner: TemplateMiner, max_clusters: int) -> TemplateMiner:
    """The miner's state saved as before the bound (no recency), restored under `max_clusters`."""
    saved = json.loads(json.dumps(miner.to_state()))
    for cluster in saved["clusters"]:
        del cluster["used"]
    return TemplateMiner.from_state(saved, MinerLimits(max_clusters=max_clusters))


def test_a_state_saved_before_the_bound_forgets_its_least_matched_templates_first() -> None:
    """Such a state has no recency: creation order would make the oldest templates, most often the most
    frequent ones, the first to go; the restored clusters go by their match count instead."""
    miner = TemplateMiner()
    frequent = miner.add("Jetty bound to port 8000").template_id  # the oldest, matched the most
    for port in range(8001, 8050):
        miner.add(f"Jetty bound to port {port}")
    rare = [miner.add(line).template_id for line in _garbage(9, 10)]
    restored = restored_without_recency(miner, max_clusters=11)
    new = [restored.add(line).template_id for line in _garbage(10, 5)]
    assert frequent in restored.clusters
    assert set(restored.clusters) == {frequent, *rare[5:], *new}


def test_a_state_saved_before_the_bound_keeps_a_hot_group_whose_root_is_rarely_matched() -> None:
    """A root's match count is its own lines' only: a root matched once whose variant is matched the most would
    go first, its whole group with it. A root goes by its group's count, after its members."""
    miner = TemplateMiner()
    root = miner.add("alpha beta login failed for user 7 7 from gateway").template_id  # matched once
    miner.add("alpha beta login failed for user 7 from gateway")  # announced under its group's root
    variant = TemplateMiner().add("alpha beta login failed for user 7 from gateway").template_id
    for _ in range(49):
        miner.add("alpha beta login failed for user 8 from gateway")
    assert miner.resolve(variant) == root and variant in miner.clusters
    rare = [miner.add(line).template_id for line in _garbage(9, 10)]
    restored = restored_without_recency(miner, max_clusters=12)
    new = [restored.add(line).template_id for line in _garbage(10, 5)]
    assert {root, variant} <= set(restored.clusters)
    assert set(restored.clusters) == {root, variant, *rare[5:], *new}


def test_the_template_bound_setting_stays_within_what_one_line_may_make_the_miner_forget() -> None:
    """One line may forget every id the miner holds (a root takes its whole group): all of them must fit in the
    miner's record of forgotten ids, or the batch could not count that line's lost ids under their survivors."""
    limit = WorkerSettings.model_fields["log_max_templates"].metadata
    assert [m.le for m in limit if hasattr(m, "le")] == [bound._EVICTED_MEMO]
    with pytest.raises(ValidationError):
        WorkerSettings(log_max_templates=bound._EVICTED_MEMO + 1)
