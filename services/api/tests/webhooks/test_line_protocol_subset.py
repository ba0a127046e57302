"""The subset fast path of `validate_lines` changes nothing: a line it takes is one `parse_line` takes, with a
timestamp exactly when the subset saw one, and any body gives the same lines, errors and count as reading every
line with `parse_line`. Lines are generated from line protocol's parts with its nasty cases drawn often
(escapes, quotes, backslashes, `#`, unicode, huge and odd numbers, NaN and infinity words, empty parts,
repeated tag keys), then mutated character by character (a seeded generator: thousands per run).

Every test starts with no tag keys nor series keys known (`fresh_known_keys`), so none depends on what another taught."""

import random
import sys
from collections.abc import Iterator
from unittest.mock import patch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from line_protocol_parser import LineFormatError, parse_line

from aiops_api.webhooks import line_protocol
from aiops_api.webhooks.line_protocol import validate_lines

RECEIVED_NS = 1_795_000_000_000_000_000
NAME_PIECES = ["cpu", "host", "a", "é", "\u00a0", "\u2028", "\x85", "日本", "#", "\\,", "\\=", "\\ ", "\\", '"',
               '\\"', "\\\\", ",", "=", " ", "\t", "\x7f", "1", "t", "-"]
NUMBERS = ["0", "1", "-1", "1.", ".5", "-.5", "00.5", "1e5", "1E+05", "1e-5", "1e99", "1e308", "1e309", "1e-400",
           "1.5e", "+1", "0x10", "1_0", "nan", "NaN", "inf", "-Inf", "Infinity", "١", "9" * 18, "9" * 19,
           "1" + "0" * 30, "0." + "0" * 29 + "1", "0." + "0" * 31 + "1", "12345678901234567890" * 16,
           "0." + "0" * 320 + "1", "0." + "0" * 300 + "1e-30", "1." + "0" * 400, "9" * 310]
FIELD_VALUES = NUMBERS + [n + "i" for n in NUMBERS] + [n + "u" for n in NUMBERS] + [
    "9223372036854775807i", "9223372036854775808i", "-9223372036854775808i", "18446744073709551615u",
    "18446744073709551616u", "-1u", "t", "T", "true", "True", "TRUE", "tRue", "f", "F", "false", "False", "FALSE",
    "tr", '""', '"a"', '"a b,c=d"', '"a\\"b"', '"a\\\\"', '"a\\\\\\"b"', '"a\\nb"', '"a\\', '"a\tb"', '"a\rb"',
    '"é \u2028"', '"#"', '"', "", '"a"b"']
TIMESTAMPS = ["", " 0", " -0", " 1", " -5", " 00012", " 1795000000000000000", " 8999999999999999999",
              " 9000000000000000000", " 9223372036854775806", " 9223372036854775807", " -9223372036854775806",
              " -9223372036854775807", " 1.5", " +5", " 5 ", "  5", " ١"]
TRICKY_NAMES = ["a\\b", "a\\\\", "a\\", "\\", "a\\ b", "a\\,", "a\\=", "\\,a", 'a"b', '"', 'a\\"', "a=b", "a,b",
                "#a", "é", "\u00a0", "a\tb", ""]
MUTATIONS = list(' ,="\\#\t\r\x00\x7fé\u00a0\u2028\x85.-+eEiutfTFnN0123456789')


@pytest.fixture(autouse=True)
def fresh_known_keys() -> Iterator[line_protocol._KnownTagKeys]:
    """No tag keys nor series keys known; the known-keys pattern rebuilt as soon as a line teaches it something
    (each body then sees what the bodies before it taught)."""
    known = line_protocol._KnownTagKeys(rebuild_every_s=0)
    with (patch.object(line_protocol, "_known_tag_keys", known),
          patch.object(line_protocol, "_known_series", line_protocol._KnownSeries())):
        yield known


def good_lines(result: line_protocol.ValidatedLines) -> list[str]:
    """The good lines as `to_envelopes` gets them, one an entry."""
    return [entry.decode() for entry, _ in result.entries(1)]


def read_alike(fast: line_protocol.ValidatedLines, reference: line_protocol.ValidatedLines) -> bool:
    return ((good_lines(fast), fast.errors, fast.rejected, fast.count)
            == (good_lines(reference), reference.errors, reference.rejected, reference.count))


