"""What a notification says (paging/messages.py): every kind in both languages, the site's
clock, the link whole in every form, device text unable to post a link into a group chat."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import datetime, timedelta

import pytest

from sitewatch import i18n
from sitewatch.domain.time import UTC
from sitewatch.i18n import lazy
from sitewatch.i18n.messages import Channel, Message, Unit
from sitewatch.paging.messages import LIST_LINES, SHORT_CHARS, render
from sitewatch.paging.models import Content, Notice, NoticeKind, TicketFacts
from sitewatch.tickets import titles

LINK = "https://sitewatch.example/tickets/42"
SITE_LINK = "https://sitewatch.example/tickets?site=east"
OPENED = datetime(2026, 12, 6, 19, 12, tzinfo=UTC)  # 03:12 on 7 December in Shanghai, 20:12 on the 6th in Berlin
NOW = OPENED + timedelta(minutes=8)
# The critical threshold's summary as the rules engine writes it (rules/threshold.py).
TITLE = Message.of(lazy("%(asset)s: %(channel)s %(value)s %(unit)s above critical level %(level)s %(unit)s"),
                   asset="rs-003", channel=Channel("outlet_kpa"), value="3.450", unit=Unit("kPa"), level="3.3")
TICKET = TicketFacts(
    ticket_id=42, title=TITLE, severity="critical", state="dispatched", site_id="east", site_name="城东站",
    time_zone="Asia/Shanghai", asset_id="rs-003", asset_name="城东调压柜", customer_name="东城燃气",
    opened_at=OPENED, arrive_by=OPENED + timedelta(minutes=30), resolve_by=datetime(2026, 12, 7, 9, 0, tzinfo=UTC),
    desk="operations", link=LINK, assignee="张工", occurrences=3,
    symptoms=(TITLE, titles.site_down("城东站")), committed_reason="等待厂家备件",
)
TICKET_KINDS = [k for k in NoticeKind if k is not NoticeKind.SUMMARY]
# The subject's tag of each kind, as each language says it.
TAGS = {
    "zh_CN": {NoticeKind.OPENED: "【严重】", NoticeKind.RAISED: "【升为严重】", NoticeKind.ESCALATION: "升级至第2级",
              NoticeKind.REPEAT: "仍未确认", NoticeKind.CLEARED: "【已恢复】", NoticeKind.DISPATCHED: "派单",
              NoticeKind.ARRIVE_SOON: "即将超时未到场", NoticeKind.BREACHED: "到场超时",
              NoticeKind.RESOLVE_OVERDUE: "未按时解决", NoticeKind.END_OF_DAY: "今日未解决"},
    "en": {NoticeKind.OPENED: "[CRITICAL]", NoticeKind.RAISED: "[raised to CRITICAL]",
           NoticeKind.ESCALATION: "not acknowledged — level 2", NoticeKind.REPEAT: "still not acknowledged",
           NoticeKind.CLEARED: "[cleared]", NoticeKind.DISPATCHED: "dispatched",
           NoticeKind.ARRIVE_SOON: "arrival due soon", NoticeKind.BREACHED: "arrival overdue",
           NoticeKind.RESOLVE_OVERDUE: "resolution overdue", NoticeKind.END_OF_DAY: "unresolved today"},
}


def notice(kind: NoticeKind, ticket: TicketFacts = TICKET, **changes: object) -> Notice:
    return Notice(kind=kind, at=NOW, ticket=ticket, level=2, acknowledged_by="李四", **changes)


def summary(count: int, **changes: object) -> Notice:
    items = tuple(dataclasses.replace(TICKET, ticket_id=100 + i, severity="warning", opened_at=OPENED + timedelta(
        seconds=i), title=f"rs-{i:03d} offline") for i in range(count))
    return Notice(kind=NoticeKind.SUMMARY, at=NOW, items=items, site_name="城东站", time_zone="Asia/Shanghai",
                  link=SITE_LINK, **changes)


def every_form(content: Content) -> dict[str, str]:
    return {"subject": content.subject, "text": content.text, "markdown": content.markdown, "short": content.short}


def english_words(text: str, link: str) -> set[str]:
    """Runs of three or more Latin letters outside the link and the units and zone we expect."""
    return set(re.findall(r"[A-Za-z]{3,}", text.replace(link, ""))) - {"kPa", "UTC"}


def rendered(message: Message, locale: str) -> str:
    with i18n.using(locale):
        return message.render()


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
@pytest.mark.parametrize("kind", TICKET_KINDS)
def test_every_kind_tells_its_facts_in_every_form(kind: NoticeKind, locale: str) -> None:
    content = render(notice(kind), locale)
    title = rendered(TITLE, locale)

    assert TAGS[locale][kind] in content.subject, f"{kind.value}/{locale}: tag missing from {content.subject!r}"
    assert "\n" not in content.subject and "#42" in content.subject and title in content.subject
    for text in (content.text, content.markdown):
        for fact in (title, "城东站", "城东调压柜", "东城燃气", "2026-12-07 03:12 UTC+8", rendered(TITLE, locale)):
            assert fact in text, f"{kind.value}/{locale}: {fact!r} missing from\n{text}"
        assert rendered(titles.site_down("城东站"), locale) in text, f"second symptom missing from\n{text}"
        assert ("严重" if locale == "zh_CN" else "Critical") in text
    assert "城东站" in content.short and title in content.short
    assert content.short.endswith(" " + LINK), f"{kind.value}/{locale}: the SMS does not end with the link"
    assert content.text.splitlines()[-1].endswith(LINK)
    assert f"]({LINK})" in content.markdown
    assert content.data["kind"] == kind.value and content.data["ticket_id"] == 42 and content.data["link"] == LINK
    json.dumps(content.data)


@pytest.mark.parametrize("kind", TICKET_KINDS)
def test_chinese_leaves_no_english_in_its_own_words(kind: NoticeKind) -> None:
    content = render(notice(kind), "zh_CN")
    for form, text in every_form(content).items():
        left = english_words(text, LINK)
        assert not left, f"{kind.value}: English left in the zh_CN {form}: {sorted(left)}\n{text}"
    assert "打开工单" in content.text and "Ticket" not in content.text and "arrive" not in content.text


def test_the_kinds_say_different_things() -> None:
    for locale in ("zh_CN", "en"):
        subjects = {render(notice(kind), locale).subject for kind in TICKET_KINDS}
        headlines = {render(notice(kind), locale).text.splitlines()[0] for kind in TICKET_KINDS}
        assert len(subjects) == len(headlines) == len(TICKET_KINDS), f"{locale}: two kinds read the same"


def test_times_are_on_the_sites_clock_with_the_countdown() -> None:
    shanghai = render(notice(NoticeKind.ARRIVE_SOON), "en")
    assert "Opened: 2026-12-07 03:12 UTC+8" in shanghai.text
    assert "Arrive by: 2026-12-07 03:42 UTC+8 (0 h 22 min left)" in shanghai.text
    assert "Resolve by: 2026-12-07 17:00 UTC+8 (13 h 40 min left)" in shanghai.text
    assert "arrive by 03:42" in shanghai.short
    assert "19:12" not in shanghai.text + shanghai.short, "a UTC time leaked into the text"

    berlin = dataclasses.replace(TICKET, time_zone="Europe/Berlin")
    breached = render(Notice(kind=NoticeKind.BREACHED, at=OPENED + timedelta(minutes=50), ticket=berlin), "zh_CN")
    assert "开单：2026-12-06 20:12 UTC+1" in breached.text
    assert "到达时限：2026-12-06 20:42 UTC+1（已超时 0 小时 20 分）" in breached.text
    assert "20:42 前到场" in breached.short

    next_day = render(Notice(kind=NoticeKind.DISPATCHED, at=OPENED - timedelta(hours=12), ticket=TICKET), "en")
    assert "arrive by 12-07 03:42" in next_day.short, "an arrive-by on another local day needs its date"


def test_the_webhook_data_is_json_with_utc_times_and_the_zone() -> None:
    data = json.loads(json.dumps(render(notice(NoticeKind.ESCALATION), "en").data))
    assert data == data | {
        "kind": "escalation", "ticket_id": 42, "severity": "critical", "state": "dispatched", "site_id": "east",
        "asset_id": "rs-003", "title": rendered(TITLE, "en"), "opened_at": "2026-12-06T19:12:00Z",
        "arrive_by": "2026-12-06T19:42:00Z", "resolve_by": "2026-12-07T09:00:00Z",
        "local_time_zone": "Asia/Shanghai", "link": LINK, "level": 2,
    }, data
    assert data["symptoms"] == [rendered(TITLE, "en"), rendered(titles.site_down("城东站"), "en")]


def test_a_message_title_is_read_in_each_language() -> None:
    zh, en = (render(notice(NoticeKind.OPENED), locale) for locale in ("zh_CN", "en"))
    assert "出口压力" in zh.subject and "Outlet pressure" not in zh.text
    assert "Outlet pressure 3.450 kPa above critical level 3.3 kPa" in en.subject
    assert en.data["title"] != zh.data["title"]


def test_what_depends_on_the_kind_and_state() -> None:
    dispatched = render(notice(NoticeKind.DISPATCHED), "en").text
    assert dispatched.startswith("The ticket was given to 张工.") and "Assignee: 张工" in dispatched
    overdue = render(notice(NoticeKind.RESOLVE_OVERDUE), "zh_CN").text
    assert "修复时限：2026-12-07 17:00 UTC+8" in overdue and "承诺原因：等待厂家备件" in overdue
    cleared = render(notice(NoticeKind.CLEARED), "en")
    assert "Acknowledged by: 李四" in cleared.text and "arrive by" not in cleared.short
    assert "Open the ticket to acknowledge" in render(notice(NoticeKind.OPENED), "en").text
    assert "to acknowledge" not in cleared.text

    on_site = render(notice(NoticeKind.OPENED, dataclasses.replace(TICKET, state="arrived", occurrences=1)), "en")
    assert "Arrive by" not in on_site.text and "arrive by" not in on_site.short, "arrive-by shown after arrival"
    assert "Occurrences" not in on_site.text and "Occurrences: 3" in render(notice(NoticeKind.OPENED), "en").text
    resolved = render(notice(NoticeKind.CLEARED, dataclasses.replace(TICKET, state="resolved")), "en").text
    assert "Resolve by" not in resolved


def test_device_text_cannot_post_a_link_or_a_heading_in_markdown() -> None:
    evil = "rs-003 [click me](https://evil.example) <font color=red>x</font> **bold**\n### Fake heading"
    ticket = dataclasses.replace(TICKET, title=evil, site_name="站[x](https://evil.example)", symptoms=(evil,))
    for locale in ("zh_CN", "en"):
        content = render(notice(NoticeKind.OPENED, ticket), locale)
        assert re.findall(r"\]\(([^)]*)\)", content.markdown) == [LINK], content.markdown
        assert "<font" not in content.markdown and "**bold**" not in content.markdown
        assert not any(line.lstrip("- ").startswith("#") for line in content.markdown.splitlines()[1:]), \
            f"a heading was injected:\n{content.markdown}"
        assert "\n" not in content.subject
        assert "click me" in content.markdown, "the device's words should still be shown"


def test_a_long_fault_is_shortened_in_the_sms_and_the_link_kept() -> None:
    long_title = "rs-003 " + "很长的故障描述" * 40
    content = render(notice(NoticeKind.OPENED, dataclasses.replace(TICKET, title=long_title)), "zh_CN")
    assert len(content.short) <= SHORT_CHARS, len(content.short)
    assert content.short.endswith(" " + LINK) and "…" in content.short and "03:42 前到场" in content.short
    assert long_title in content.text, "only the SMS is shortened"


@pytest.mark.parametrize(("locale", "more"), [("zh_CN", "另有 3 条"), ("en", "and 3 more")])
def test_a_summary_lists_ten_tickets_most_severe_first_and_counts_the_rest(locale: str, more: str) -> None:
    storm = summary(13)
    critical = dataclasses.replace(storm.items[-1], severity="critical")  # the last, but the one that matters
    storm = dataclasses.replace(storm, items=(*storm.items[:-1], critical))
    content = render(storm, locale)

    shown = {int(n) for n in re.findall(r"^- #(\d+) ", content.text, re.MULTILINE)}
    assert len(shown) == LIST_LINES and 112 in shown, f"listed {sorted(shown)}"
    assert re.findall(r"^- #(\d+) ", content.text, re.MULTILINE)[0] == "112", "the critical ticket is not listed first"
    listed = re.findall(r"^- #(\d+) ", content.text, re.MULTILINE)
    assert re.findall(r"^- #(\d+) ", content.markdown, re.MULTILINE) == listed
    for form, text in every_form(content).items():
        assert "城东站" in text and "13" in text, f"{form}: site or count missing"
        if form != "subject":
            assert SITE_LINK in text and more in text, f"{form}: link or the rest missing\n{text}"
    assert TAGS[locale][NoticeKind.OPENED] not in content.subject
    assert ("条告警汇总" if locale == "zh_CN" else "alert summary") in content.subject
    assert content.short.endswith(" " + SITE_LINK) and f"]({SITE_LINK})" in content.markdown
    assert json.loads(json.dumps(content.data))["items"][0] == 112
    assert sorted(content.data["items"]) == list(range(100, 113)) and content.data["severity"] == "critical"
    if locale == "zh_CN":
        for form, text in every_form(content).items():
            left = english_words(text, SITE_LINK) - {"offline"}  # the items' titles are plain English text here
            assert not left, f"English left in the zh_CN summary {form}: {sorted(left)}"


def test_a_small_summary_lists_all_and_says_no_more() -> None:
    content = render(summary(3), "en")
    assert re.findall(r"^- #(\d+) ", content.text, re.MULTILINE) == ["100", "101", "102"]
    assert "more" not in content.text + content.short
    assert content.data["items"] == [100, 101, 102]


def test_the_locale_tag_is_understood_and_chinese_is_the_default() -> None:
    assert render(notice(NoticeKind.OPENED), "en-GB").subject.startswith("[CRITICAL]")
    assert render(notice(NoticeKind.OPENED), "zh-CN").subject.startswith("【严重】")
    assert render(notice(NoticeKind.OPENED), "fr").subject.startswith("【严重】")


def test_a_ticket_notice_without_its_ticket_is_refused() -> None:
    with pytest.raises(ValueError, match="needs its ticket"):
        render(Notice(kind=NoticeKind.OPENED, at=NOW), "en")
