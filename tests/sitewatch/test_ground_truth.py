"""Ground truth: a script of faults with known start and end times, played against real
simulated stations watched by a whole Sitewatch service; every fault's outcome is checked.

For each fault of the table below: the alerts it must raise (or must not: a blip shorter
than the rule's duration, a fault today's rules cannot see), within poll + duration + 1 s
of the fault's real start; resolved after its real end where the rule clears; recorded but
held inside a maintenance window; and the exact tickets — count, occurrences, priority,
repeat marking. Every alert and ticket in the database must be accounted for by the table:
anything else (a storm) fails the test.

The whole script runs four times (two on SQLite, two on PostgreSQL), with the site clock (an injected clock shared by the
simulators, the service and the player) set to 03:00, 08:30, 12:30 and 20:00 local: the
simulated demand, the rules, the holds and the duty desk all follow it, so the test means
the same whatever the hour at which it runs. At 03:00 flows are low: night creep must
then mean night creep only, not a regulator failure, the return from a slam-shut trip, a
comm loss or maintenance.

Tickets are expected per fault, not per alert: a regulator failure's outlet-high and
relief alerts are one ticket, a gas leak during it a second one (the rules' ``fault``
groups); every paged alert must be on its fault's ticket.

Rule kinds played here: threshold (with a stage-up to critical), state, no_data (marking
the station offline), rate_of_change, flatline, night_creep. Composite and baseline rules are
judged against the same simulator model in tests/rules (their conditions depend on the
time of day's demand, which a one-minute script cannot pin down). Adding a rule takes one
line in RULES and one ``fires(...)`` in each row whose fault it must catch; the check is
exhaustive, so a rule that also sees another fault fails that row until it says so.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from sitewatch.components import build_components
from sitewatch.config.load import config_from_dict
from sitewatch.demo import SITES, demo_raw_config
from sitewatch.domain.samples import Sample
from sitewatch.domain.time import ShiftedClock
from sitewatch.inspections.visits import finish_inspection, start_inspection
from sitewatch.simulators.regulator.fleet import RegulatorFleet, build
from sitewatch.simulators.regulator.spec import FleetConfig, make_station_specs
from sitewatch.simulators.scenario import Applied, Script, Step, play
from sitewatch.storage.tables import AlertRow, AuditRow, TicketRow
from sitewatch.tickets.writer import TicketWriter
from tests.sitewatch.scenario_support import (
    Budget,
    Fault,
    Tickets,
    check_alerts,
    check_tickets,
    delay_table,
    expected_tickets,
    fires,
)
from tests.sitewatch.service import Service

try:  # the ticket forms (report, rating, follow-up note) each step of the lifecycle needs
    from tests.tickets.forms import close_ticket
except ImportError:  # a workflow without forms: the bare transitions
    from sitewatch.domain.tickets import TicketState
    from sitewatch.tickets.workflow import transition_ticket

    def close_ticket(session, ticket_id: int, *, at: datetime, actor: str = "desk") -> None:
        for state in list(TicketState)[1:]:
            transition_ticket(session, ticket_id, to=state, actor=actor, at=at, assignee="Li Wei")

POLL_S = 0.25
TICK_S = 0.2
BACKOFF_MAX_S = 1.0  # a station back after a comm loss is polled again within this
FLAP_TRANSITIONS = 3
FLAP_WINDOW_S = 4.0
STATIONS = 21
DAY = date(2026, 12, 3)  # a Thursday: office hours at 08:30, the noon break at 12:30
SITE_TIMES = {"03:00": "dispatch-centre", "08:30": "operations", "12:30": "dispatch-centre", "20:00": "dispatch-centre"}
WINDOW_END_S = 18.0  # mw-rs-016 ends this long after the configuration is written
R = "regulators"
RATE_WINDOW_S = 5.0  # a burst loses 2 kPa within it, a regulator settling back 0.7 kPa

RESTART_CREEP = ["outlet-high", "relief-open", "slam-shut", "outlet-low", "outlet-drop-rate", "no-data"]
RULES = [
    {"id": "outlet-high", "kind": "threshold", "channel": "outlet_kpa", "direction": "above", "level": 2.9,
     "clear_level": 2.7, "for_s": 2.0, "severity": "critical", "fault": "pressure-control"},
    {"id": "outlet-low", "kind": "threshold", "channel": "outlet_kpa", "direction": "below", "level": 1.8,
     "clear_level": 2.0, "for_s": 1.0, "severity": "critical", "fault": "downstream-loss"},
    {"id": "relief-open", "kind": "threshold", "channel": "relief_open", "direction": "above", "level": 0.5,
     "for_s": 1.0, "severity": "major", "fault": "pressure-control"},
    {"id": "slam-shut", "kind": "state", "channel": "slam_shut_closed", "alarm_values": [1],
     "labels": {"1": "tripped"}, "severity": "critical", "fault": "downstream-loss"},
    {"id": "gas-high", "kind": "threshold", "channel": "gas_lel_pct", "direction": "above", "level": 10.0,
     "clear_level": 5.0, "critical_level": 40.0, "for_s": 1.0, "severity": "major", "fault": "gas",
     "held_by": ["maintenance"]},
    {"id": "door-open", "kind": "threshold", "channel": "door_open", "direction": "above", "level": 0.5,
     "severity": "warning", "fault": "door"},
    {"id": "mains-loss", "kind": "threshold", "channel": "mains_ok", "direction": "below", "level": 0.5,
     "for_s": 1.5, "severity": "major", "fault": "power"},
    {"id": "no-data", "kind": "no_data", "channel": "outlet_kpa", "after_s": 2.0, "severity": "major",
     "offline": True, "fault": "communication"},
    # A frozen transmitter repeats the very same float; a live one (or a pressure still
    # settling after a burst) moves by more than this between polls.
    {"id": "outlet-flatline", "kind": "flatline", "channel": "outlet_kpa", "tolerance": 1e-6, "for_s": 3.0,
     "severity": "major", "fault": "instrument"},
    # Samples come every 0.25 s: a gap of 1 s is a comm loss; 1 s to settle after a restart.
    {"id": "night-creep", "kind": "night_creep", "low_flow": 200.0, "rise": 0.1, "for_s": 1.0,
     "severity": "major", "fault": "pressure-control", "restart_on": RESTART_CREEP, "gap_s": 1.0, "settle_s": 1.0},
    {"id": "outlet-drop-rate", "kind": "rate_of_change", "channel": "outlet_kpa", "direction": "falling",
     "per_min": 12.0, "window_s": RATE_WINDOW_S, "severity": "critical", "fault": "downstream-loss"},
]
CORRELATION = {
    "window_s": 600.0,
    "faults": {name: {} for name in ("pressure-control", "gas", "door", "power", "communication", "instrument")}
    | {"downstream-loss": {"follows": ["pressure-control"]}},
}

FAST = {"rate_kpa_s": 2.0}  # a failed-open regulator past 2.9 kPa in ~0.2 s, so the ramp is no excuse
LEAK = {"rate_pct_s": 50.0, "cap_pct": 30.0}  # past 10 %LEL in ~0.2 s, never critical (40 %LEL)
SLOW_LEAK = {"rate_pct_s": 10.0}  # 10 %LEL within 1 s (major), 40 %LEL after 4 s: stepped up to critical


def step(device: str, fault: str, start_s: float, end_s: float | None, label: str = "", **params: float) -> Step:
    return Step(R, device, fault, start_s, end_s, params=params, label=label)


GAS_AFTER_OUTAGE = "rs-020 leak"
FLAPS = [(0.0, 0.6), (1.2, 1.8), (2.4, 3.0), (3.6, 4.2), (4.8, 5.4)]  # a chattering door contact


def table(site_time: str) -> tuple[Fault, ...]:
    """One row per fault: the step, then every alert it must raise (none: it must raise nothing)."""
    night = site_time == "03:00"  # inside the simulators' low-flow night window
    return (
        Fault(step("rs-001", "regulator_failure", 0, 8, **FAST),
              (fires("outlet-high", "outlet_kpa"), fires("relief-open", "relief_open")),
              "overlap: a failed regulator also opens the relief valve"),
        Fault(step("rs-002", "regulator_failure", 2.0, 2.5, **FAST), (),
              "a 0.5 s blip, shorter than outlet-high's 2 s and relief-open's 1 s"),
        Fault(step("rs-003", "pipe_burst", 0, 14, label="rs-003 burst"),
              (fires("outlet-low", "outlet_kpa"), fires("outlet-drop-rate", "outlet_kpa", settles=True)),
              "pressure fault that outlives a comm loss: stays firing through the silence, one ticket"),
        Fault(step("rs-003", "comm_loss", 4, 9, label="rs-003 silent"),
              (fires("no-data", "outlet_kpa"),),
              "comm loss during the pressure fault: its own no-data alert and ticket"),
        Fault(step("rs-004", "gas_leak", 1, 10, **SLOW_LEAK),
              (fires("gas-high", "gas_lel_pct", lead_s=1.0, severity="critical"),),
              "overlap: a growing gas leak, major then critical on the same alert and ticket ..."),
        Fault(step("rs-004", "door_open", 3, 7), (fires("door-open", "door_open"),),
              "... and the door opened during it"),
        *(
            Fault(step("rs-005", "door_open", a, b, label=f"rs-005 flap {i + 1}"), alerts, "flapping door contact")
            for i, (a, b) in enumerate(FLAPS)
            for alerts in [
                (fires("door-open", "door_open"),) if i == 0 else
                # the third change makes it flapping: one alert, held until quiet for a window
                (fires("door-open", "door_open", ends_with=f"rs-005 flap {len(FLAPS)}", end_extra_s=FLAP_WINDOW_S,
                       summary_has="flapping"),) if i == 1 else ()
            ]
        ),
        Fault(step("rs-006", "regulator_failure", 0, 6, **FAST),
              (fires("outlet-high", "outlet_kpa", suppressed_by="maintenance:mw-rs-006"),
               fires("relief-open", "relief_open", suppressed_by="maintenance:mw-rs-006")),
              "inside a maintenance window: recorded, held, no ticket"),
        Fault(step("rs-007", "mains_loss", 0, 3, label="rs-007 first"), (fires("mains-loss", "mains_ok"),),
              "its ticket is closed by the desk before the fault comes back"),
        Fault(step("rs-007", "mains_loss", 8, 11, label="rs-007 again"), (fires("mains-loss", "mains_ok"),),
              "repeat fault: a new ticket marked repeat_of, one priority step up"),
        Fault(step("rs-008", "gas_leak", 0, 3, label="rs-008 first", **LEAK), (fires("gas-high", "gas_lel_pct"),),
              "ticket left open ..."),
        Fault(step("rs-008", "gas_leak", 8, 11, label="rs-008 again", **LEAK), (fires("gas-high", "gas_lel_pct"),),
              "... so the second leak is an occurrence on it, not a new ticket"),
        Fault(step("rs-009", "slam_shut_trip", 1, 9),
              (fires("slam-shut", "slam_shut_closed"), fires("outlet-low", "outlet_kpa"),
               fires("outlet-drop-rate", "outlet_kpa", settles=True)),
              "overlap: slam-shut closed and the outlet bleeds down"),
        Fault(step("rs-010", "comm_loss", 2, 8), (fires("no-data", "outlet_kpa"),), "station unreachable"),
        Fault(step("rs-011", "modbus_exception", 2, 8), (fires("no-data", "outlet_kpa"),),
              "every read refused (exception 4): no good data"),
        Fault(step("rs-012", "stuck_sensor", 0, 14), (fires("outlet-flatline", "outlet_kpa"),),
              "frozen transmitter: invisible to threshold and no-data rules, caught as a flatline"),
        Fault(step("rs-013", "night_creep", 0, 3, rate_kpa_s=0.1),
              (fires("night-creep", "outlet_kpa", lead_s=1.0),) if night else (),
              "night creep: +0.3 kPa at low flow, never reaching outlet-high's 2.9 kPa; by day the demand "
              "keeps the regulator open and nothing creeps"),
        Fault(step("rs-014", "pipe_burst", 0, 6),
              (fires("outlet-low", "outlet_kpa"), fires("outlet-drop-rate", "outlet_kpa", settles=True)),
              "pipe burst: outlet collapses, seen by its level and by its rate"),
        Fault(step("rs-015", "mains_loss", 1.0, 1.3), (), "a 0.3 s mains dip, shorter than mains-loss's 1.5 s"),
        Fault(step("rs-018", "regulator_failure", 0, 6, **FAST),
              (fires("outlet-high", "outlet_kpa", suppressed_by="inspection:1"),
               fires("relief-open", "relief_open", suppressed_by="inspection:1")),
              "a technician testing lock-up during an inspection: recorded, nobody paged"),
        # rs-017 has no fault: a control station that must stay quiet
        Fault(step("rs-016", "door_open", 0, 14), (fires("door-open", "door_open"),),
              "fires inside mw-rs-016, still firing when it ends: announced, one ticket then"),
        Fault(step("rs-019", "regulator_failure", 0, 8, label="rs-019 failure", **FAST),
              (fires("outlet-high", "outlet_kpa"), fires("relief-open", "relief_open")),
              "a regulator failure: one ticket, relief venting a symptom on it ..."),
        Fault(step("rs-019", "gas_leak", 2, 6, label="rs-019 leak", **LEAK), (fires("gas-high", "gas_lel_pct"),),
              "... and a gas leak during it: an independent fault, a second ticket"),
        Fault(step("rs-020", "comm_loss", 0, 4, label="rs-020 silent"), (fires("no-data", "outlet_kpa"),),
              "a comm loss ..."),
        Fault(step("rs-020", "gas_leak", 14, 20, label=GAS_AFTER_OUTAGE, **LEAK), (fires("gas-high", "gas_lel_pct"),),
              "... and a gas leak 10 s after it ended: a new fault, paged at once (gas: only maintenance holds it)"),
        Fault(step("rs-021", "comm_loss", 0, 4, label="rs-021 silent"), (fires("no-data", "outlet_kpa"),),
              "a comm loss ..."),
        Fault(step("rs-021", "door_open", 14, 17, label="rs-021 door"), (fires("door-open", "door_open"),),
              "... and the door opened 10 s after it ended: it began on fresh samples, so the grace holds nothing"),
    )


REPEAT_FP = "rs-007/mains-loss/mains_ok"
TIME_ZONE = SITES[0][4]  # every demo site's zone, and the simulated stations'


@pytest.fixture(params=list(SITE_TIMES))
def clock(request: pytest.FixtureRequest) -> ShiftedClock:
    """The site's clock starts at the hour under test and runs at the real pace."""
    return ShiftedClock(datetime.combine(DAY, clock_time.fromisoformat(request.param), ZoneInfo(TIME_ZONE)))