def subset_takes(line: str) -> tuple[bool, bool]:
    """Whether the subset takes `line` as a good line, and whether it found a timestamp in it (RE2's stamped run
    and the rule `_stamped` applies to lines of a run that is not all stamped agree)."""
    subject = line.encode() + b"\n"
    _, stamped_end, end = line_protocol._subset_ends(subject, 0, None)
    good = end == len(subject) and not line_protocol._bad_series_keys([line.encode()])
    assert not good or (stamped_end == end) == is_stamped(line), line
    return good, stamped_end == end


def is_stamped(line: str) -> bool:
    """Whether `validate_lines` keeps a subset line as it is (it found a timestamp) rather than stamping it."""
    return line_protocol._stamped([line.encode()], b" 5") == [line.encode()]


def one_by_one(body: bytes) -> line_protocol.ValidatedLines:
    """`validate_lines` without the subset: every line read by `parse_line`."""
    with patch.object(line_protocol, "_subset_ends", lambda subject, offset, known: (offset,) * 3):
        return validate_lines(body, RECEIVED_NS)


def random_name(rng: random.Random) -> str:
    return "".join(rng.choice(NAME_PIECES) if rng.random() < 0.2 else rng.choice("abxyz_0")
                   for _ in range(rng.choice([0, 1, 1, 2, 3, 5, 8])))


def random_line(rng: random.Random) -> str:
    tag_keys = [random_name(rng) for _ in range(rng.choice([0, 0, 1, 2, 3, 5]))]
    if len(tag_keys) > 1 and rng.random() < 0.2:
        tag_keys.append(rng.choice(tag_keys))  # a repeated tag key
    tags = "".join(f",{key}={random_name(rng)}" for key in tag_keys)
    fields = ",".join(f"{random_name(rng)}={rng.choice(FIELD_VALUES)}" for _ in range(rng.choice([0, 1, 1, 2, 4])))
    return f"{random_name(rng)}{tags} {fields}{rng.choice(TIMESTAMPS)}"


def telegraf_line(rng: random.Random) -> str:
    """A line as Telegraf writes it (so mostly in the subset), its names now and then a tricky one, for the
    mutations to start from."""

    def name(usual: str) -> str:
        return rng.choice(TRICKY_NAMES) if rng.random() < 0.1 else usual

    tag_keys = sorted(rng.sample(["cpu", "device", "host", "mode", "path"], rng.randint(0, 3)))
    if tag_keys and rng.random() < 0.1:
        tag_keys.append(tag_keys[0])  # a repeated tag key
    tags = "".join(f",{name(key)}={name(rng.choice(['web-01', 'sda1', '/', 'eth0']))}" for key in tag_keys)
    values = ["0", "92.46231155", "-0.5", "12440285184i", "3u", "true", "F", '"ok"', '"C:\\\\temp \\"x\\""', "1e-07"]
    fields = ",".join(f"{name(key)}={rng.choice(values)}" for key in rng.sample(["idle", "used", "n", "msg", "up"], 3))
    return f"{name('cpu')}{tags} {fields}{rng.choice(['', ' 1763924410000000000'])}"


def mutate(rng: random.Random, line: str) -> str:
    for _ in range(rng.choice([0, 1, 1, 2, 3])):
        at = rng.randrange(len(line) + 1)
        action = rng.random()
        if action < 0.4:
            line = line[:at] + rng.choice(MUTATIONS) + line[at:]
        elif action < 0.7:
            line = line[:at] + rng.choice(MUTATIONS) + line[at + 1:]
        else:
            line = line[:at] + line[at + 1:]
    return line


def generated_lines(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    return [mutate(rng, rng.choice([random_line, telegraf_line])(rng)) for _ in range(count)]


def test_a_line_the_subset_takes_is_one_parse_line_takes_with_the_same_timestamp() -> None:
    taken = 0
    for line in generated_lines(seed=18, count=30_000):
        if "\n" in line:
            continue
        good, stamped = subset_takes(line)
        if not good:
            continue
        taken += 1
        try:
            point = parse_line(line)
        except LineFormatError as exc:
            raise AssertionError(f"the subset took {line!r}, parse_line refuses it: {exc}") from exc
        assert (point["time"] is not None) == stamped, line
    assert taken > 3_000  # the subset is no empty set: the comparison means something


def test_any_body_gives_what_reading_each_line_with_parse_line_gives() -> None:
    rng = random.Random(14)
    lines = generated_lines(seed=2026, count=20_000)
    while lines:
        size = rng.choice([1, 2, 5, 30, 200])
        body = "\n".join(lines[:size]) + rng.choice(["", "\n", "\r\n", "\n\n# a comment\n"])
        del lines[:size]
        fast, reference = validate_lines(body.encode(), RECEIVED_NS), one_by_one(body.encode())
        assert read_alike(fast, reference)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(st.sampled_from(generated_lines(seed=7, count=500)) | st.text(max_size=40), max_size=12),
       st.binary(max_size=3))
