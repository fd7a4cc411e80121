"""A small fleet in every state the control room shows, for tests/api/test_control_room.py
and tests/api/test_live.py.

Two customers: City Gas (site "north", Shanghai) and Other Gas (site "south", Kolkata, so
local times differ by 2 h 30 min). On north, one asset per status:

    rs-north-01  critical     outlet high (critical) + relief venting (major): one fault, one ticket
    rs-north-02  warning      door open (warning)
    rs-north-03  maintenance  an inspection in progress on it
    rs-north-04  offline      its no-data alert (an offline rule) pages
    rs-north-05  held         depends on rs-north-04: its outlet-high alert is held
    rs-north-06  maintenance  a maintenance window covers it; its door alert is held by it
    rs-north-07  ok
    ah-north-01  offline      the collector cannot reach it (device health), no alert
    rs-south-01  warning      gas 25 %LEL (warning), Other Gas's
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx

from sitewatch.api.app import create_app
from sitewatch.collector.errors import DeviceUnreachable
from sitewatch.components import Components, build_components
from sitewatch.config.load import config_from_dict
from sitewatch.demo import example_config
from sitewatch.domain.alerts import AlertState, AlertTransition, Severity
from sitewatch.domain.time import UTC
from sitewatch.inspections.visits import start_inspection
from sitewatch.storage.repository import sync_inventory
from sitewatch.tickets.writer import TicketWriter
from tests.logins import add_role_users, log_in
from tests.serving import FixedClock, served

# A Wednesday, 10:00 in Shanghai (office hours: the operations desk) and 07:30 in Kolkata
# (before office hours: the dispatch centre).
NOW = datetime(2026, 3, 4, 2, 0, tzinfo=UTC)


def world_config(tmp_path: Path, database_url: str | None = None) -> dict:
    raw = example_config()
    raw["storage"] = {"data_dir": str(tmp_path)} | ({"database_url": database_url} if database_url else {})
    raw["customers"].append({"id": "othergas", "name": "Other Gas"})
    raw["sites"].append({"id": "south", "customer": "othergas", "name": "South district", "time_zone": "Asia/Kolkata",
                         "sla_zone": "ring2", "technicians": {"default": "Wang Fang"}})
    raw["sites"][0]["technicians"] = {"default": "Li Wei"}
    station = dict(raw["assets"][0])
    for n in range(2, 8):
        raw["assets"].append(station | {"id": f"rs-north-0{n}", "name": f"North 0{n} regulator station",
                                        "modbus": station["modbus"] | {"port": 15020 + n}})
    for asset in raw["assets"]:
        if asset["id"] == "rs-north-05":
            asset["depends_on"] = "rs-north-04"
    raw["assets"].append(station | {"id": "rs-south-01", "site": "south", "name": "South 01 regulator station",
                                    "modbus": station["modbus"] | {"port": 15030}})
    raw["maintenance_windows"] = [{"id": "valve-swap", "assets": ["rs-north-06"], "reason": "valve swap",
                                   "start": (NOW - timedelta(hours=1)).isoformat(),
                                   "end": (NOW + timedelta(hours=1)).isoformat()}]
    return raw


def fired(asset_id: str, rule_id: str, channel: str, severity: Severity, value: float, unit: str,
          at: datetime = NOW - timedelta(minutes=5)) -> AlertTransition:
    return AlertTransition(f"{asset_id}/{rule_id}/{channel}", asset_id, rule_id, channel, AlertState.FIRING, at,
                           severity, value, unit, f"{asset_id}: {channel} {value} {unit}")


STORY = (
    [fired("rs-north-01", "outlet-high", "outlet_kpa", Severity.CRITICAL, 3.1, "kPa"),
     fired("rs-north-01", "relief-venting", "relief_open", Severity.MAJOR, 1, "state"),
     fired("rs-north-02", "door-open", "door_open", Severity.WARNING, 1, "state"),
     fired("rs-north-04", "no-data", "outlet_kpa", Severity.MAJOR, None, "kPa")],
    [fired("rs-north-05", "outlet-high", "outlet_kpa", Severity.CRITICAL, 3.2, "kPa"),
     fired("rs-north-06", "door-open", "door_open", Severity.WARNING, 1, "state"),
     fired("rs-south-01", "gas", "gas_lel_pct", Severity.WARNING, 25.0, "%LEL")],
)


@dataclass
class World:
    parts: Components
    clock: FixedClock
    writer: TicketWriter
    app: object


@asynccontextmanager
async def world(tmp_path: Path, database_url: str | None = None) -> AsyncIterator[World]:
    clock = FixedClock(NOW)
    parts = build_components(config_from_dict(world_config(tmp_path, database_url)), clock=clock)
    try:
        with parts.sessions() as session:
            sync_inventory(session, parts.config, actor="test", now=NOW - timedelta(days=1))
            start_inspection(session, parts.config, site_id="north", asset_id="rs-north-03", kind="regulator_round",
                             in_charge="Li Wei", people=["Zhao Lei"], actor="test", at=NOW - timedelta(minutes=30))
            session.commit()
        add_role_users(parts.sessions)
        add_role_users(parts.sessions, customers=["othergas"], prefix="south-")
        writer = TicketWriter(sessions=parts.sessions, config=parts.config)
        for batch in STORY:
            writer.apply(batch)
        parts.health.register("ah-north-01")
        for _ in range(parts.config.collector.offline_after_failures):
            parts.health.record_failure("ah-north-01", at=NOW, error=DeviceUnreachable(device_id="ah-north-01", message="no route to host"))
        yield World(parts, clock, writer, create_app(parts))
    finally:
        parts.close()


@asynccontextmanager
async def logged_in(app, username: str) -> AsyncIterator[httpx.AsyncClient]:  # noqa: ANN001
    async with served(app) as client:
        await log_in(client, username)
        yield client
