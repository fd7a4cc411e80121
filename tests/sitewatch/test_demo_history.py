"""The demo's week of past (sitewatch/history/): seeded into a demo configuration's empty
stores on a fixed clock, before 08:30 and after it, then read back as the pages and the
reports read it — and once through `sitewatch demo` itself, logging in with the printed
passwords."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from datetime import date, datetime, time, timedelta
from pathlib import Path
from time import monotonic, sleep
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sitewatch import i18n
from sitewatch.auth.roles import Role
from sitewatch.auth.users import log_in
from sitewatch.components import Components, build_components
from sitewatch.demo import (
    SECOND_CUSTOMER,
    SITES,
    DemoOptions,
    Past,
    banner,
    demo_config,
    demo_fleet,
    scheduled_assets,
)
from sitewatch.domain.tickets import TicketState
from sitewatch.history.people import MANAGER, TECHNICIAN, Login, demo_people
from sitewatch.history.seed import Seeded, seed_history
from sitewatch.history.stories import STORIES
from sitewatch.inspections.due import due_list, last_done
from sitewatch.inspections.plans import Status
from sitewatch.review.models import FlagKind
from sitewatch.review.service import DailyReviews
from sitewatch.review.sign import canonical_json, get_review, load_content, sha256_of, verify
from sitewatch.storage.tables import (
    AlertRow,
    AuditRow,
    ComplaintRow,
    DailyReviewRow,
    FieldReadingRow,
    InspectionFlagRow,
    InspectionRow,
    TicketRow,
)
from tests.api.test_gateway_pages import station_rows
from tests.serving import FixedClock

DAY = date(2026, 11, 18)
ZONE = ZoneInfo(SITES[0][4])
WEEK = timedelta(days=7)
# A station per site (a log for each), and one behind the gateway: the seeding's cost is per station.
SMALL = DemoOptions(stations=3, cameras=2, alarm_hosts=1, gateway_stations=1)
SITEWATCH = str(Path(sys.executable).with_name("sitewatch"))


def seeded(data_dir: Path, now: datetime, *, options: DemoOptions = SMALL, database_url: str | None = None,
           people: bool = True) -> tuple[Components, Seeded]:
    fleet = demo_fleet(options)
    config = demo_config(fleet, station_port=lambda _: 1502, camera_port=lambda _: 8080, broker=("127.0.0.1", 1883),
                         options=options, data_dir=data_dir, token_sha256="0" * 64)
    if database_url is not None:
        config = config.model_copy(update={"storage": config.storage.model_copy(update={"database_url": database_url})})
    parts = build_components(config, clock=FixedClock(now))
    try:
        return parts, seed_history(parts, fleet, avoid=scheduled_assets(), locale="zh_CN",
                                   people=demo_people(scoped_customer=SECOND_CUSTOMER["id"]) if people else ())
    except BaseException:
        parts.close()
        raise


@pytest.mark.parametrize(("site_time", "database_url"), [("03:00", "sqlite"), ("12:30", "sqlite"),
                                                         ("12:30", "postgresql")], indirect=["database_url"])
def test_a_week_of_past_at_any_hour(tmp_path, site_time, database_url):
    now = datetime.combine(DAY, time.fromisoformat(site_time), ZONE)
    parts, seed = seeded(tmp_path, now, database_url=database_url)
    try:
        assert set(seed.tickets) == {s.key for s in STORIES}, "every story's fault opened a ticket of its own"
        with parts.sessions() as session:
            check_tickets(session, now)
            check_logs(parts, session, now)
            check_inspections(parts, session, now)
            assert session.scalar(select(func.count()).select_from(ComplaintRow)) == 2
        check_samples(parts, now)
        check_logins(parts, seed.logins, now)
    finally:
        parts.close()


def check_tickets(session: Session, now: datetime) -> None:
    tickets = session.scalars(select(TicketRow)).all()
    assert {t.state for t in tickets} == {s.value for s in TicketState}, "a ticket in every state"
    closed = [t for t in tickets if t.state == TicketState.CLOSED.value]
    for ticket in closed:
        ratings = (ticket.rating_attitude, ticket.rating_skill, ticket.rating_arrival_time,
                   ticket.rating_follow_through)
        assert ticket.customer_name and all(r in range(1, 5) for r in ratings), ticket.id
        assert ticket.cause and ticket.work_done and ticket.work_hours and ticket.assignee == TECHNICIAN.username
    assert any(t.sla_breached for t in closed), "one was reached late"
    assert any(t.sla_breached and t.state == TicketState.REGISTERED.value for t in tickets), "one nobody reached"
    repeats = [t for t in tickets if t.repeat_of is not None]
    assert len(repeats) == 1
    first = session.get(TicketRow, repeats[0].repeat_of)
    assert first.state == TicketState.CLOSED.value and first.asset_id == repeats[0].asset_id
    assert first.closed_at < repeats[0].opened_at
    # Every alert resolved before the demo starts: the live engine never knew them.
    assert session.scalar(select(func.count()).select_from(AlertRow).where(AlertRow.state == "firing")) == 0
    assert session.scalar(select(func.max(AuditRow.at))) < now, "nothing in the past happens at or after now"
    moves = dict(session.execute(select(AuditRow.action, AuditRow.actor).where(AuditRow.entity == "ticket",
                                                                               AuditRow.action.like("to_%"))).all())
    assert moves["to_closed"] == "li.na" and moves["to_signed_off"] == TECHNICIAN.username


def check_logs(parts: Components, session: Session, now: datetime) -> None:
    today = now.astimezone(ZONE).date()
    reviews = DailyReviews(config=parts.config, store=parts.store, sessions=parts.sessions, clock=parts.clock)
    for site in reviews.sites():
        row = get_review(session, site.id, today - timedelta(days=1))
        assert row is not None and row.signed_by == MANAGER.display_name and row.signed_actor == MANAGER.username
        assert verify(row), "the stored content still hashes to its hash"
        recomputed = sha256_of(canonical_json(reviews.compute(session, site.id, row_day(row))))
        assert recomputed == row.content_sha256, "the stored data gives the signed log again"
        flags = {f.kind for station in load_content(row).stations for f in station.flags}
        assert FlagKind.LOW_COMPLETENESS not in flags, "the week is sampled as often as the logs count on"
        todays = get_review(session, site.id, today)
        if now.astimezone(ZONE).time() >= time(8, 31):
            assert todays is not None and todays.signed_at is None, "today's log waits for the manager"
        else:
            assert todays is None, "not due before 08:30: the live service makes it"


def row_day(row: DailyReviewRow) -> date:
    return date.fromisoformat(row.day)


def check_inspections(parts: Components, session: Session, now: datetime) -> None:
    overdue = [i for i in due_list(session, parts.config, now=now) if i.due.status is Status.OVERDUE]
    assert {"regulator_round", "security_monthly", "valve_well_after_rain"} <= {i.due.kind for i in overdue}
    assert all(i.due.last_done_on is not None for i in overdue if i.due.kind == "regulator_round")
    done = last_done(session)
    assert any(("regulator_round", a.id) in done and done[("regulator_round", a.id)] >= now - WEEK
               for a in parts.config.assets), "rounds done this week"
    assert session.scalar(select(func.count()).select_from(InspectionRow).where(InspectionRow.ended_at.is_(None))) == 0
    readings = session.scalars(select(FieldReadingRow)).all()
    assert readings and all(r.within_tolerance is not None for r in readings), "every reading met its SCADA sample"
    assert [r.channel for r in readings if not r.within_tolerance] == ["outlet_kpa"]
    assert session.scalar(select(func.count()).select_from(TicketRow).where(TicketRow.source == "inspection")) == 1
    flags = session.scalars(select(InspectionFlagRow)).all()
    assert [f.kind for f in flags] == ["door-never-opened"], "the one round the door sensor never saw"
    # The other rounds' doors opened while the technicians were in: held, nobody paged.
    held = session.scalars(select(AlertRow).where(AlertRow.suppressed_by.like("inspection:%"))).all()
    assert held and {a.rule_id for a in held} == {"door-open"} and all(a.ticket_id is None for a in held)


def check_samples(parts: Components, now: datetime) -> None:
    # A gateway has no past (sitewatch/demo_gateway.py); the stations behind it have theirs.
    assets = {a.id for a in parts.config.assets if a.kind != "modbus_gateway"}
    assert any(a.modbus is not None and a.modbus.gateway is not None for a in parts.config.assets)
    for day in range(7):
        end = now - timedelta(days=day)
        stats = parts.store.aggregate(start=end - timedelta(days=1), end=end)
        assert {s.asset_id for s in stats if s.count} == assets, f"every asset has samples {day} day(s) back"
    assert all(s.ts < now for s in parts.store.latest()), "the live service writes the present"
    first = parts.store.query(asset_id="rs-001", start=now - WEEK, end=now - WEEK + timedelta(minutes=10))
    assert first, "the week starts a week before now"


def check_logins(parts: Components, logins: list[Login], now: datetime) -> None:
    assert {login.person.role for login in logins} == set(Role)
    for login in logins:
        with parts.sessions() as session:
            opened = log_in(session, login.person.username, login.password, remote="test", at=now)
            session.commit()
        assert opened.principal.role is login.person.role
        expected = frozenset(login.person.customers) if login.person.customers else None
        assert opened.principal.customers == expected
    assert any(login.person.customers == (SECOND_CUSTOMER["id"],) for login in logins)


def test_the_same_start_gives_the_same_week(tmp_path):
    now = datetime.combine(DAY, time(20, 0), ZONE)
    tiny = DemoOptions(stations=1, cameras=1, alarm_hosts=1, gateway_stations=1)
    weeks = []
    for run in ("a", "b"):
        (tmp_path / run).mkdir()
        parts, _ = seeded(tmp_path / run, now, options=tiny, people=False)  # passwords are made anew each run
        try:
            with parts.sessions() as session:
                tickets = session.execute(select(TicketRow.asset_id, TicketRow.state, TicketRow.opened_at,
                                                 TicketRow.title).order_by(TicketRow.id)).all()
            weeks.append((parts.store.aggregate(start=now - WEEK, end=now), tickets))
        finally:
            parts.close()
    assert weeks[0] == weeks[1] and weeks[0][1]


def test_the_banner_gives_a_login_per_role(tmp_path):
    fleet = demo_fleet(SMALL)
    config = demo_config(fleet, station_port=lambda _: 1502, camera_port=lambda _: 8080, broker=("127.0.0.1", 1883),
                         options=SMALL, data_dir=tmp_path, token_sha256="0" * 64)
    logins = [Login(person, f"pw-{person.username}-0123") for person in demo_people(scoped_customer="shunyi-gas")]
    for locale, scope in (("en", "all customers"), ("zh_CN", i18n.translations("zh_CN").gettext("all customers"))):
        with i18n.using(locale):
            text = banner(SMALL, config, port=8000, token="TOKEN", data_dir=tmp_path, past=Past(1.5, False, logins),
                          urls=["http://s", "http://c", "http://h"])
            role_names = {r: i18n.gettext(r.value) for r in Role}
        lines = {line.split()[0]: line.split()[1:] for line in text.splitlines() if line.startswith("    ")}
        for login in logins:
            assert lines[login.person.username] == [role_names[login.person.role],
                                                    *(login.person.customers or scope.split()), login.password]
        assert "TOKEN" in text and "http://127.0.0.1:8000/" in text
    assert scope != "all customers", "the banner speaks the terminal's language"


def start_demo(tmp_path, *options: str) -> tuple[subprocess.Popen, str]:
    """`sitewatch demo` (three stations and one behind the gateway, a camera, an alarm host,
    no fault schedule) as a user starts it in an English terminal, and its banner once
    printed; stop it with SIGINT."""
    proc = subprocess.Popen([SITEWATCH, "demo", "--port", "0", "--stations", "3", "--gateway-stations", "1",
                             "--cameras", "1", "--alarm-hosts", "1", "--no-schedule", *options,
                             "--data-dir", str(tmp_path)],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={k: v for k, v in os.environ.items() if not k.startswith("LC_")} | {"LANG": "C.UTF-8"})
    banner = []
    for line in proc.stdout:
        banner.append(line)
        if "Ctrl-C stops." in line:
            break
    return proc, "".join(banner)


def test_the_demo_prints_logins_that_open_its_week(tmp_path):
    """`sitewatch demo` as a user runs it: the printed manager's password logs in, and the
    08:30 logs of the seeded week are there, scoped to what each user may see; the printed
    gateway page lists the station behind it, answering through the simulated DTU."""
    proc, text = start_demo(tmp_path)
    try:
        url = re.search(r"dashboard:\s+(http://127\.0\.0\.1:\d+)/", text)
        assert url, text
        logins = dict(re.findall(r"^    ([a-z.]+)\s+\S+\s+.*?(\S+)$", text, re.MULTILINE))
        assert {MANAGER.username, "sun.hui"} <= set(logins), text
        everything = _reviews(url.group(1), MANAGER.username, logins[MANAGER.username])
        assert {r["site_id"] for r in everything} == {s[0] for s in SITES}
        assert any(r["signed_by"] == MANAGER.display_name and r["hash_verified"] for r in everything)
        scoped = _reviews(url.group(1), "sun.hui", logins["sun.hui"])
        assert scoped and {r["site_id"] for r in scoped} == {"county"}, "a customer's viewer sees its site only"
        gateway = re.search(r"gateway:\s+(http://127\.0\.0\.1:\d+/asset/gw-01) \(stations behind it: 1\)", text)
        token = re.search(r"API write token \(role \w+\): (\S+)", text)
        assert gateway and token, text
        assert _gateway_stations(gateway.group(1), token.group(1)) == {"gw-01-rs-001": "answering"}
    finally:
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "Traceback" not in rest, rest


def _gateway_stations(page: str, token: str, *, timeout_s: float = 15) -> dict[str, str]:
    """The gateway page's stations and their connection, once all answer (another process
    polls them: its page is the way to know)."""
    deadline = monotonic() + timeout_s
    while True:
        answer = httpx.get(page, headers={"Authorization": f"Bearer {token}", "Accept-Language": "en"}, timeout=10)
        assert answer.status_code == 200, answer.text[:300]
        stations = {station: cells[3] for station, cells in station_rows(answer.text).items()}
        if (stations and set(stations.values()) == {"answering"}) or monotonic() > deadline:
            return stations
        sleep(0.5)


def _reviews(base: str, username: str, password: str) -> list[dict]:
    with httpx.Client(base_url=base, timeout=10) as client:
        login = client.post("/login", data={"username": username, "password": password, "next": "/"},
                            follow_redirects=False)
        assert login.status_code == 303, login.text[:300]
        cookie = login.cookies.get("sitewatch_session")
        response = client.get("/api/reviews", headers={"Cookie": f"sitewatch_session={cookie}"})
        assert response.status_code == 200, response.text[:300]
        return response.json()