def test_hypothesis_bodies_read_alike_with_and_without_the_subset(lines: list[str], tail: bytes) -> None:
    body = "\n".join(lines).encode() + tail  # the tail may be an invalid UTF-8 byte: the body is read line by line
    fast, reference = validate_lines(body, RECEIVED_NS), one_by_one(body)
    assert read_alike(fast, reference)


def test_the_series_key_rules_are_parse_lines() -> None:
    long_key = "m,t=" + "v" * 65_532  # 65536 bytes: one too many
    body = "\n".join(["m,a=1,b=2,a=3 x=1 5", "m,a=1,b=2 x=1 5", f"{long_key} x=1", f"{long_key[:-1]} x=1"]).encode()
    fast, reference = validate_lines(body, RECEIVED_NS), one_by_one(body)
    assert read_alike(fast, reference)
    assert [e.line for e in fast.errors] == [1, 3]


def test_telegraf_lines_take_the_subset_whole() -> None:
    lines = [
        "cpu,cpu=cpu-total,host=web-01 usage_idle=93.21608040201005,usage_user=4.271356783919598",
        "mem,host=web-01 available=12440285184i,used_percent=22.471957397460938",
        'procstat,host=web-01,process_name=a\\,b cmdline="/usr/bin/a \\"x\\"",running=true,pid=42u',
    ]
    for timestamp, stamped in (("", False), (" 1763924410000000000", True)):
        subject = "".join(f"{line}{timestamp}\n" for line in lines).encode()
        assert line_protocol._subset_ends(subject, 0, None) == (0, len(subject) if stamped else 0, len(subject))
        assert all(is_stamped(line + timestamp) == stamped for line in lines)


def test_bodies_where_the_subset_misses_often_ask_re2_seldom() -> None:
    """RE2 costs about what `parse_line` costs per call: bodies of every shape ask it for few of their lines
    (misses and short runs back off), and still read as `parse_line` reads them."""
    lines = [f"cpu,host=h{i % 50},cpu=c{i % 8} idle=93.2,n=5i 1763924410{i:09d}" for i in range(4000)]
    shapes = {
        "all good": lines,
        "stamped and not, alternately": [line.rpartition(" ")[0] if i % 2 else line for i, line in enumerate(lines)],
        "stamped, then not, by halves": [line.rpartition(" ")[0] if i % 2000 >= 1000 else line
                                         for i, line in enumerate(lines)],
        "a comment every 3rd": [line if i % 3 else "# c" for i, line in enumerate(lines)],
        "a blank line every 2nd": [line if i % 2 else "" for i, line in enumerate(lines)],
        "`\\r` ending every 3rd": [line if i % 3 else line + "\r" for i, line in enumerate(lines)],
        "a bad line every 3rd": [line if i % 3 else "bad" for i, line in enumerate(lines)],
        "a bad line every 5th": [line if i % 5 else "bad" for i, line in enumerate(lines)],
        "a repeated tag key every 10th": [line if i % 10 else "m,a=1,a=2 x=1" for i, line in enumerate(lines)],
        "all `\\r\\n`": [line + "\r" for line in lines],
    }
    for shape, body_lines in shapes.items():
        body = "\n".join(body_lines).encode()
        with patch.object(line_protocol, "_subset_ends", wraps=line_protocol._subset_ends) as subset_end:
            fast = validate_lines(body, RECEIVED_NS)
        reference = one_by_one(body)
        assert read_alike(fast, reference)
        assert subset_end.call_count <= len(body_lines) / 20, shape