@pytest.fixture
async def fleet(clock: ShiftedClock) -> AsyncIterator[RegulatorFleet]:
    specs = [s.model_copy(update={"time_zone": TIME_ZONE}) for s in make_station_specs(STATIONS, seed=2026)]
    fleet = build(FleetConfig(stations=tuple(specs)), clock=clock)
    await fleet.start()
    try:
        yield fleet
    finally:
        await fleet.stop()


def raw_config(fleet: RegulatorFleet, data_dir: Path, database_url: str, *, now: datetime) -> dict:
    ports = {s.station_id: fleet.port_of(s.station_id) for s in fleet.stations}
    raw = demo_raw_config(ports, data_dir=data_dir, host="127.0.0.1", port=0, poll_interval_s=POLL_S,
                          token_sha256="0" * 64)
    raw["rules"] = RULES
    raw["correlation"] = CORRELATION
    raw["rules_engine"] = {"tick_s": TICK_S, "flap_transitions": FLAP_TRANSITIONS, "flap_window_s": FLAP_WINDOW_S}
    raw["storage"] |= {"flush_interval_s": 0.5, "database_url": database_url}
    raw["collector"] = {"jitter_fraction": 0.0, "offline_after_failures": 2, "backoff_max_s": BACKOFF_MAX_S}
    raw["maintenance_windows"] = [
        {"id": "mw-rs-006", "reason": "lock-up test", "assets": ["rs-006"],
         "start": now - timedelta(minutes=1), "end": now + timedelta(hours=1)},
        {"id": "mw-rs-016", "reason": "door lock repair", "assets": ["rs-016"],
         "start": now - timedelta(minutes=1), "end": now + timedelta(seconds=WINDOW_END_S)},
    ]
    return raw


