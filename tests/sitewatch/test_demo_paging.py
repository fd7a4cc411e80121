"""Paging in the demo: its [paging] names the demo's people and points every channel at the
inbox simulator; the seeded week pages nobody; and `sitewatch demo` as a user runs it pages
the people on duty of a regulator failure injected through its simulator, in the inbox."""

from __future__ import annotations

import re
import signal
import time
from datetime import date, datetime, timedelta
from datetime import time as dt_time

import httpx
import pytest
from sqlalchemy import func, select

from sitewatch.components import build_components
from sitewatch.demo import SITES, DemoOptions, demo_config, demo_fleet, write_past
from sitewatch.demo_paging import (
    DINGTALK,
    LEAD,
    PHONES,
    SMS,
    WECOM,
    WECOM_GROUP,
    DemoPaging,
)
from sitewatch.history.people import DISPATCHER, MANAGER, TECHNICIAN
from sitewatch.paging.planner import Planner
from sitewatch.paging.rota import on_call
from sitewatch.storage.paging import OutboxRow
from tests.serving import FixedClock
from tests.sitewatch.test_demo_history import SMALL, ZONE, start_demo

MONDAY = date(2026, 11, 30)
INBOX = "http://127.0.0.1:9"
DASHBOARD = "http://127.0.0.1:8000"
PAGED_WITHIN_S = 60.0  # the failure's ticket opens ~11 s after the injection, then a second or two to plan and send


def config_at(now: datetime, tmp_path, options: DemoOptions = SMALL):
    return demo_config(demo_fleet(options), station_port=lambda _: 1502, camera_port=lambda _: 8080,
                       broker=("127.0.0.1", 1883), options=options, data_dir=tmp_path, token_sha256="0" * 64,
                       paging=DemoPaging(inbox_url=INBOX, dashboard_url=DASHBOARD, now=now, time_zone=SITES[0][4]))


@pytest.mark.parametrize("local", [datetime(2026, 11, 30, 3, 0), datetime(2026, 12, 2, 8, 30),
                                   datetime(2026, 12, 6, 23, 59)], ids=["mon-03:00", "wed-08:30", "sun-23:59"])
def test_the_demo_pages_its_people_through_the_inbox_and_the_dispatcher_is_on_call_now(tmp_path, local):
    now = local.replace(tzinfo=ZONE)
    paging = config_at(now, tmp_path).paging
    assert paging is not None and paging.base_url == DASHBOARD
    assert {DISPATCHER.username, TECHNICIAN.username, MANAGER.username} <= set(paging.people)
    assert all(p.phone == PHONES[pid] and p.channels == (SMS,) for pid, p in paging.people.items())
    assert {name: c.kind for name, c in paging.channels.items()} == {WECOM: "wecom", DINGTALK: "dingtalk", SMS: "sms"}
    for channel in paging.channels.values():
        url = channel.request.url if channel.kind == "sms" else channel.url
        assert url.startswith(INBOX + "/"), f"{channel.kind} goes to {url}, not the inbox"
    assert paging.desks["dispatch-centre"].groups == (WECOM,) and paging.desks["operations"].groups == (DINGTALK,)
    for desk in paging.desks.values():
        assert on_call(desk.rota, now) == DISPATCHER.username, "whatever the hour, the run starts on her week"
        assert on_call(desk.rota, now + timedelta(days=7)) == TECHNICIAN.username, "week about"
        assert (desk.lead, desk.manager) == (LEAD, MANAGER.username)
    (route,) = paging.routes
    assert set(route.severities) == {"critical", "major"} and route.repeat_every_min == 30
    assert [(level.after_min, level.to) for level in route.levels] == [
        (0, ("on_call", "groups")), (10, ("lead",)), (30, ("manager",))]


def test_the_seeded_week_pages_nobody(tmp_path):
    now = datetime.combine(MONDAY, dt_time(3, 0), ZONE)
    config, clock = config_at(now, tmp_path), FixedClock(now)
    past = write_past(config, clock, demo_fleet(SMALL), SMALL)
    assert past.seeded_in_s is not None, "the week was written"
    parts = build_components(config, clock=clock)
    try:
        with parts.sessions() as session:
            written = session.scalar(select(func.count()).select_from(OutboxRow))
            waiting = session.scalar(select(func.count()).select_from(OutboxRow)
                                     .where(OutboxRow.processed_at.is_(None)))
        counts = Planner(sessions=parts.sessions, config=parts.config).run(now=now)
    finally:
        parts.close()
    assert written > 0 and waiting == 0, f"{waiting} of the week's {written} outbox entries are still news"
    assert (counts.pages, counts.messages) == (0, 0), counts


def test_the_demo_pages_the_people_on_duty_of_a_regulator_failure(tmp_path):
    """At 03:00 the dispatch centre is on duty: its WeCom group (with an @ of the person on
    call) and the person on call (SMS) hear of the failure, each with the ticket's link."""
    proc, text = start_demo(tmp_path, "--no-history", "--poll-interval-s", "0.5", "--site-time", "03:00")
    try:
        inbox = re.search(r"messages sent: (http://127\.0\.0\.1:\d+)/", text)
        dashboard = re.search(r"dashboard:\s+(http://127\.0\.0\.1:\d+)/", text)
        control = re.search(r"--control (\S+)", text)
        assert inbox and dashboard and control, text
        injected = httpx.post(f"{control.group(1)}/stations/rs-003/faults", json={"fault": "regulator_failure"},
                              timeout=10)
        assert injected.status_code == 201, injected.text
        phone = PHONES[DISPATCHER.username]
        messages = wait_for_messages(inbox.group(1), lambda got: any(m["channel"] == "wecom" for m in got)
                                     and any(m["channel"] == "sms" and m["to"] == phone for m in got))
        page = httpx.get(inbox.group(1) + "/", timeout=10).text
    finally:
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "Traceback" not in rest, rest
    group = next(m for m in messages if m["channel"] == "wecom")
    sms = next(m for m in messages if m["channel"] == "sms")
    link = re.escape(dashboard.group(1)) + r"/tickets/\d+"
    assert group["to"] == WECOM_GROUP and group["mentions"] == [phone], group
    assert re.search(link, group["body"]) and re.search(link, sms["body"]), (group, sms, "the link opens the ticket")
    assert re.fullmatch(rf"t\d+/opened/person:{DISPATCHER.username}/sms", sms["key"] or ""), sms
    assert "rs-003" in sms["body"] and "rs-003" in group["body"], (group, sms, "they say which station")
    assert not any(m["channel"] == "dingtalk" for m in messages), "the operations desk is off duty at 03:00"
    assert phone in page and WECOM_GROUP in page


def wait_for_messages(inbox: str, enough, timeout_s: float = PAGED_WITHIN_S) -> list[dict]:
    """The inbox's messages once ``enough`` of them arrived (another process sends them:
    asking its API is the only way to know)."""
    deadline = time.monotonic() + timeout_s
    got: list[dict] = []
    while time.monotonic() < deadline:
        got = httpx.get(inbox + "/api/messages", timeout=10).json()
        if enough(got):
            return got
        time.sleep(0.5)
    raise AssertionError(f"not paged within {timeout_s:g} s; the inbox has: {got}")
