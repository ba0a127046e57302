"""Template miner: grouping, generalisation, merges with aliases, persistence."""

import json

from aiops_worker.logs.mining import HARD, MATCH, SOFT, MinerConfig, TemplateMiner, compare, generalise_token


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
