"""The pure review of one station: flags from given aggregates and given field readings."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta

from sitewatch.config.models import Asset, ChannelLimits, FieldCheckSettings, ReviewSettings
from sitewatch.domain.samples import ChannelStats
from sitewatch.domain.time import UTC
from sitewatch.review.compute import FieldReading, ScadaSample, StationInputs, review_station
from sitewatch.review.models import FlagKind, Verdict
from sitewatch.review.schedule import Window

WINDOW = Window(date(2026, 11, 27), datetime(2026, 11, 26, 0, 30, tzinfo=UTC), datetime(2026, 11, 27, 0, 30, tzinfo=UTC))
SETTINGS = ReviewSettings()
UNITS = {"outlet_kpa": "kPa", "inlet_mpa": "MPa"}


def asset(**limits: ChannelLimits) -> Asset:
    return Asset(id="rs-1", site="north", name="North 1", poll_interval_s=60.0, limits=limits,
                 modbus={"host": "127.0.0.1", "port": 502, "profile": "p"})


def stats(channel: str, count: int = 1440, lo: float = 2.4, hi: float = 2.6, mean: float = 2.5) -> ChannelStats:
    return ChannelStats("rs-1", channel, UNITS[channel], count, lo, hi, mean, mean, WINDOW.end - timedelta(minutes=1))


def review(inputs_asset: Asset | None = None, *, settings: ReviewSettings = SETTINGS,  # noqa: ANN201
           field_check: FieldCheckSettings = FieldCheckSettings(), **kw):
    given = {"stats": [stats("outlet_kpa"), stats("inlet_mpa", lo=0.29, hi=0.31, mean=0.3)]} | kw
    return review_station(StationInputs(asset=inputs_asset or asset(), channel_units=UNITS, **given),
                          window=WINDOW, settings=settings, field_check=field_check)


def test_a_full_quiet_day_is_normal_with_its_numbers():
    r = review()
    assert r.verdict is Verdict.NORMAL and r.flags == ()
    outlet = {c.channel: c for c in r.channels}["outlet_kpa"]
    assert (outlet.samples_good, outlet.samples_expected, outlet.completeness_ratio) == (1440, 1440, 1.0)
    assert (outlet.min, outlet.max, outlet.mean, outlet.unit) == (2.4, 2.6, 2.5, "kPa")


def test_completeness_at_the_threshold_passes_and_just_under_it_is_flagged():
    at = review(stats=[stats("outlet_kpa", count=1368), stats("inlet_mpa")])  # 1368 / 1440 = 95.0 %
    under = review(stats=[stats("outlet_kpa", count=1367), stats("inlet_mpa")])
    assert at.verdict is Verdict.NORMAL
    assert [(f.kind, f.channel) for f in under.flags] == [(FlagKind.LOW_COMPLETENESS, "outlet_kpa")]


def test_a_channel_with_no_good_sample_is_incomplete_and_has_no_numbers():
    nothing = ChannelStats("rs-1", "inlet_mpa", "MPa", 0, math.nan, math.nan, math.nan, math.nan, None)
    r = review(stats=[stats("outlet_kpa"), nothing])
    inlet = {c.channel: c for c in r.channels}["inlet_mpa"]
    assert (inlet.min, inlet.mean, inlet.last, inlet.last_at, inlet.completeness_ratio) == (None, None, None, None, 0.0)
    assert r.verdict is Verdict.ABNORMAL
    missing = review(stats=[stats("outlet_kpa")])  # the profile's channel never reported at all
    assert {c.channel for c in missing.channels} == {"outlet_kpa", "inlet_mpa"} and missing.verdict is Verdict.ABNORMAL


def test_outside_the_assets_own_limits_is_flagged_inside_is_not():
    limited = asset(outlet_kpa=ChannelLimits(high=2.9, low=1.8))
    assert review(limited).verdict is Verdict.NORMAL
    high = review(limited, stats=[stats("outlet_kpa", hi=2.95), stats("inlet_mpa")])
    low = review(limited, stats=[stats("outlet_kpa", lo=1.7), stats("inlet_mpa")])
    assert [f.kind for f in high.flags] == [FlagKind.OUTSIDE_LIMITS] and "above the high limit 2.9 kPa" in high.flags[0].detail
    assert [f.kind for f in low.flags] == [FlagKind.OUTSIDE_LIMITS] and "below the low limit 1.8 kPa" in low.flags[0].detail
    assert review(stats=[stats("outlet_kpa", hi=9.0), stats("inlet_mpa")]).verdict is Verdict.NORMAL, "no limits, no flag"


def test_scada_disagreeing_with_the_field_reading_is_flagged_with_both_values():
    taken = WINDOW.end - timedelta(hours=4)
    reading = FieldReading(taken, {"outlet_kpa": 2.85, "inlet_mpa": 0.3})
    scada = {"outlet_kpa": ScadaSample(taken, 2.5), "inlet_mpa": ScadaSample(taken, 0.301)}
    r = review(field_reading=reading, scada_near_reading=scada)
    assert [(f.kind, f.channel) for f in r.flags] == [(FlagKind.FIELD_DISAGREES, "outlet_kpa")]
    assert "SCADA 2.5 kPa vs field reading 2.85 kPa" in r.flags[0].detail
    by_channel = {c.channel: c for c in r.field_readings}
    assert by_channel["inlet_mpa"].agrees is True and by_channel["outlet_kpa"].agrees is False


def test_a_channels_absolute_tolerance_overrides_the_fraction():
    taken = WINDOW.end - timedelta(hours=4)
    reading = FieldReading(taken, {"outlet_kpa": 2.5})
    scada = {"outlet_kpa": ScadaSample(taken, 2.56)}  # 2.4 % off: within 5 %, not within 0.05 kPa
    by_share = FieldCheckSettings(tolerance_by_channel={})
    assert review(field_reading=reading, scada_near_reading=scada, field_check=by_share).verdict is Verdict.NORMAL
    strict = FieldCheckSettings(tolerance_by_channel={"outlet_kpa": 0.05})
    assert review(field_reading=reading, scada_near_reading=scada, field_check=strict).verdict is Verdict.ABNORMAL


def test_no_scada_sample_near_the_reading_is_shown_but_not_flagged():
    reading = FieldReading(WINDOW.end - timedelta(hours=4), {"outlet_kpa": 2.85})
    r = review(field_reading=reading)
    assert r.verdict is Verdict.NORMAL
    assert [(c.channel, c.scada_value, c.agrees) for c in r.field_readings] == [("outlet_kpa", None, None)]
