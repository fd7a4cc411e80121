"""Staleness: a device we have not heard from, not an old value."""

from __future__ import annotations

from datetime import datetime, timedelta

from sitewatch.api.views import live_values
from sitewatch.components import build_components
from sitewatch.config.load import config_from_dict
from sitewatch.demo import example_config
from sitewatch.domain.samples import Sample
from sitewatch.domain.time import UTC

NOW = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def test_values_go_stale_when_the_device_goes_silent_not_when_they_are_old(tmp_path):
    raw = example_config()
    raw["storage"] = {"data_dir": str(tmp_path)}
    parts = build_components(config_from_dict(raw))
    try:
        day_old = NOW - timedelta(days=1)
        parts.store.write([Sample("rs-north-01", "door_open", day_old, 0.0, "state"),
                           Sample("ah-north-01", "tamper", day_old, 0.0, "state")])
        parts.health.register("rs-north-01")
        parts.health.record_success("rs-north-01", at=NOW - timedelta(seconds=5))  # polled 5 s ago (interval 5 s)
        values = live_values(parts, ["rs-north-01", "ah-north-01"], now=NOW)
        assert values["rs-north-01"][0].quality == "good", "an event-like value may be old on a live device"
        assert values["ah-north-01"][0].quality == "good", "pushing devices have no poll to miss"
        later = live_values(parts, ["rs-north-01"], now=NOW + timedelta(seconds=16))
        assert later["rs-north-01"][0].quality == "stale", "three poll intervals without an answer"
    finally:
        parts.close()