def rows(service: Service) -> tuple[list[AlertRow], list[TicketRow]]:
    with service.parts.sessions() as session:
        alerts = list(session.scalars(select(AlertRow)))
        tickets = list(session.scalars(select(TicketRow)))
        session.expunge_all()
    return alerts, tickets


def alert_history(service: Service, alert_id: int) -> list[str]:
    with service.parts.sessions() as session:
        return list(session.scalars(
            select(AuditRow.action).where(AuditRow.entity == "alert", AuditRow.entity_id == str(alert_id))
        ))


async def desk_closes_the_first_ticket(service: Service, *, before: float) -> datetime:
    """The desk walks rs-007's first ticket to closed as soon as it appears."""
    deadline = time.monotonic() + before
    while True:
        _, tickets = await asyncio.to_thread(rows, service)
        mine = [t for t in tickets if t.fingerprint == REPEAT_FP]
        if mine:
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"fault 'rs-007 first': no ticket for {REPEAT_FP} within {before} s")
        await asyncio.sleep(0.1)
    at = service.parts.clock.now()

    def close() -> None:
        with service.parts.sessions() as session:
            close_ticket(session, mine[0].id, at=at)
            session.commit()

    await asyncio.to_thread(close)
    return at


def technicians_arrive(service: Service, asset_id: str) -> int:
    with service.parts.sessions() as session:
        config = service.parts.config
        row = start_inspection(session, config, site_id=config.asset(asset_id).site, asset_id=asset_id,
                               kind="regulator_round", in_charge="Zhang San", people=["Li Si"], actor="zhang.san",
                               at=service.parts.clock.now())
        session.commit()
        assert row.id == 1, "the table's suppressed_by names inspection 1"
        return row.id