def test_the_known_series_keys_hold_a_bounded_memory() -> None:
    """Keys are remembered by the bytes they hold, in two generations; a long key is not remembered."""
    budget = 100_000
    known = line_protocol._KnownSeries()
    with (patch.object(line_protocol, "_GENERATION_BYTES", budget),
          patch.object(line_protocol, "_known_series", known)):
        for body_number in range(30):
            keys = [f"m,host=h{body_number}-{i}" for i in range(300)]
            keys += [f"m,t={'v' * 2000}{body_number}-{i}" for i in range(5)]  # too long to be remembered
            body = "\n".join(f"{key} x=1" for key in keys).encode()
            assert validate_lines(body, RECEIVED_NS).count == len(keys)
            for generation in (known.newer, known.older):
                assert sum(sys.getsizeof(key) + line_protocol._SET_SLOT_BYTES for key in generation) <= budget
                assert all(len(key) <= line_protocol._MAX_REMEMBERED_KEY for key in generation)
        assert known.older  # the keys did pass a generation's budget
        key = next(iter(known.older))
        validate_lines(key + b" x=1", RECEIVED_NS)
        assert key in known.newer  # a key found in the older generation moves to the newer
        many = "\n".join(f"m,host=x{i} x=1" for i in range(2_000)).encode()  # more keys than a generation holds
        assert validate_lines(many, RECEIVED_NS).count == 2_000
        assert sum(sys.getsizeof(key) + line_protocol._SET_SLOT_BYTES for key in known.newer) <= budget


def test_keys_found_in_the_older_generation_are_known_when_moving_them_starts_a_generation() -> None:
    """Moving them to a full newer generation makes that one the older: they are known all the same (not parsed
    again, nor counted twice)."""
    known = line_protocol._KnownSeries()
    known.older, known.newer, known.newer_bytes = {b"m,host=old"}, {b"m,host=new"}, line_protocol._GENERATION_BYTES
    assert known.unknown({b"m,host=old", b"m,host=other"}) == {b"m,host=other"}
    assert (known.newer, known.older) == ({b"m,host=old"}, {b"m,host=new"})


def test_lines_with_known_tag_keys_need_no_series_key_parsed_and_keep_the_rules(
    fresh_known_keys: line_protocol._KnownTagKeys,
) -> None:
    """Once their tag keys are known, stamped lines take the known-keys run: no series key is looked for, and a
    repeated tag key or a key over 65535 bytes is still refused as `parse_line` refuses it."""
    lines = [f"cpu,cpu=cpu{i % 4},host=h{i} usage_idle=93.2,n=5i 1763924410{i:09d}" for i in range(200)]
    validate_lines("\n".join(lines).encode(), RECEIVED_NS)
    line_protocol._known_tag_keys.run()
    assert fresh_known_keys.order == [b"cpu", b"host"]
    new_hosts = [line.replace(",host=h", ",host=other-h") for line in lines]  # new series keys, known tag keys
    with patch.object(line_protocol, "_bad_series_keys", wraps=line_protocol._bad_series_keys) as series_keys:
        fast = validate_lines("\n".join(new_hosts).encode(), RECEIVED_NS)
    assert good_lines(fast) == new_hosts and fast.body is not None
    assert not series_keys.called
    long_value = "v" * 65_530
    bodies = [
        [*lines[:3], "cpu,cpu=a,host=h,host=h2 x=1 5", "cpu,host=h,cpu=a x=1 5", *lines[3:6]],
        [*lines[:3], f"cpu,cpu=a,host={long_value} x=1 5", f"cpu,cpu=a,host={long_value[:-10]} x=1 5"],
    ]
    for body_lines in bodies:
        body = "\n".join(body_lines).encode()
        fast, reference = validate_lines(body, RECEIVED_NS), one_by_one(body)
        assert read_alike(fast, reference)
    assert [e.line for e in fast.errors] == [4]  # the key of 65536 bytes


