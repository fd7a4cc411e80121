"""Channel labels and values as people read them, in zh-CN and English."""

from __future__ import annotations

import math
import re

import pytest

from sitewatch import i18n
from sitewatch.collector.onvif.config import OnvifEndpoint
from sitewatch.collector.onvif.poller import camera_channels
from sitewatch.components import asset_channels
from sitewatch.config.load import config_from_dict
from sitewatch.demo import example_config
from sitewatch.i18n.labels import label, picture_verdict, show, states, unit_text

_CJK = re.compile(r"[\u4e00-\u9fff]")


def produced_channels() -> dict[str, str]:
    """Every channel the example config's assets can report (with its unit), and a camera's
    with snapshots and events on: the example has no camera, the demo does."""
    config = config_from_dict(example_config())
    out: dict[str, str] = {}
    for asset in asset_channels(config):
        out |= dict(asset.channels)
    return out | camera_channels(OnvifEndpoint(host="cam", credential="c", snapshot=True, events=True))


def test_the_example_produces_the_channels_of_every_collector():
    channels = produced_channels()
    assert {"outlet_kpa", "slam_shut_closed", "zone_08_alarm", "online", "picture_laplacian_var",
            "video_loss"} <= set(channels)


@pytest.mark.parametrize("channel", sorted(produced_channels()))
def test_every_produced_channel_has_a_label_translated_into_chinese(channel):
    with i18n.using("en"):
        english = label(channel)
    with i18n.using("zh_CN"):
        chinese = label(channel)
    assert english != channel and "_" not in english, f"{channel} has no label of its own"
    assert chinese != english and _CJK.search(chinese), f"{channel}: {english!r} has no zh-CN translation"


@pytest.mark.parametrize("channel", sorted(c for c, unit in produced_channels().items() if unit == "state"))
def test_every_state_reads_as_a_word_in_both_languages(channel):
    for locale in ("en", "zh_CN"):
        with i18n.using(locale):
            off, on = show(channel, 0.0, "state"), show(channel, 1.0, "state")
        assert off != on and not any(c.isdigit() for c in off + on), (channel, locale, off, on)
        if locale == "zh_CN":
            assert _CJK.search(off) and _CJK.search(on), (channel, off, on)


@pytest.mark.parametrize(("channel", "value", "unit", "english", "chinese"), [
    ("outlet_kpa", 2.4871935, "kPa", "2.49 kPa", "2.49 kPa"),
    ("inlet_mpa", 0.38123, "MPa", "0.381 MPa", "0.381 MPa"),
    ("flow_nm3h", 1234.56, "Nm3/h", "1,234.6 Nm³/h", "1,234.6 Nm³/h"),
    ("temperature_c", 12.34, "degC", "12.3 °C", "12.3 °C"),
    ("gas_lel_pct", 20.04, "%LEL", "20.0 %LEL", "20.0 %LEL"),
    ("battery_v", 13.456, "V", "13.46 V", "13.46 V"),
    ("door_open", 1.0, "state", "Open", "打开"),
    ("door_open", 0.0, "state", "Closed", "关闭"),
    ("mains_ok", 0.0, "state", "Power off", "停电"),
    ("mains_ok", 1.0, "state", "Power on", "有电"),
    ("slam_shut_closed", 1.0, "state", "Tripped (closed)", "已切断（关闭）"),
    ("slam_shut_closed", 0.0, "state", "Open", "打开"),
    ("picture_ok", 1.0, "state", "Sharp", "清晰"),
    ("picture_laplacian_var", 790.227, "score", "790", "790"),
    ("clock_offset_s", -2.04, "s", "-2.0 s", "-2.0 s"),
    ("clock_offset_s", 31.0, "s", "+31.0 s", "+31.0 s"),
    ("clock_offset_s", -0.04, "s", "+0.0 s", "+0.0 s"),
    ("outlet_kpa", -0.001, "kPa", "0.00 kPa", "0.00 kPa"),
    ("uptime_s", 3 * 86400 + 4 * 3600 + 59, "s", "3 d 4 h", "3 天 4 小时"),
    ("uptime_s", 2 * 3600 + 5 * 60, "s", "2 h 5 min", "2 小时 5 分"),
    ("zone_03_alarm", 1.0, "state", "Alarm", "报警"),
    ("outlet_kpa", math.nan, "kPa", "—", "—"),
    ("outlet_kpa", None, "kPa", "—", "—"),
])
def test_values_are_shown_with_their_units_digits_and_words(channel, value, unit, english, chinese):
    with i18n.using("en"):
        assert show(channel, value, unit) == english
    with i18n.using("zh_CN"):
        assert show(channel, value, unit) == chinese


def test_zones_are_named_with_their_number():
    with i18n.using("zh_CN"):
        assert label("zone_03_alarm") == "防区 3 报警" and label("zone_12_fault") == "防区 12 故障"
    with i18n.using("en"):
        assert label("zone_03_alarm") == "Zone 3 alarm"


def test_unknown_channels_and_units_fall_back_to_what_the_device_said():
    with i18n.using("zh_CN"):
        assert label("valve_7_position") == "valve_7_position"
        assert show("valve_7_position", 12.34567, "mm") == "12.346 mm"
        assert show("valve_7_closed", 1.0, "state") == "是", "an unknown state still reads as a word"
    assert unit_text("Nm3/h") == "Nm³/h" and unit_text("score") == "" and unit_text("state") == ""


def test_state_words_for_a_chart_axis():
    with i18n.using("en"):
        assert states("relief_open", "state") == {0: "Closed", 1: "Venting"}
        assert states("outlet_kpa", "kPa") is None


@pytest.mark.parametrize(("values", "english", "chinese"), [
    ({"picture_ok": 1.0, "picture_black": 0.0, "picture_frozen": 0.0, "picture_defocus": 0.0}, "Sharp", "清晰"),
    ({"picture_ok": 0.0, "picture_black": 0.0, "picture_defocus": 1.0}, "Blurred", "模糊"),
    ({"picture_ok": 0.0, "picture_black": 1.0}, "Black", "黑屏"),
    ({"picture_ok": 0.0, "picture_uniform": 1.0}, "Covered", "遮挡"),
    ({"picture_ok": 0.0, "picture_frozen": 1.0}, "Frozen", "冻结"),
])
def test_the_picture_verdict_is_one_word(values, english, chinese):
    with i18n.using("en"):
        assert picture_verdict(values) == english
    with i18n.using("zh_CN"):
        assert picture_verdict(values) == chinese


def test_no_snapshot_judged_no_verdict():
    assert picture_verdict({"reachable": 1.0}) is None