def technicians_leave(service: Service, inspection_id: int) -> None:
    with service.parts.sessions() as session:
        finish_inspection(session, inspection_id, actor="zhang.san", at=service.parts.clock.now())
        session.commit()


async def polls_after(service: Service, count: int, *, timeout_s: float) -> None:
    """Wait until every station has been polled `count` more times: the pipeline moved on."""
    health = service.parts.health
    ids = [a.id for a in service.parts.config.assets]
    start = {i: health.get(i).polls_ok for i in ids}
    for i in ids:
        await health.wait_for(i, lambda h, n=start[i] + count: h.polls_ok >= n, timeout_s=timeout_s)


# Every hour once, each database at two of them (each run is ~27 s of real time: the whole
# matrix of 4 hours x 2 databases doubled that for what the ticket writer's tests on both
# databases already cover).
@pytest.mark.parametrize(("clock", "database_url"), [("03:00", "postgresql"), ("08:30", "sqlite"),
                                                     ("12:30", "postgresql"), ("20:00", "sqlite")], indirect=True)
async def test_every_fault_of_the_script_is_detected_held_or_ignored_as_expected(fleet, clock, tmp_path,
                                                                                   database_url):
    site_time = clock.now().astimezone(ZoneInfo(TIME_ZONE)).strftime("%H:%M")
    faults = table(site_time)
    script = Script(tuple(f.step for f in faults))
    configured_at = clock.now()
    raw = raw_config(fleet, tmp_path, database_url, now=configured_at)
    config = config_from_dict(raw)
    rules = {r.id: r for r in config.rules}
    window_end = next(w.end for w in config.maintenance_windows if w.id == "mw-rs-016")
    budget = Budget(poll_s=POLL_S, resolve_no_data_s=BACKOFF_MAX_S + POLL_S + 1.0)
    applied: dict[str, Applied] = {}

    async with Service(raw, clock=clock) as service:
        assert await asyncio.to_thread(rows, service) == ([], []), "a clean start raises nothing"
        inspection_id = await asyncio.to_thread(technicians_arrive, service, "rs-018")
        # A rate is judged over a window of history: let every station build one first.
        await polls_after(service, int(RATE_WINDOW_S / POLL_S) + 2, timeout_s=RATE_WINDOW_S + 5)
        async with asyncio.TaskGroup() as group:  # one failing cancels the other: no fault left playing
            playing = group.create_task(
                play(script, {R: fleet}, clock=clock, on_applied=lambda a: applied.__setitem__(a.step.label, a)))
            closing = group.create_task(desk_closes_the_first_ticket(service, before=6.0))
        played, closed_at = playing.result(), closing.result()
        await asyncio.to_thread(technicians_leave, service, inspection_id)
        assert applied == {a.step.label: a for a in played}
        assert closed_at < applied["rs-007 again"].started_at, "the desk closed the ticket after the repeat began"
        door = applied["rs-016/door_open@0"]
        assert door.ended_at > window_end > door.started_at, (
            "setup: the service took too long to start for mw-rs-016 to end during rs-016's fault")

        overrides = [
            Tickets("rs-007/power", occurrences=(1, 1), priorities=(2, 1), repeat_of_previous=(False, True),
                    closed=(True, False)),
            Tickets("rs-016/door", occurrences=(1,), priorities=(3,), opened_after=window_end),
            Tickets("rs-004/gas", occurrences=(1,), priorities=(1,)),  # stepped up
        ]
        wanted_tickets = expected_tickets(faults, applied, rules=rules, overrides=overrides)

        def verdict() -> list[str]:
            alerts, tickets = rows(service)
            found = check_alerts(faults, applied, alerts, rules=rules, budget=budget)
            return found.problems + check_tickets(wanted_tickets, tickets, alerts).problems

        # Await the last resolutions (the flapping door settles a window after it stops).
        deadline = time.monotonic() + FLAP_WINDOW_S + 5.0
        while (problems := await asyncio.to_thread(verdict)) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        # Then let the pipeline run on a little: nothing more may appear.
        await polls_after(service, 4, timeout_s=10)
        alerts, tickets = await asyncio.to_thread(rows, service)
        found = check_alerts(faults, applied, alerts, rules=rules, budget=budget)
        problems = found.problems + check_tickets(wanted_tickets, tickets, alerts).problems
        problems += [f"ticket {t.id} ({t.title}) went to the {t.desk} desk; at {site_time} on a Thursday it is "
                     f"{SITE_TIMES[site_time]}'s" for t in tickets if t.desk != SITE_TIMES[site_time]]
        leak = applied[GAS_AFTER_OUTAGE].started_at
        [gas] = [t for t in tickets if t.asset_id == "rs-020" and t.fault == "gas"] or [None]
        budget_s = POLL_S + rules["gas-high"].for_s + 1.0
        if gas is None or not timedelta(0) <= gas.opened_at - leak <= timedelta(seconds=budget_s):
            problems.append(f"{GAS_AFTER_OUTAGE}: started {leak.isoformat()}, ticket {gas and gas.opened_at}; "
                            f"expected within {budget_s:g} s")

        [door] = [a for a in alerts if a.fingerprint == "rs-016/door-open/door_open"]
        actions = await asyncio.to_thread(alert_history, service, door.id)
        if door.started_at >= window_end:
            problems.append(f"fault 'rs-016/door_open@0': fired {door.started_at}, after mw-rs-016 ended {window_end}")
        if "announced" not in actions:
            problems.append(f"fault 'rs-016/door_open@0': held alert never announced after mw-rs-016; audit {actions}")

    print(f"\n{site_time}: {len(script)} steps, {len(alerts)} alerts, {len(tickets)} tickets\n"
          f"{delay_table(found.measured)}")
    assert not problems, "\n".join(problems)
    assert len(tickets) == sum(len(t.occurrences) for t in wanted_tickets.values())


