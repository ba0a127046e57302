"""Properties of the syslog receiver's pure parts: framed messages come back whatever the TCP reads cut, any byte
stream gives messages or a FramingError (nothing else), and any datagram becomes storable records."""

from hypothesis import given, settings
from hypothesis import strategies as st

from aiops_contracts.events import LOG_LINE_MAX_CHARS
from aiops_worker.producers.syslog import FramingError, SyslogFramer, to_records

PROPERTIES = settings(max_examples=150, deadline=None, derandomize=True)
MAX_BYTES = 2048

# A syslog message starts with `<PRI>`; its body may hold anything, LF and NUL included (octet counting).
any_message = st.builds(lambda pri, body: b"<%d>%s" % (pri, body), st.integers(0, 191), st.binary(max_size=200))
trailer_message = any_message.filter(lambda m: b"\n" not in m and b"\0" not in m)
cuts = st.lists(st.integers(0, 4096), max_size=6)
# Pieces of streams that look like framing: counts, spaces, trailers, priorities, junk.
framing_pieces = [b"1", b"12", b"9999", b"_", b"a", b" ", b"\n", b"\0", b"<13>", b"x" * 50]


def fed_in_pieces(stream: bytes, at: list[int]) -> list[bytes]:
    framer = SyslogFramer(MAX_BYTES)
    bounds = [0, *sorted(min(cut, len(stream)) for cut in at), len(stream)]
    return [message for start, end in zip(bounds, bounds[1:]) for message in framer.feed(stream[start:end])]


@PROPERTIES
@given(st.lists(any_message, max_size=5), cuts)
def test_octet_counted_messages_come_back_whatever_the_reads(messages: list[bytes], at: list[int]) -> None:
    stream = b"".join(b"%d %s" % (len(m), m) for m in messages)
    assert fed_in_pieces(stream, at) == messages


@PROPERTIES
@given(st.lists(st.tuples(trailer_message, st.sampled_from([b"\n", b"\0"])), max_size=5), cuts)
def test_trailer_framed_messages_come_back_whatever_the_reads(messages: list[tuple[bytes, bytes]], at: list[int]) -> None:
    stream = b"".join(m + trailer for m, trailer in messages)
    assert fed_in_pieces(stream, at) == [m for m, _ in messages if m.strip(b" \r\n\0")]


@PROPERTIES
@given(st.binary(max_size=300) | st.lists(st.sampled_from(framing_pieces), max_size=30).map(b"".join), cuts)
def test_any_byte_stream_gives_messages_or_a_framing_error(stream: bytes, at: list[int]) -> None:
    try:
        messages = fed_in_pieces(stream, at)
    except FramingError:
        return
    assert all(len(m) <= max(MAX_BYTES, len(stream)) for m in messages)


@PROPERTIES
@given(st.binary(max_size=300) | st.builds(bytes.__mul__, st.binary(min_size=1, max_size=8), st.integers(1, 40_000)),
       st.sampled_from(["udp", "tcp"]))
def test_any_datagram_becomes_records_without_nul(data: bytes, transport: str) -> None:
    records = to_records(data, transport, "10.0.0.1")
    assert all("\0" not in r.message and len(r.message) <= LOG_LINE_MAX_CHARS for r in records)
    assert all(r.labels["transport"] == transport for r in records)
