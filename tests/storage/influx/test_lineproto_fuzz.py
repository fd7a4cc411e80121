"""Property tests of the line-protocol writer: every line it writes is one InfluxDB's parser
takes, and reads back as the sample it was written from.

"What InfluxDB takes" is the grammar of influxdata/line-protocol (line-protocol.ebnf: the
parser of InfluxDB 2.x and 3.x, the strictest of the servers we write to): no control
character (U+0000-U+001F, U+007F) in a measurement, key or tag value, escaped or not; no
empty key or tag value; a measurement may not begin with "#" (the line would be a comment);
floats in decimal or exponent form; integers with an "i"; timestamps in InfluxDB's range
(int64 nanoseconds, so +-9,223,372,036,854 ms). The parser below follows that grammar for
what we write (floats and integers, no strings or booleans).
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from sitewatch.storage.influx.lineproto import (
    QUALITY,
    SUSPECT,
    VALUE,
    escape_measurement,
    escape_tag,
    format_lines,
    series_key,
)
from tests.corpus import corpus_files, fuzz_settings

NONPRINTABLE = re.compile(r"[\x00-\x1f\x7f]")
# key_elem: a regular character or a backslash escape of a character that is not one; the
# measurement likewise, but "=" needs no escape there (and "#" may not begin it).
_KEY = r"(?:[^\x00-\x1f\x7f \\,=]|\\[^\x00-\x1f\x7f\\])+"
_MEASUREMENT = r"(?:[^\x00-\x1f\x7f \\,#]|\\[^\x00-\x1f\x7f\\])(?:[^\x00-\x1f\x7f \\,]|\\[^\x00-\x1f\x7f\\])*"
_FLOAT = r"-?(?:\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)"
_FIELD = rf"{_KEY}=(?:{_FLOAT}|-?\d+i)"
LINE = re.compile(rf"({_MEASUREMENT})((?:,{_KEY}={_KEY})*) ({_FIELD}(?:,{_FIELD})*) (-?\d+)")
MAX_MS = (2**63 - 1) // 1_000_000  # InfluxDB keeps int64 nanoseconds


def unescape(text: str) -> str:
    return re.sub(r"\\([, =])", r"\1", text)


def split_unescaped(text: str, separator: str) -> list[str]:
    return re.split(rf"(?<!\\){re.escape(separator)}", text)


def parse(line: str) -> tuple[str, dict[str, str], dict[str, float | int], int]:
    """One line, as the grammar reads it: (measurement, tags, fields, timestamp in ms)."""
    match = LINE.fullmatch(line)
    assert match, f"not a line InfluxDB parses: {line!r}"
    measurement, tag_text, field_text, stamp = match.groups()
    tags = dict(tuple(unescape(part) for part in split_unescaped(t, "=")) for t in split_unescaped(tag_text, ",")[1:])
    fields: dict[str, float | int] = {}
    for field in split_unescaped(field_text, ","):
        key, value = field.split("=")
        fields[unescape(key)] = int(value[:-1]) if value.endswith("i") else float(value)
    return unescape(measurement), tags, fields, int(stamp)


TEXT = st.text(max_size=20)
TAGS = st.lists(st.tuples(st.sampled_from(["asset", "channel", "site", "unit", "level"]) | TEXT, TEXT), max_size=5,
                unique_by=lambda kv: kv[0])


def refused(text: str) -> bool:
    """What the writer must refuse rather than write a line the servers would misread."""
    return bool(NONPRINTABLE.search(text)) or "\\" in text


def check_series(measurement: str, tags: list[tuple[str, str]]) -> None:
    must_refuse = (not measurement or measurement.startswith("#") or refused(measurement)
                   or any(refused(k) or refused(v) or not k for k, v in tags if v))  # an empty value: no tag
    try:
        key = series_key(measurement, tags)
    except ValueError:
        assert must_refuse, f"refused {measurement!r} {tags!r}, which line protocol carries"
        return
    assert not must_refuse, f"wrote {measurement!r} {tags!r}, which line protocol cannot carry"
    got_measurement, got_tags, _, _ = parse(key + "value=1 0")
    assert got_measurement == measurement
    assert got_tags == {k: v for k, v in tags if v}, "tags come back as given, the empty ones left out"
    assert list(got_tags) == sorted(got_tags), "sorted by key, as the servers index them"


@fuzz_settings(300)
@given(st.one_of(st.just("samples"), TEXT), TAGS)
def test_a_series_key_is_what_the_servers_read_back_or_refused(measurement: str, tags: list[tuple[str, str]]):
    check_series(measurement, tags)


@fuzz_settings(300)
@given(TEXT)
def test_escaping_alone_agrees_with_the_refusals(text: str):
    for escape in (escape_tag, escape_measurement):
        try:
            escaped = escape(text)
        except ValueError:
            continue
        assert not NONPRINTABLE.search(escaped) and "\\\\" not in escaped


VALUES = st.one_of(st.floats(), st.floats(width=32), st.sampled_from([0.0, -0.0, 5e-324, 1e16, 1e-7, 1.7976931348623157e308]))
QUALITIES = st.sampled_from([0, 1, 2, 3])
STAMPS = st.one_of(st.integers(-MAX_MS, MAX_MS), st.integers(0, 253402300799999), st.integers(-(2**63), 2**63 - 1))


@fuzz_settings(300)
@given(st.lists(st.tuples(VALUES, QUALITIES, STAMPS), min_size=1, max_size=30))
@example([(1.0, 0, 253402300799999)])  # 9999-12-31T23:59:59.999Z: a device clock nobody checked
@example([(1.0, 0, -(2**63))])
def test_every_line_reads_back_as_its_sample_or_the_batch_is_refused(rows: list[tuple[float, int, int]]):
    key = series_key("samples", [("asset", "rs-1"), ("channel", "outlet_kpa"), ("unit", "kPa")])
    values, qualities, stamps = (np.array(column) for column in zip(*rows))
    try:
        body = format_lines(np.array([key] * len(rows), dtype=object), values.astype(np.float64),
                            qualities.astype(np.int64), stamps.astype(np.int64))
    except ValueError:
        assert any(not -MAX_MS <= s <= MAX_MS for _, _, s in rows), "refused a batch InfluxDB takes"
        return
    assert all(-MAX_MS <= s <= MAX_MS for _, _, s in rows), "wrote a time InfluxDB cannot hold"
    assert body.endswith("\n") and body.count("\n") == len(rows), "one line a sample, each ended"
    for line, (value, quality, stamp) in zip(body.split("\n"), rows):
        measurement, tags, fields, ts = parse(line)
        assert (measurement, tags, ts, fields[QUALITY]) == (
            "samples", {"asset": "rs-1", "channel": "outlet_kpa", "unit": "kPa"}, stamp, quality)
        if not math.isfinite(value):
            assert fields.keys() == {QUALITY}, "NaN and infinities have no float field"
            continue
        name = VALUE if quality == 0 else SUSPECT
        assert fields.keys() == {name, QUALITY}
        assert fields[name] == value and math.copysign(1, fields[name]) == math.copysign(1, value)


@pytest.mark.parametrize("path", corpus_files("lineproto"), ids=lambda p: p.name)
def test_kept_series(path):
    kept = json.loads(path.read_text(encoding="utf-8"))
    check_series(kept["measurement"], [tuple(tag) for tag in kept["tags"]])
