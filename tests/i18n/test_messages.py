"""Messages kept as msgid + parameters and rendered in the reader's language (i18n/messages.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from sitewatch import i18n
from sitewatch.i18n import check
from sitewatch.i18n.messages import AND, Joined, Label, Message, Seconds, render

CATALOGUES = Path(i18n.__file__).parent / "locales" / "zh_CN" / "LC_MESSAGES"
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


@pytest.mark.parametrize(("seconds", "english", "chinese"), [
    (10, "10 s", "10 秒"), (90, "90 s", "90 秒"), (300, "5 min", "5 分钟"), (7200, "2 h", "2 小时"),
])
def test_a_span_reads_in_the_largest_whole_unit(seconds, english, chinese):
    span = Seconds(seconds)
    assert span.text() == f"{seconds} s", "the stored English keeps seconds"
    with i18n.using("en"):
        assert span.render() == english
    with i18n.using("zh_CN"):
        assert span.render() == chinese


def test_a_config_label_is_translated_when_a_catalogue_has_it_and_kept_as_written_otherwise():
    with i18n.using("zh_CN"):
        assert Label("venting to atmosphere").render() == "正在向大气放散"
        assert Label("Ventil offen").render() == "Ventil offen"


def test_nested_messages_and_lists_render_each_part_in_the_locale():
    condition = Message.of(i18n.lazy("%(asset)s: %(channel)s data again"), asset="rs", channel="x")
    both = Message.of(i18n.lazy("%(asset)s: %(rule)s over: %(conditions)s"), asset="rs", rule="r",
                      conditions=Joined((condition, condition), AND))
    assert both.text() == "rs: r over: rs: x data again and rs: x data again"
    with i18n.using("zh_CN"):
        assert both.render() == "rs：r 已结束：rs：x 数据已恢复，且rs：x 数据已恢复"
    assert Message.from_json(both.to_json()) == both


def test_an_old_row_or_an_unreadable_message_shows_the_stored_text():
    assert render(None, "rs: outlet_kpa high") == "rs: outlet_kpa high"
    assert render({}, "as stored") == "as stored"
    missing_param = {"msgid": "%(asset)s: %(channel)s data again", "params": {"asset": "rs"}}
    assert render(missing_param, "as stored") == "as stored"
    unknown_param = {"msgid": "%(asset)s: %(channel)s data again", "params": {"asset": "rs", "channel": {"x": 1}}}
    assert render(unknown_param, "as stored") == "as stored"
    with i18n.using("zh_CN"):
        good = {"msgid": "%(asset)s: %(channel)s data again", "params": {"asset": "rs", "channel": "c"}}
        assert render(good, "as stored") == "rs：c 数据已恢复"


@pytest.mark.parametrize("catalogue", ["rules.po", "tickets.po"])
def test_every_translation_keeps_the_placeholders_of_its_message(catalogue):
    with (CATALOGUES / catalogue).open("rb") as f:
        entries = [m for m in read_po(f) if m.id]
    assert entries
    for m in entries:
        assert m.string, f"{m.id!r} untranslated"
        assert set(PLACEHOLDER.findall(m.id)) == set(PLACEHOLDER.findall(m.string)), m.id


def test_no_summary_or_title_text_lacks_a_chinese_translation():
    ours = ("rules/", "tickets/writer.py", "tickets/titles.py", "tickets/correlation.py", "i18n/messages.py")
    assert [m for m, where in check.missing("zh_CN").items() if where.startswith(ours)] == []
