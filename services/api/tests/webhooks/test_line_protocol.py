"""Joining raw lines into a string field that spans them (line_protocol.py): the work stays linear in the body."""

import time

import pytest

from aiops_api.webhooks.line_protocol import validate_lines

RECEIVED_NS = 1_795_000_000_000_000_000


def cpu_seconds(body: bytes) -> float:
    started = time.process_time()
    validate_lines(body, RECEIVED_NS)
    return time.process_time() - started


@pytest.mark.parametrize("unit, size", [
    # a quote opened, then 63 lines without one: each join step read the whole joined text again (0.8 s a MB)
    (b'm f="\n' + (b"x" * 999 + b"\n") * 63, 1_000_000),
    # every line opens a quote that the next one keeps open, so each starts a 63-line join (7 s for 100 KB)
    (b'" m f="x\n', 100_000),
])
def test_strings_left_open_cost_about_what_other_bad_lines_cost(unit: bytes, size: int) -> None:
    body = unit * (size // len(unit))
    baseline = cpu_seconds(body.replace(b'"', b"'"))  # the same bad lines without a quote: nothing to join
    assert cpu_seconds(body) < 5 * baseline + 0.2  # generous: before, 25 and 2000 times the baseline


def test_a_string_field_spanning_lines_is_still_joined_after_bad_lines() -> None:
    broken = b'bad f="never closed\n' * 200  # joins that fail use up no good join
    spanning = b'log,host=a msg="' + b"\n".join(b"line %d" % i for i in range(60)) + b'" 1795000000000000000\n'
    result = validate_lines(broken + spanning + b"cpu idle=1 1795000000000000000", RECEIVED_NS)
    assert (result.rejected, [line.count(b"\n") for line in result.good]) == (200, [59, 0])
