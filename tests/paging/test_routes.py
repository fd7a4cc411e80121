"""Which route a ticket takes and who its levels page, tied to the desk on duty (tickets/duty.py).

Dates used: 2026-11-25 is a Wednesday, 2026-10-01 (National Day) a Thursday; Asia/Shanghai
is UTC+8 all year.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from sitewatch.config.models import DutySettings, WorkingCalendar
from sitewatch.domain.time import UTC
from sitewatch.paging.config import (
    Desk,
    DingTalkChannel,
    EmailChannel,
    Level,
    PagingSettings,
    Person,
    Rota,
    RotaOverride,
    Route,
    SmsChannel,
    SmsRequest,
    WebhookChannel,
    WeComChannel,
)
from sitewatch.paging.routes import (
    Recipient,
    level_due,
    level_targets,
    person_recipients,
    recipients,
    route_for,
)
from sitewatch.tickets.duty import desk_for

CST = ZoneInfo("Asia/Shanghai")
CALENDAR = WorkingCalendar(start=time(8, 30), end=time(17, 30), holidays=(date(2026, 10, 1),))
DUTY = DutySettings(calendar="office")

PEOPLE = {
    "zhang": Person(name="张伟", email="zhang@example.cn", phone="13800000001", channels=("mail", "sms"),
                    aliases=("zw",)),
    "li": Person(name="Li Na", locale="en", email="li@example.cn", channels=("mail",)),
    "wang": Person(name="王芳", phone="13800000003", channels=("sms",)),
    "liu": Person(name="刘洋", email="liu@example.cn", channels=("mail",)),
    "chen": Person(name="陈静", email="chen@example.cn", phone="13800000005", channels=("mail", "sms")),
}
CHANNELS = {
    "mail": EmailChannel(host="smtp.example.cn", sender="sitewatch@example.cn"),
    "sms": SmsChannel(request=SmsRequest(url="https://sms.example.cn/send", json={"to": "{phone}"})),
    "ops-wecom": WeComChannel(url="https://qyapi.weixin.qq.com/cgi-bin/webhook/send", credential="ops-robot"),
    "ops-hook": WebhookChannel(url="https://hooks.example.com/ops", locale="en"),
    "dc-dingtalk": DingTalkChannel(url="https://oapi.dingtalk.com/robot/send", credential="dc-robot"),
}
DESKS = {
    "operations": Desk(rota=Rota(weekly=("zhang",), weekly_from=date(2026, 9, 28)), lead="liu", manager="chen",
                       groups=("ops-wecom", "ops-hook")),
    "dispatch-centre": Desk(rota=Rota(weekly=("wang",), weekly_from=date(2026, 9, 28)), lead="chen",
                            manager="chen", groups=("dc-dingtalk",)),
}
ROUTES = (
    Route(name="metro-critical", customers=("metro",), severities=("critical",), desk="dispatch-centre",
          levels=(Level(to=("on_call", "groups", "manager")),)),
    Route(name="tower-7", sites=("site-7",), severities=("major", "critical")),
    Route(name="night", desks=("dispatch-centre",)),
    Route(name="office", desks=("operations",)),
)
SETTINGS = PagingSettings(base_url="https://sitewatch.example.cn", people=PEOPLE, channels=CHANNELS, desks=DESKS,
                          routes=ROUTES)


def _route_name(*, desk: str, severity: str = "major", customer: str = "water", site: str = "site-1") -> str | None:
    route = route_for(SETTINGS, desk=desk, severity=severity, customer=customer, site=site)
    return route.name if route is not None else None


def _keys(found: list[Recipient]) -> list[str]:
    return [recipient.key for recipient in found]


def _first_level(route_name: str | None, desk: str, at: datetime) -> list[str]:
    route = next(r for r in SETTINGS.routes if r.name == route_name)
    return _keys(recipients(SETTINGS, route, desk=desk, targets=level_targets(route, 1), at=at))


# --- the desk on duty picks the route --------------------------------------------------------------


@pytest.mark.parametrize(("local", "desk", "route", "paged", "why"), [
    (datetime(2026, 11, 25, 2, 30), "dispatch-centre", "night",
     ["person:wang/sms", "group:dc-dingtalk"], "a weekday night fault"),
    (datetime(2026, 11, 25, 10, 0), "operations", "office",
     ["person:zhang/mail", "person:zhang/sms", "group:ops-wecom", "group:ops-hook"], "an office-hours fault"),
    (datetime(2026, 10, 1, 10, 0), "dispatch-centre", "night",
     ["person:wang/sms", "group:dc-dingtalk"], "10:00 on a holiday"),
])
def test_the_desk_on_duty_decides_the_route_and_who_is_paged(local: datetime, desk: str, route: str,
                                                              paged: list[str], why: str) -> None:
    at = local.replace(tzinfo=CST)
    on_duty = desk_for(at, time_zone="Asia/Shanghai", duty=DUTY, calendar=CALENDAR)
    assert on_duty == desk, f"{why}: sitewatch.tickets.duty says desk {on_duty!r}, expected {desk!r}"
    chosen = _route_name(desk=on_duty)
    assert chosen == route, f"{why}: desk {on_duty!r} took route {chosen!r}, expected {route!r}"
    got = _first_level(chosen, on_duty, at)
    assert got == paged, f"{why}: level 1 paged {got}, expected {paged}"


# --- matching ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("ticket", "route", "why"), [
    ({"desk": "operations", "severity": "critical", "customer": "metro"}, "metro-critical",
     "customer and severity both match the first route"),
    ({"desk": "operations", "severity": "major", "customer": "metro"}, "office",
     "metro but only major: not the critical route"),
    ({"desk": "dispatch-centre", "severity": "critical", "site": "site-7"}, "tower-7",
     "a site route matches at any desk, before the desk routes"),
    ({"desk": "operations", "severity": "warning", "site": "site-7"}, "office",
     "site-7 below major falls through to the desk's route"),
    ({"desk": "operations", "severity": "critical", "customer": "metro", "site": "site-7"}, "metro-critical",
     "two routes match: the first listed wins"),
    ({"desk": "elsewhere", "severity": "major"}, None, "no route for a desk nobody routes"),
])
def test_routes_match_by_severity_customer_site_and_the_first_wins(ticket: dict, route: str | None,
                                                                     why: str) -> None:
    assert _route_name(**ticket) == route, f"{why}: got {_route_name(**ticket)!r}, expected {route!r}"


def test_a_route_with_its_own_desk_pages_that_desks_people() -> None:
    route = ROUTES[0]  # metro-critical: the dispatch centre, whatever desk the ticket opened at
    at = datetime(2026, 11, 25, 10, 0, tzinfo=CST)
    got = _keys(recipients(SETTINGS, route, desk="operations", targets=level_targets(route, 1), at=at))
    assert got == ["person:wang/sms", "group:dc-dingtalk", "person:chen/mail", "person:chen/sms"], \
        f"route.desk should pick the dispatch centre's people, got {got}"


# --- recipients ------------------------------------------------------------------------------------


def test_recipients_are_deduplicated_by_key_in_order() -> None:
    at = datetime(2026, 11, 25, 2, 30, tzinfo=CST)
    # The dispatch centre's lead and manager are both chen; on_call twice is still wang once.
    got = _keys(recipients(SETTINGS, None, desk="dispatch-centre",
                           targets=("on_call", "lead", "manager", "on_call", "groups"), at=at))
    assert got == ["person:wang/sms", "person:chen/mail", "person:chen/sms", "group:dc-dingtalk"], \
        f"each recipient once, first occurrence first: got {got}"


def test_recipients_carry_addresses_and_locales() -> None:
    desks = {**DESKS, "operations": DESKS["operations"].model_copy(update={"lead": "li"})}
    settings = SETTINGS.model_copy(update={"desks": desks})
    at = datetime(2026, 11, 25, 10, 0, tzinfo=CST)
    got = recipients(settings, None, desk="operations", targets=("on_call", "groups", "lead"), at=at)
    assert got == [
        Recipient(channel="mail", person="zhang", address="zhang@example.cn", locale="zh_CN"),
        Recipient(channel="sms", person="zhang", address="13800000001", locale="zh_CN"),
        Recipient(channel="ops-wecom", person=None, address=None, locale="zh_CN", mentions=("13800000001",)),
        Recipient(channel="ops-hook", person=None, address=None, locale="en", mentions=("13800000001",)),
        Recipient(channel="mail", person="li", address="li@example.cn", locale="en"),
    ], f"addresses, the person's or the group's locale, and the on-call phone mentioned: got {got}"


def test_groups_mention_the_on_call_person_only_when_on_call_is_paged_and_has_a_phone() -> None:
    at = datetime(2026, 11, 25, 10, 0, tzinfo=CST)
    alone = recipients(SETTINGS, None, desk="operations", targets=("groups",), at=at)
    assert [r.mentions for r in alone] == [(), ()], f"groups without on_call mention nobody: {alone}"
    # A swap puts li (no phone) on call: nothing to @.
    swapped_rota = DESKS["operations"].rota.model_copy(update={"overrides": (
        RotaOverride(start=datetime(2026, 11, 25, 9, 0), end=datetime(2026, 11, 25, 18, 0), person="li"),)})
    desks = {**DESKS, "operations": DESKS["operations"].model_copy(update={"rota": swapped_rota})}
    settings = SETTINGS.model_copy(update={"desks": desks})
    got = recipients(settings, None, desk="operations", targets=("on_call", "groups"), at=at)
    assert _keys(got) == ["person:li/mail", "group:ops-wecom", "group:ops-hook"], f"li is on call: {_keys(got)}"
    assert [r.mentions for r in got[1:]] == [(), ()], "an on-call person without a phone is not mentioned"


def test_nobody_on_call_leaves_the_groups_and_an_unknown_desk_gives_nobody() -> None:
    at = datetime(2026, 9, 1, 10, 0, tzinfo=CST)  # before the rotas' weekly_from
    got = _keys(recipients(SETTINGS, None, desk="operations", targets=("on_call", "groups"), at=at))
    assert got == ["group:ops-wecom", "group:ops-hook"], f"with nobody on call only the groups: {got}"
    assert recipients(SETTINGS, None, desk="nowhere", targets=("on_call", "groups"), at=at) == [], \
        "a desk missing from the settings pages nobody"


def test_an_unknown_target_is_refused() -> None:
    at = datetime(2026, 11, 25, 10, 0, tzinfo=CST)
    with pytest.raises(ValueError, match="unknown target"):
        recipients(SETTINGS, None, desk="operations", targets=("on_cal",), at=at)  # type: ignore[arg-type]


def test_a_technician_named_on_a_ticket_is_reached_on_all_their_channels() -> None:
    assert SETTINGS.person_named("ZW") == "zhang", "an alias finds the person, whatever the case"
    got = _keys(person_recipients(SETTINGS, SETTINGS.person_named("张伟")))
    assert got == ["person:zhang/mail", "person:zhang/sms"], f"the technician's channels: {got}"
    assert person_recipients(SETTINGS, SETTINGS.person_named("nobody")) == [], "an unknown assignee: nobody"
    assert person_recipients(SETTINGS, "ghost") == [], "an unknown id: nobody"


# --- levels ----------------------------------------------------------------------------------------


PAGED = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(("after", "reached", "due", "why"), [
    (timedelta(0), 1, 1, "at the page: level 1"),
    (timedelta(minutes=10) - timedelta(microseconds=1), 1, 1, "just before 10 min: still level 1"),
    (timedelta(minutes=10), 1, 2, "at exactly 10 min: level 2"),
    (timedelta(minutes=30) - timedelta(microseconds=1), 2, 2, "just before 30 min: level 2"),
    (timedelta(minutes=30), 1, 3, "at exactly 30 min: level 3, even from level 1"),
    (timedelta(hours=5), 3, 3, "long after: the last level, no further"),
    (timedelta(minutes=-5), 1, 1, "a clock behind the page: level 1"),
    (timedelta(minutes=1), 3, 3, "a level already reached is not taken back"),
    (timedelta(minutes=1), 5, 3, "a reached level beyond the route's last is capped"),
])
def test_level_due_at_the_boundaries(after: timedelta, reached: int, due: int, why: str) -> None:
    route = ROUTES[2]  # the default levels: 0, 10, 30 min
    got = level_due(route, reached, PAGED, PAGED + after)
    assert got == due, f"{why}: level_due gave {got}, expected {due}"


def test_level_targets_are_one_based() -> None:
    route = ROUTES[2]
    assert level_targets(route, 1) == ("on_call", "groups"), "level 1 is the on-call person and the groups"
    assert level_targets(route, 3) == ("manager",), "level 3 is the manager"
    for bad in (0, 4):
        with pytest.raises(ValueError, match="levels 1..3"):
            level_targets(route, bad)
    with pytest.raises(ValueError, match="start at 1"):
        level_due(route, 0, PAGED, PAGED)
