"""The demo's scheduled regulator-station faults, judged by the demo's own configuration
(the example rules and fault groups) at any hour: one ticket per fault.

Virtual time: the simulators' pure model gives each station's values at 5 s polls from a
given site-local hour, and the engine and the ticket writer judge them as the running
service would (the sockets are covered by test_ground_truth.py). A quarter of an hour of
the demo takes a second, at 03:00, 08:30, 12:30 and 20:00.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from sitewatch.components import build_components
from sitewatch.config.load import config_from_dict
from sitewatch.demo import SCHEDULE, SITES, demo_raw_config
from sitewatch.domain.samples import Sample
from sitewatch.simulators.regulator.faults import ActiveFault, fault_params
from sitewatch.simulators.regulator.model import reading_at
from sitewatch.simulators.regulator.spec import make_station_specs
from sitewatch.storage.repository import sync_inventory
from sitewatch.storage.tables import AlertRow, TicketRow
from sitewatch.tickets.writer import TicketWriter
from tests.serving import FixedClock

DAY = date(2026, 12, 3)
POLL_S = 5.0  # the demo's poll interval
RUN = timedelta(minutes=15)
LEAD = timedelta(minutes=5)  # the demo starts its schedule this long after the stations came up here
STATIONS = 12


def station_faults(start: datetime) -> dict[str, list[ActiveFault]]:
    """The demo's schedule for regulator stations, as faults with their start and end."""
    began: dict[tuple[str, str], datetime] = {}
    out: dict[str, list[tuple[ActiveFault, datetime]]] = {}
    for at_s, asset_id, fault, inject in SCHEDULE:
        if not asset_id.startswith("rs-"):
            continue
        at = start + LEAD + timedelta(seconds=at_s)
        if inject:
            began[(asset_id, fault)] = at
        else:
            out.setdefault(asset_id, []).append(
                (ActiveFault(fault, began.pop((asset_id, fault)), fault_params(fault, {})), at))
    assert not began, f"the schedule leaves faults on: {began}"
    return out


def readings(spec, at: datetime, boot_at: datetime, faults) -> list[Sample]:
    active = [f for f, end in faults if f.started_at <= at < end]
    if any(f.name == "comm_loss" for f in active):
        return []
    reading = reading_at(spec, at, boot_at=boot_at, faults=[f for f in active if f.name != "comm_loss"])
    return [Sample(spec.station_id, channel, at, float(getattr(reading, channel)), unit)
            for channel, unit in UNITS.items()]


UNITS = {"inlet_mpa": "MPa", "outlet_kpa": "kPa", "flow_nm3h": "Nm3/h", "temperature_c": "degC",
         "filter_dp_kpa": "kPa", "gas_lel_pct": "%LEL", "slam_shut_closed": "state", "relief_open": "state",
         "door_open": "state", "mains_ok": "state", "battery_v": "V", "uptime_s": "s"}


@pytest.mark.parametrize("site_time", ["03:00", "08:30", "12:30", "20:00"])
def test_each_scheduled_station_fault_of_the_demo_is_one_ticket_at_any_hour(tmp_path, site_time):
    start = datetime.combine(DAY, time.fromisoformat(site_time), ZoneInfo(SITES[0][4]))
    specs = make_station_specs(STATIONS, seed=2026)
    raw = demo_raw_config({s.station_id: 1502 for s in specs}, data_dir=tmp_path, host="127.0.0.1", port=0,
                          poll_interval_s=POLL_S, token_sha256="0" * 64)
    parts = build_components(config_from_dict(raw), clock=FixedClock(start))
    try:
        with parts.sessions() as session:
            sync_inventory(session, parts.config, actor="config", now=start)
            session.commit()
        writer = TicketWriter(sessions=parts.sessions, config=parts.config)
        faults = station_faults(start)
        at = start
        while at < start + RUN:
            samples = [x for spec in specs for x in readings(spec, at, start, faults.get(spec.station_id, []))]
            writer.apply(parts.engine.evaluate(parts.engine.batch(samples), now=at))
            at += timedelta(seconds=POLL_S)
        with parts.sessions() as session:
            tickets = session.scalars(select(TicketRow).order_by(TicketRow.id)).all()
            alerts = session.scalars(select(AlertRow).order_by(AlertRow.id)).all()
    finally:
        parts.close()
    by_fault = {(t.asset_id, t.fault): t for t in tickets}
    assert sorted(by_fault) == [("rs-003", "pressure-control"), ("rs-007", "downstream-loss"),
                                ("rs-011", "communication")], [(t.asset_id, t.title) for t in tickets]
    assert len(tickets) == 3, "one ticket per fault"
    failure = by_fault[("rs-003", "pressure-control")]
    on_failure = {a.rule_id for a in alerts if a.ticket_id == failure.id}
    assert {"outlet-high", "relief-venting"} <= on_failure, on_failure
    assert failure.priority == 1
    assert all(a.ticket_id is not None for a in alerts), [a.summary for a in alerts if a.ticket_id is None]
    assert not [a.summary for a in alerts if a.rule_id == "night-creep"], "no fault here is a night creep"
