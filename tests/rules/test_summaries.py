"""Every kind of summary the engine composes: stored in English as before, shown in English
and in Chinese from its message (i18n/messages.py)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from sitewatch import i18n
from sitewatch.domain.samples import Sample
from sitewatch.domain.time import UTC
from sitewatch.i18n.messages import Message, StateValue, Unit, channel_label
from sitewatch.rules.engine import AssetChannels, RulesEngine
from sitewatch.rules.flapping import FlapGuard
from sitewatch.rules.models import (
    BaselineRule,
    CompositeRule,
    FlatlineRule,
    NightCreepRule,
    NoDataRule,
    RateOfChangeRule,
    StateRule,
    ThresholdRule,
)

T0 = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)
UNITS = {"outlet_kpa": "kPa", "gas_lel_pct": "%LEL", "flow_nm3h": "Nm3/h", "slam_shut_closed": "state",
         "door_open": "state", "temperature_c": "degC"}
SETTINGS = {"set_point_kpa": 2.5, "lock_up_kpa": 2.75, "relief_kpa": 3.0, "slam_shut_kpa": 3.5}


def series(channel: str, values: list[float], *, every_s: float = 1.0) -> list[tuple[float, dict]]:
    return [(i * every_s, {channel: v}) for i, v in enumerate(values)]


# (rule, polls as (second, {channel: value}), flapping guard or None, [(English, Chinese) per transition]).
# {outlet_kpa} ... stand for the channels' labels and {nm3h}, {degc} for units, in the language shown.
CASES = {
    "threshold relative, with duration": (
        ThresholdRule(kind="threshold", id="over-lock-up", channel="outlet_kpa", direction="above",
                      relative_to="lock_up_kpa", level=0.05, clear_level=-0.1, for_s=5),
        series("outlet_kpa", [2.9] * 7 + [2.6]), None, [
            ("rs: {outlet_kpa} 2.900 kPa above 2.8 kPa (lock-up pressure 2.75 +0.05 kPa) for 5 s",
             "rs：{outlet_kpa} 2.900 kPa，高于 2.8 kPa（关闭压力 2.75 +0.05 kPa），持续 5 秒"),
            ("rs: {outlet_kpa} 2.600 kPa back below 2.65 kPa", "rs：{outlet_kpa} 2.600 kPa，已回落到 2.65 kPa 以下"),
        ]),
    "threshold with a critical stage": (
        ThresholdRule(kind="threshold", id="gas", channel="gas_lel_pct", direction="above", level=20, clear_level=10,
                      critical_level=50, severity="warning"),
        series("gas_lel_pct", [25, 55, 5]), None, [
            ("rs: {gas_lel_pct} 25.000 %LEL above 20 %LEL", "rs：{gas_lel_pct} 25.000 %LEL，高于 20 %LEL"),
            ("rs: {gas_lel_pct} 55.000 %LEL above critical level 50 %LEL",
             "rs：{gas_lel_pct} 55.000 %LEL，高于严重报警值 50 %LEL"),
            ("rs: {gas_lel_pct} 5.000 %LEL back below 10 %LEL", "rs：{gas_lel_pct} 5.000 %LEL，已回落到 10 %LEL 以下"),
        ]),
    "threshold below, hysteresis, minutes": (
        ThresholdRule(kind="threshold", id="outlet-low", channel="outlet_kpa", direction="below", level=1.8,
                      clear_level=2.0, for_s=600),
        series("outlet_kpa", [1.5, 1.5, 1.9, 2.1], every_s=600), None, [
            ("rs: {outlet_kpa} 1.500 kPa below 1.8 kPa for 10 min", "rs：{outlet_kpa} 1.500 kPa，低于 1.8 kPa，持续 10 分钟"),
            ("rs: {outlet_kpa} 2.100 kPa back above 2 kPa", "rs：{outlet_kpa} 2.100 kPa，已回升到 2 kPa 以上"),
        ]),
    "slam-shut trip, labelled in the config": (
        StateRule(kind="state", id="slam", channel="slam_shut_closed", alarm_values=(1,),
                  labels={"1": "tripped (closed): no gas downstream", "0": "open"}),
        series("slam_shut_closed", [1, 0]), None, [
            ("rs: {slam_shut_closed}: tripped (closed): no gas downstream", "rs：{slam_shut_closed}：已切断（关闭）：下游无气"),
            ("rs: {slam_shut_closed}: open again", "rs：{slam_shut_closed}：已恢复打开"),
        ]),
    "state without labels": (
        StateRule(kind="state", id="door", channel="door_open", alarm_values=(1,), for_s=30),
        series("door_open", [1, 1, 0], every_s=30), None, [
            ("rs: {door_open}: {door_1} for 30 s", "rs：{door_open}：{door_1}，持续 30 秒"),
            ("rs: {door_open}: {door_0} again", "rs：{door_open}：已恢复{door_0}"),
        ]),
    "no data": (
        NoDataRule(kind="no_data", id="no-data", channel="outlet_kpa", after_s=30),
        [(0, {"outlet_kpa": 2.5}), (40, {}), (50, {"outlet_kpa": 2.5})], None, [
            ("rs: no {outlet_kpa} data for more than 30 s", "rs：{outlet_kpa} 超过 30 秒 无数据"),
            ("rs: {outlet_kpa} data again", "rs：{outlet_kpa} 数据已恢复"),
        ]),
    "rate of change": (
        RateOfChangeRule(kind="rate_of_change", id="falling", channel="outlet_kpa", direction="falling", per_min=30,
                         window_s=2),
        series("outlet_kpa", [2.5] * 4 + [0.5] * 6), None, [
            ("rs: {outlet_kpa} falling 60.0 kPa/min (limit 30 kPa/min), now 0.5 kPa",
             "rs：{outlet_kpa} 下降速率 60.0 kPa/分钟（限值 30 kPa/分钟），当前 0.5 kPa"),
            ("rs: {outlet_kpa} no longer falling fast (0.0 kPa/min, clears below 15 kPa/min), now 0.5 kPa",
             "rs：{outlet_kpa} 已不再快速下降（0.0 kPa/分钟，低于 15 kPa/分钟即解除），当前 0.5 kPa"),
        ]),
    "stuck sensor": (
        FlatlineRule(kind="flatline", id="stuck", channel="outlet_kpa", tolerance=0.001, for_s=300),
        series("outlet_kpa", [2.4] * 7 + [2.5], every_s=60), None, [
            ("rs: {outlet_kpa} stuck at 2.4 kPa (within ±0.001 kPa) for 5 min: sensor or transmitter frozen?",
             "rs：{outlet_kpa} 停在 2.4 kPa 不变（波动不超过 ±0.001 kPa）已 5 分钟：传感器或变送器冻结？"),
            ("rs: {outlet_kpa} moving again (2.5 kPa)", "rs：{outlet_kpa} 已恢复变化（2.5 kPa）"),
        ]),
    "baseline": (
        BaselineRule(kind="baseline", id="temperature", channel="temperature_c", min_deviation=2, min_samples=5),
        series("temperature_c", [10, 10.5, 9.5, 10, 10.2, 10, 20, 10]), None, [
            ("rs: {temperature_c} 20 {degc}, usually 10.033 {degc} at this hour (more than 4 sigma and 2 {degc} off)",
             "rs：{temperature_c} 20 {degc}，该时段通常为 10.033 {degc}（偏离超过 4 倍标准差且超过 2 {degc}）"),
            ("rs: {temperature_c} 10 {degc} back within its usual range", "rs：{temperature_c} 10 {degc}，已回到正常范围"),
        ]),
    "composite": (
        CompositeRule(kind="composite", id="downstream-burst", mode="all", for_s=5, conditions=[
            {"channel": "outlet_kpa", "op": "<", "value": -1.0, "relative_to": "set_point_kpa"},
            {"channel": "flow_nm3h", "op": ">", "value": 400}]),
        [(0, {"outlet_kpa": 0.7, "flow_nm3h": 900}), (6, {"outlet_kpa": 0.7}), (8, {"flow_nm3h": 300})], None, [
            ("rs: downstream-burst: {outlet_kpa} 0.7 kPa (< 1.5) and {flow_nm3h} 900 {nm3h} (> 400) for 5 s",
             "rs：downstream-burst：{outlet_kpa} 0.7 kPa（< 1.5），且{flow_nm3h} 900 {nm3h}（> 400），持续 5 秒"),
            ("rs: downstream-burst over: {outlet_kpa} 0.7 kPa (< 1.5), {flow_nm3h} 300 {nm3h} (> 400)",
             "rs：downstream-burst 已结束：{outlet_kpa} 0.7 kPa（< 1.5），{flow_nm3h} 300 {nm3h}（> 400）"),
        ]),
    "night creep": (
        NightCreepRule(kind="night_creep", id="night-creep", low_flow=200, rise=0.1, for_s=60, settle_s=0, gap_s=120),
        [(0, {"flow_nm3h": 100, "outlet_kpa": 2.0}), (30, {"outlet_kpa": 2.2}), (91, {"outlet_kpa": 2.2}),
         (100, {"flow_nm3h": 300})], None, [
            (("rs: {outlet_kpa} crept up 0.200 kPa (limit 0.1 kPa) to 2.2 kPa at low flow ({flow_nm3h} 100 {nm3h} "
              "< 200) for 1 min: regulator not locking up"),
             ("rs：低流量时（{flow_nm3h} 100 {nm3h} < 200）{outlet_kpa} 爬升 0.200 kPa（限值 0.1 kPa）至 2.2 kPa，"
              "持续 1 分钟：调压器未能关闭")),
            ("rs: {outlet_kpa} holding again (2.2 kPa, {flow_nm3h} 300 {nm3h})",
             "rs：{outlet_kpa} 已恢复稳定（2.2 kPa，{flow_nm3h} 300 {nm3h}）"),
        ]),
    "flapping": (
        ThresholdRule(kind="threshold", id="outlet-high", channel="outlet_kpa", direction="above", level=2.9),
        series("outlet_kpa", [3, 2, 3, 2]), FlapGuard(transitions=4, window_s=600), [
            ("rs: {outlet_kpa} 3.000 kPa above 2.9 kPa", "rs：{outlet_kpa} 3.000 kPa，高于 2.9 kPa"),
            ("rs: {outlet_kpa} 2.000 kPa back below 2.9 kPa", "rs：{outlet_kpa} 2.000 kPa，已回落到 2.9 kPa 以下"),
            ("rs: {outlet_kpa} 3.000 kPa above 2.9 kPa", "rs：{outlet_kpa} 3.000 kPa，高于 2.9 kPa"),
            ("rs: {outlet_kpa} flapping (4 changes within 10 min)", "rs：{outlet_kpa} 状态频繁变化（10 分钟内变化 4 次）"),
        ]),
}


def transitions(rule, polls, flapping):
    engine = RulesEngine(rules=[rule], assets=[AssetChannels("rs", "regulator_station", UNITS, settings=SETTINGS,
                                                             time_zone="Asia/Shanghai")],
                         started_at=T0, flapping=flapping)
    out = []
    for second, values in polls:
        at = T0 + timedelta(seconds=second)
        out += engine.evaluate(engine.batch([Sample("rs", c, at, v, UNITS[c]) for c, v in values.items()]), now=at)
    return out


def names() -> dict[str, str]:
    """The labels the expected texts name, in the current locale."""
    return {**{c: channel_label(c) for c in UNITS}, "nm3h": Unit("Nm3/h").render(), "degc": Unit("degC").render(),
            "door_1": StateValue("door_open", 1).render(), "door_0": StateValue("door_open", 0).render()}


def in_chinese_but_ids_units_and_numbers(text: str) -> bool:
    rest = re.sub(r"\brs\b|downstream-burst|kPa|%LEL|Nm³/h|°C|[-+±]?\d+(\.\d+)?", "", text)
    return re.search(r"[\u4e00-\u9fff]", text) is not None and re.search(r"[A-Za-z]", rest) is None


@pytest.mark.parametrize("kind", list(CASES))
def test_each_summary_is_stored_in_english_and_shown_in_the_readers_language(kind):
    rule, polls, flapping, expected = CASES[kind]
    out = transitions(rule, polls, flapping)
    assert len(out) == len(expected), [t.summary for t in out]
    for t, (english, chinese) in zip(out, expected, strict=True):
        message = t.summary_msg
        assert message.text() == t.summary, "the stored English is the message's English"
        assert Message.from_json(message.to_json()) == message, "kept as JSON, read back the same"
        with i18n.using("en"):
            assert message.render() == english.format(**names())
        with i18n.using("zh_CN"):
            shown = message.render()
            assert shown == chinese.format(**names())
        assert in_chinese_but_ids_units_and_numbers(shown), shown


def test_the_stored_english_is_the_text_it_always_was():
    """Logs, search and older rows read the English: ids, not labels; spans in seconds."""
    out = transitions(*CASES["threshold below, hysteresis, minutes"][:3])
    assert out[0].summary == "rs: outlet_kpa 1.500 kPa below 1.8 kPa for 600 s"
    out = transitions(*CASES["threshold relative, with duration"][:3])
    assert out[0].summary == "rs: outlet_kpa 2.900 kPa above 2.8 kPa (lock_up_kpa 2.75 +0.05 kPa) for 5 s"
    out = transitions(*CASES["state without labels"][:3])
    assert [t.summary for t in out] == ["rs: door_open: 1 for 30 s", "rs: door_open: 0 again"]
