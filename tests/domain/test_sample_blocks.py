"""SampleBlock and SampleList: the columnar forms of samples stand for the Samples they hold."""

from __future__ import annotations

import math
from datetime import datetime

import pytest

from sitewatch.domain.samples import Quality, Sample, SampleBlock, SampleList, items_of
from sitewatch.domain.time import UTC

T0 = datetime(2026, 12, 3, 18, 30, tzinfo=UTC)
GOOD, ERR = Quality.GOOD, Quality.COMM_ERROR


def block(asset_id: str = "rs-1", values: list[float] | None = None,
          qualities: tuple[Quality, ...] = (GOOD, GOOD)) -> SampleBlock:
    return SampleBlock(asset_id, T0, ("inlet_mpa", "outlet_kpa"), values or [0.4, 2.5], ("MPa", "kPa"), qualities)


def test_a_block_is_the_sequence_of_its_samples():
    b = block(values=[0.4, math.nan], qualities=(GOOD, ERR))
    expected = [Sample("rs-1", "inlet_mpa", T0, 0.4, "MPa", GOOD), Sample("rs-1", "outlet_kpa", T0, b.values[1], "kPa", ERR)]
    assert len(b) == 2
    assert list(b) == [b[0], b[1]] and b[0] == expected[0]
    assert b[-1].quality is ERR and math.isnan(b[-1].value) and not b[-1].is_good
    assert b[1:] == [b[1]]
    assert b == block(values=[0.4, b.values[1]], qualities=(GOOD, ERR))
    assert b != block()


def test_a_sample_list_keeps_blocks_whole_and_reads_as_samples_in_order():
    loose = Sample("ah-1", "zone_1_alarm", T0, 1.0, "state")
    listed = SampleList([block("rs-1"), loose, block("rs-2")])
    assert list(items_of(listed)) == [listed.items[0], loose, listed.items[2]]
    assert len(listed) == 5 and bool(listed)
    assert [(s.asset_id, s.channel) for s in listed] == [
        ("rs-1", "inlet_mpa"), ("rs-1", "outlet_kpa"), ("ah-1", "zone_1_alarm"), ("rs-2", "inlet_mpa"),
        ("rs-2", "outlet_kpa")]
    assert listed[2] == loose and listed[-1].asset_id == "rs-2"
    assert not SampleList([]) and len(SampleList([])) == 0


def test_items_of_plain_samples_are_the_samples():
    plain = [Sample("rs-1", "outlet_kpa", T0, 2.5, "kPa")]
    assert items_of(plain) is plain


def test_an_index_past_the_end_raises():
    with pytest.raises(IndexError):
        block()[2]
