"""Properties of the Telegraf parsers: points we encode come back unchanged through `validate_lines`, a JSON
metric is either refused or stored as the very series it named, and no body raises anything but `BadRequest`."""

import contextlib
import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from line_protocol_parser import parse_line

from aiops_api.errors import BadRequest
from aiops_api.webhooks.line_protocol import ValidatedLines, validate_lines
from aiops_api.webhooks.telegraf import TelegrafConfig, json_metrics, parse_telegraf
from aiops_contracts.influx import encode_point

RECEIVED_NS = 1_795_000_000_000_000_000
PROPERTIES = settings(max_examples=150, deadline=None, derandomize=True)


def good_lines(result: ValidatedLines) -> list[str]:
    """The good lines as `to_envelopes` gets them, one an entry."""
    return [entry.decode() for entry, _ in result.entries(1)]

# Any printable text, with line protocol's specials (separators, escapes, quotes, comments) drawn often.
any_name = (st.text(st.sampled_from('a0é,= "\\#'), min_size=1, max_size=8)
            | st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=12))
# What line protocol can carry: a backslash at the end of a name would escape the separator after it (one before
# a special character is read differently by parsers), and a measurement starting with `#` makes the line a
# comment; telegraf.py refuses a JSON metric that would be misread so.
name = any_name.filter(lambda text: not re.search(r"\\(?=[,= ]|$)", text))
measurement = name.filter(lambda text: not text.startswith("#"))
string_value = (st.text(st.sampled_from('a= "\\\n'), max_size=8)
                | st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0\r"), max_size=12))
field_value = st.one_of(
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False, allow_subnormal=False),  # the parser refuses subnormals
    string_value,
)
# InfluxDB's time range: int64 without its two extremes.
timestamp = st.integers(-(2**63) + 2, 2**63 - 2)
point = st.tuples(measurement, st.dictionaries(name, name, max_size=3),
                  st.dictionaries(name, field_value, min_size=1, max_size=3), timestamp)
json_scalar = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1), st.floats(allow_nan=False),
                        st.text(max_size=8))
json_value = st.recursive(json_scalar, lambda inner: st.lists(inner, max_size=3)
                          | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=12)


@PROPERTIES
@given(st.lists(point, min_size=1, max_size=4))
def test_encoded_points_pass_validation_unchanged_and_parse_back(points: list[tuple]) -> None:
    lines = [encode_point(*p) for p in points]  # string fields may hold newlines: a line may span raw lines
    result = validate_lines("\n".join(lines).encode(), RECEIVED_NS)
    assert (good_lines(result), result.rejected) == (lines, 0)
    for line, (name_, tags, fields, time_ns) in zip(good_lines(result), points):
        parsed = parse_line(line)
        assert (parsed["measurement"], parsed["tags"], parsed["fields"], parsed["time"]) == (
            name_, tags, fields, time_ns)


@PROPERTIES
@given(st.binary(max_size=300) | st.text(max_size=200).map(str.encode))
def test_any_body_gives_parsable_stamped_lines_and_counted_errors(body: bytes) -> None:
    result = validate_lines(body, RECEIVED_NS)
    assert result.count + result.rejected <= body.count(b"\n") + 1
    assert len(result.errors) == min(result.rejected, 100)
    for line in good_lines(result):
        assert parse_line(line)["time"] is not None


@PROPERTIES
@given(any_name, st.dictionaries(any_name, any_name, min_size=1, max_size=3),
       st.dictionaries(any_name, st.floats(allow_nan=False, allow_infinity=False, allow_subnormal=False) | string_value,
                       min_size=1, max_size=3))
def test_a_json_metric_is_refused_or_stored_as_the_series_it_names(
    metric_name: str, tags: dict[str, str], fields: dict[str, Any]
) -> None:
    document = {"metrics": [{"name": metric_name, "tags": tags, "fields": fields, "timestamp": 1_795_000_000}]}
    result = json_metrics(document, RECEIVED_NS, frozenset())
    if result.rejected:
        assert result.errors[0].line == 1
        return
    parsed = parse_line(good_lines(result)[0])
    assert (parsed["measurement"], parsed["tags"], parsed["fields"]) == (metric_name, tags, fields)


@PROPERTIES
@given(json_value, st.frozensets(st.text(max_size=6), max_size=2))
def test_any_json_document_is_lines_or_bad_request(document: Any, integer_fields: frozenset[str]) -> None:
    try:
        result = json_metrics(document, RECEIVED_NS, integer_fields)
    except BadRequest:
        return
    for line in good_lines(result):
        assert parse_line(line) is not None


@PROPERTIES
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode),
       st.sampled_from([TelegrafConfig(), TelegrafConfig(data_format="json"), TelegrafConfig(data_format="influx")]))
def test_any_telegraf_body_is_lines_or_bad_request(body: bytes, config: TelegrafConfig) -> None:
    with contextlib.suppress(BadRequest):
        parse_telegraf(body, RECEIVED_NS, config)
