"""GET /api/assets/{id}/trend: bucketed points per range, limits, alert periods, scope."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pytest

from tests.api.asset_fleet import (
    CAMERA,
    HISTORY,
    HOST,
    NOW,
    OTHERS,
    SOUTH_TECHNICIAN,
    STATION,
    bearer,
    fleet,
    outlet,
)

# range -> (span, bucket width in s)
RANGES = {"hour": (timedelta(hours=1), 10), "day": (timedelta(days=1), 240), "week": (timedelta(days=7), 1800),
          "month": (timedelta(days=30), 7200)}


@pytest.fixture
async def site(tmp_path, monkeypatch):
    async with fleet(tmp_path, monkeypatch) as f:
        yield f


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.mark.parametrize("name", list(RANGES))
async def test_each_range_gives_a_few_hundred_buckets_of_the_samples(site, name):
    span, width = RANGES[name]
    answer = await site.client.get(f"/api/assets/{STATION}/trend", params={"channel": "outlet_kpa", "range": name})
    assert answer.status_code == 200, answer.text
    trend = answer.json()
    assert trend["bucket_s"] == width and at(trend["end"]) == NOW
    start = at(trend["start"])
    assert NOW - span - timedelta(seconds=width) < start <= NOW - span, "the span, from a multiple of the width"
    assert start.timestamp() % width == 0, "the same buckets at every reload"
    points = trend["points"]
    assert 300 <= len(points) <= 600
    times = [at(p["ts"]) for p in points]
    assert times == sorted(times) and all((t - start).total_seconds() % width == 0 for t in times)
    # The newest bucket is in the 5 s stretch: as many samples as 5 s go into its width.
    assert points[-1]["count"] == width // 5
    drift = 0.1 * 2 * math.pi / 86400 * width  # kPa: how far the daily swing moves within a bucket
    for p in points:
        assert p["min"] <= p["mean"] <= p["max"] <= p["min"] + drift
        assert outlet(at(p["ts"])) == pytest.approx(p["min"], abs=drift) == pytest.approx(p["max"], abs=drift)
    assert trend["unit"] == "kPa" and trend["digits"] == 2 and trend["states"] is None
    assert trend["time_zone"] == "Asia/Shanghai"


async def test_an_hour_has_two_samples_in_each_ten_second_bucket(site):
    trend = (await site.client.get(f"/api/assets/{STATION}/trend",
                                   params={"channel": "outlet_kpa", "range": "hour"})).json()
    assert len(trend["points"]) == 360
    assert {p["count"] for p in trend["points"]} == {2}


async def test_limits_are_the_levels_the_rules_judge_and_the_regulator_settings(site):
    trend = (await site.client.get(f"/api/assets/{STATION}/trend", params={"channel": "outlet_kpa"},
                                   headers={"Accept-Language": "en"})).json()
    assert trend["range"] == "day", "a day when no range is asked for"
    limits = [(x["value"], x["kind"], x["label"]) for x in trend["limits"]]
    assert limits == [
        (1.8, "alarm", "Alarm below"),  # the asset's own low limit, before the rule's level
        (2.5, "setting", "Set point"),
        (2.75, "setting", "Lock-up"),
        (2.9, "alarm", "Alarm above"),  # the asset's own high limit
        (3.0, "setting", "Relief"),
        (3.5, "alarm", "Alarm above (Slam-shut +0)"),  # outlet-at-slam-shut: relative to the setting
        (3.5, "setting", "Slam-shut"),
    ]
    gas = (await site.client.get(f"/api/assets/{STATION}/trend", params={"channel": "gas_lel_pct"},
                                 headers={"Accept-Language": "zh-CN"})).json()
    assert [(x["value"], x["kind"]) for x in gas["limits"]] == [(20.0, "alarm"), (50.0, "critical")]
    assert gas["label"] == "燃气浓度" and gas["limits"][0]["label"] != "Alarm above"


async def test_alert_periods_in_the_range_from_firing_to_resolved(site):
    def periods(range_):
        return site.client.get(f"/api/assets/{STATION}/trend", params={"channel": "outlet_kpa", "range": range_})

    day = (await periods("day")).json()["alerts"]
    assert [(a["channel"], a["severity"], at(a["start"]), a["end"] and at(a["end"])) for a in day] == [
        ("outlet_kpa", "critical", NOW - timedelta(hours=3), NOW - timedelta(minutes=150)),
        ("door_open", "warning", NOW - timedelta(minutes=10), None),  # still firing
    ]
    hour = (await periods("hour")).json()["alerts"]
    assert [a["channel"] for a in hour] == ["door_open"], "the outlet alert ended before the hour began"
    assert day[0]["ticket_id"] is not None


async def test_state_channels_come_with_their_words(site):
    trend = (await site.client.get(f"/api/assets/{HOST}/trend", params={"channel": "zone_03_alarm", "range": "hour"},
                                   headers={"Accept-Language": "en"})).json()
    assert trend["label"] == "Zone 3 alarm" and trend["states"] == {"0": "Normal", "1": "Alarm"}
    assert [p["max"] for p in trend["points"]] == [1.0]
    camera = (await site.client.get(f"/api/assets/{CAMERA}/trend",
                                    params={"channel": "picture_laplacian_var", "range": "hour"})).json()
    assert camera["unit_text"] == "" and camera["points"][0]["mean"] == pytest.approx(790.227)


async def test_bad_range_unknown_channel_and_unknown_asset(site):
    bad = await site.client.get(f"/api/assets/{STATION}/trend", params={"channel": "outlet_kpa", "range": "year"})
    assert bad.status_code == 422
    assert (await site.client.get(f"/api/assets/{STATION}/trend", params={"channel": "nope"})).status_code == 404
    assert (await site.client.get("/api/assets/nope/trend", params={"channel": "outlet_kpa"})).status_code == 404
    assert (await site.client.get(f"/api/assets/{STATION}/trend")).status_code == 422, "a channel is needed"


async def test_another_customers_asset_is_not_found(site):
    own = await site.client.get(f"/api/assets/{OTHERS}/trend", params={"channel": "outlet_kpa"})
    assert own.status_code == 200, "an unscoped technician sees every customer"
    site.client.headers.update(bearer(SOUTH_TECHNICIAN))
    theirs = await site.client.get(f"/api/assets/{OTHERS}/trend", params={"channel": "outlet_kpa"})
    assert theirs.status_code == 200
    ours = await site.client.get(f"/api/assets/{STATION}/trend", params={"channel": "outlet_kpa"})
    unknown = await site.client.get("/api/assets/rs-nowhere/trend", params={"channel": "outlet_kpa"})
    assert ours.status_code == unknown.status_code == 404
    assert "rs-north-01" in ours.json()["detail"] and ours.json()["detail"].replace(STATION, "rs-nowhere") == \
        unknown.json()["detail"], "the same answer as for an asset that does not exist"


async def test_the_day_and_month_are_drawn_from_the_rollups_once_raw_samples_are_gone(site):
    async def points(range_):
        answer = await site.client.get(f"/api/assets/{STATION}/trend", params={"channel": "outlet_kpa", "range": range_})
        assert answer.status_code == 200, answer.text
        return answer.json()["points"]

    from_raw = {name: await points(name) for name in ("day", "week", "month")}
    site.parts.store.roll_up(start=NOW - HISTORY, end=NOW)
    # Every raw sample before now deleted: only the rollups can draw these charts now.
    site.parts.store.expire(raw_before=NOW, minute_before=NOW - HISTORY, hour_before=NOW - HISTORY)
    assert await points("hour") == [], "the hour is drawn from raw samples, and there are none left"
    for name, want in from_raw.items():
        got = await points(name)
        assert [(p["ts"], p["count"], p["min"], p["max"]) for p in got] == \
            [(p["ts"], p["count"], p["min"], p["max"]) for p in want], f"{name}: not the chart raw samples drew"
        assert [p["mean"] for p in got] == pytest.approx([p["mean"] for p in want], rel=1e-9), name