def test_a_flapping_alert_is_marked_flapping_with_an_even_flap_transitions(tmp_path):
    """With an even flap_transitions (the example's 4) the change that makes a fingerprint
    flapping is a resolve turned into FIRING while the alert already fires: the writer must
    mark the firing alert, not drop the news."""
    raw = demo_raw_config({"rs-001": 1502}, data_dir=tmp_path, host="127.0.0.1", port=0, poll_interval_s=POLL_S,
                          token_sha256="0" * 64)
    raw["rules"] = [r for r in RULES if r["id"] == "door-open"]
    raw["rules_engine"] = {"flap_transitions": 4, "flap_window_s": 600.0}
    parts = build_components(config_from_dict(raw))
    try:
        writer = TicketWriter(sessions=parts.sessions, config=parts.config)
        t0 = parts.clock.now() + timedelta(seconds=1)
        for i, door in enumerate([1, 0, 1, 0, 1, 0, 1]):  # a chattering door contact, one sample a second
            at = t0 + timedelta(seconds=i)
            sample = Sample("rs-001", "door_open", at, float(door), "state")
            writer.apply(parts.engine.evaluate(parts.engine.batch([sample]), now=at))
        with parts.sessions() as session:
            alerts = session.scalars(select(AlertRow).order_by(AlertRow.id)).all()
            [ticket] = session.scalars(select(TicketRow)).all()
        assert ticket.occurrences == 2, "no churn: the flapping is one ticket"
        assert [a.state for a in alerts] == ["resolved", "firing"]
        assert "flapping" in alerts[-1].summary, f"the firing alert does not say it is flapping: {alerts[-1].summary!r}"
    finally:
        parts.close()