def test_the_known_order_agrees_with_the_most_recently_taught_tag_keys() -> None:
    """A new key goes right after the one before it in the sequence that taught it; a sequence going against a more
    recent one is left out, and so are keys past `_MAX_TAG_KEYS`; only plain, short, unique keys teach."""
    known = line_protocol._KnownTagKeys(rebuild_every_s=0)
    for tag_keys in ([b"cpu", b"host"], [b"device", b"fstype", b"host"], [b"cpu", b"mode", b"host"],
                     [b"a\\,b", b"host"], [b"x" * 65], [b"a", b"b", b"a"],  # escaped, too long, repeated: nothing
                     [b"interface"]):
        known.teach(tag_keys)
    known.run()
    assert known.order == [b"device", b"fstype", b"cpu", b"mode", b"host", b"interface"]
    compiles = known.compiles
    known.teach([b"cpu", b"host"])  # the pattern takes it: nothing to rebuild
    known.teach([b"device", b"host", b"interface"])
    assert known.run() is not None and known.compiles == compiles
    known.teach([b"host", b"cpu"])  # against the order: the most recent wins; [cpu, mode, host] and [cpu, host] are left out
    known.run()
    assert known.order == [b"device", b"fstype", b"host", b"interface", b"cpu"]
    assert known.compiles == compiles + 1
    for number in range(200):
        known.teach([b"k%03d" % number])
    known.run()
    assert known.order == sorted(b"k%03d" % number for number in range(72, 200))  # the 128 most recent
    assert known._taught_keys <= line_protocol._MAX_TAUGHT
    assert line_protocol._tag_keys(b"m\\,x\\=1,a=1,b\\,c=2,d=e\\=3") == [b"a", b"b\\,c", b"d"]


def test_telegraf_lines_take_the_known_run_again_after_junk_keys_and_an_order_against_theirs() -> None:
    """Bodies of junk keys (many more than the pattern names) and one teaching `host` before `cpu` hold the known-keys
    pattern only until Telegraf's lines teach their keys again: their series keys are known by then, so the line where
    the known run stops teaches. However many bodies teach, the pattern is rebuilt `_REBUILD_BURST` times at once,
    then once a `_REBUILD_EVERY_S`, at most."""
    now = [0.0]
    known = line_protocol._KnownTagKeys(clock=lambda: now[0])
    lines = [f"cpu,cpu=cpu{i % 4},host=h{i % 10} usage_idle=93.2 1763924410{i:09d}" for i in range(100)]
    junk = ["\n".join(f"junk,k{body:02d}{i:03d}=v x=1 5" for i in range(300)).encode() for body in range(20)]
    with patch.object(line_protocol, "_known_tag_keys", known):

        def taken_whole() -> bool:
            result = validate_lines("\n".join(lines).encode(), RECEIVED_NS)
            assert good_lines(result) == lines
            return result.body is not None

        assert not taken_whole()  # the first rebuild (no keys yet); its keys are taught
        assert taken_whole() and known.order == [b"cpu", b"host"]  # the second
        for body in junk:  # 6,000 junk keys: rebuilt twice more, then no more for now
            validate_lines(body, RECEIVED_NS)
        assert known.compiles == line_protocol._REBUILD_BURST and b"cpu" not in known.order
        validate_lines(b"cpu,host=h0,cpu=cpu0 usage_idle=1 5", RECEIVED_NS)  # `host` before `cpu`
        now[0] += line_protocol._REBUILD_EVERY_S
        assert not taken_whole()  # junk and the other order hold the pattern; Telegraf's lines teach theirs again
        assert len(known.order) == line_protocol._MAX_TAG_KEYS
        assert known.order.index(b"host") < known.order.index(b"cpu")
        assert not taken_whole() and known.compiles == line_protocol._REBUILD_BURST + 1  # not rebuilt yet
        now[0] += line_protocol._REBUILD_EVERY_S
        assert taken_whole() and known.compiles == line_protocol._REBUILD_BURST + 2
        assert known.order.index(b"cpu") < known.order.index(b"host")


def test_a_body_of_good_lines_is_cut_into_entries_at_its_newlines() -> None:
    lines = [f"cpu,cpu=cpu{i % 4},host=h{i} usage_idle=93.2 1763924410{i:09d}" for i in range(2_500)]
    validate_lines("\n".join(lines).encode(), RECEIVED_NS)  # its tag keys become known
    for count in (1, 999, 1_000, 1_001, 2_000, 2_500):
        whole = validate_lines("\n".join(lines[:count]).encode(), RECEIVED_NS)
        assert whole.body is not None and whole.count == count and good_lines(whole) == lines[:count]
        ended = validate_lines("".join(f"{line}\n" for line in lines[:count]).encode(), RECEIVED_NS)  # as Telegraf
        assert ended.body == whole.body
        listed = line_protocol.ValidatedLines(good=[line.encode() for line in lines[:count]])
        for size in (1, 7, 1_000, 5_000):
            assert list(whole.entries(size)) == list(listed.entries(size))
            assert sum(n for _, n in whole.entries(size)) == count
