"""Line protocol for samples: golden lines, escaping, and what cannot be carried."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sitewatch.domain.samples import Quality
from sitewatch.storage.influx.lineproto import format_lines, series_key


def lines(keys: list[str], values: list[float], qualities: list[int], ts_ms: list[int]) -> list[str]:
    body = format_lines(np.array(keys, dtype=object), np.array(values, dtype=np.float64),
                        np.array(qualities, dtype=np.int64), np.array(ts_ms, dtype=np.int64))
    assert body.endswith("\n") or not body, "every line ends with a newline"
    return body.splitlines()


def test_each_quality_gets_its_fields_and_a_missing_value_is_no_field():
    key = series_key("samples", [("asset", "rs-1"), ("channel", "outlet_kpa"), ("site", "north"), ("unit", "kPa")])
    stale, comm, good = int(Quality.STALE), int(Quality.COMM_ERROR), int(Quality.GOOD)
    got = lines([key] * 5, [2.51, 0.38, math.nan, math.inf, 1e-7], [good, stale, comm, good, good],
                [1772323200123, 1772323200123, 1772323201000, 1772323202000, 1772323203000])
    prefix = "samples,asset=rs-1,channel=outlet_kpa,site=north,unit=kPa "
    assert got == [
        prefix + "value=2.51,quality=0i 1772323200123",
        prefix + "suspect=0.38,quality=2i 1772323200123",  # not GOOD but a value: kept apart from good ones
        prefix + "quality=1i 1772323201000",  # NaN: line protocol has none, the field is absent
        prefix + "quality=0i 1772323202000",  # inf likewise: no float field can carry it
        prefix + "value=1e-7,quality=0i 1772323203000",
    ]


def test_floats_are_written_to_the_last_bit():
    rng = np.random.default_rng(3)
    extremes = [5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, -0.0, 0.1 + 0.2, 1e16, 123456789.0, -1e-7]
    values = np.concatenate([rng.normal(2.5, 0.3, 1000), rng.standard_cauchy(1000) * 1e12, extremes])
    got = lines(["m "] * len(values), values.tolist(), [0] * len(values), list(range(len(values))))
    parsed = [float(line.split(" ")[1].split(",")[0].removeprefix("value=")) for line in got]
    assert parsed == values.tolist()
    assert all(math.copysign(1, p) == math.copysign(1, v) for p, v in zip(parsed, values.tolist())), "signs of zero"


def test_tag_values_are_escaped_sorted_and_empty_ones_left_out():
    key = series_key("my samples", [("unit", "m3 / h"), ("asset", "a,b=c"), ("site", ""), ("channel", "温度_c")])
    assert key == r"my\ samples,asset=a\,b\=c,channel=温度_c,unit=m3\ /\ h "


@pytest.mark.parametrize("bad", ["two\nlines", "back\\slash", "cr\r"])
def test_a_tag_line_protocol_cannot_carry_is_refused_naming_it(bad: str):
    with pytest.raises(ValueError, match="newline or a backslash"):
        series_key("samples", [("asset", "rs-1"), ("channel", bad)])


def test_nothing_formats_to_nothing():
    assert format_lines(np.array([], dtype=object), np.array([]), np.array([], dtype=np.int64),
                        np.array([], dtype=np.int64)) == ""
