"""Template miner's bound (log_max_templates): least recently matched out, forgotten ids, aliases, restore."""

import json
import random
import string

import pytest
from pydantic import ValidationError

from aiops_worker.logs import bound
from aiops_worker.logs.mining import MinerLimits, TemplateMiner
from aiops_worker.settings import WorkerSettings


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
