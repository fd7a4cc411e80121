"""A small fleet with a past, for the asset page and trend tests: the example's regulator
station and alarm host plus a camera, and another customer's station for scoping.

The station's outlet has a month of history, two alerts (one resolved, one firing) and a field reading; the camera's latest
picture check and the alarm host's zone alarm are its live values.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx

from sitewatch.api.app import create_app
from sitewatch.components import Components, build_components
from sitewatch.config.load import config_from_dict
from sitewatch.demo import example_config
from sitewatch.domain.alerts import AlertState, AlertTransition, Severity
from sitewatch.domain.samples import Quality, Sample
from sitewatch.domain.time import UTC
from sitewatch.i18n.messages import Channel as MessageChannel
from sitewatch.i18n.messages import Message, StateValue
from sitewatch.inspections.records import record_reading
from sitewatch.inspections.visits import start_inspection
from sitewatch.storage.repository import record_reported_facts, sync_inventory
from sitewatch.tickets.writer import TicketWriter
from tests.logins import add_role_users
from tests.serving import FixedClock, served

NOW = datetime(2026, 3, 10, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
STATION, CAMERA, HOST, OTHERS = "rs-north-01", "cam-north-01", "ah-north-01", "rs-south-01"
HISTORY = timedelta(days=31)
CAMERA_VALUES = {
    "reachable": (1.0, "state"), "clock_offset_s": (1.2, "s"), "snapshot_ok": (1.0, "state"),
    "picture_ok": (1.0, "state"), "picture_black": (0.0, "state"), "picture_overexposed": (0.0, "state"),
    "picture_uniform": (0.0, "state"), "picture_frozen": (0.0, "state"), "picture_defocus": (0.0, "state"),
    "picture_mean_level": (118.3, "level"), "picture_laplacian_var": (790.227, "score"),
    "picture_change": (3.21, "level"), "motion": (0.0, "state"), "tamper": (0.0, "state"),
    "video_loss": (0.0, "state"), "storage_failure": (0.0, "state"),
}
HOST_VALUES = {"online": 1.0, "zone_03_alarm": 1.0, "tamper": 0.0, "armed": 1.0, "mains_ok": 1.0, "battery_low": 0.0}
CAMERA_FACTS = {"manufacturer": "Hikvision", "model": "DS-2CD2143G2-I", "firmware": "V5.7.3", "serial": "K12345678",
                "hardware_id": "88"}


# Bearer tokens: a technician who sees every customer, and one who sees only the other.
TECHNICIAN, SOUTH_TECHNICIAN = "tech-token", "south-tech-token"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _token(token: str, name: str, customers: list[str]) -> dict:
    return {"name": name, "sha256": hashlib.sha256(token.encode()).hexdigest(), "role": "technician",
            "customers": customers}


def fleet_config(data_dir: Path) -> dict:
    raw = example_config()
    raw["storage"] = {"data_dir": str(data_dir)}
    raw["api"] = {"tokens": [_token(TECHNICIAN, "tech", []), _token(SOUTH_TECHNICIAN, "south-tech", ["southgas"])]}
    raw["customers"].append({"id": "southgas", "name": "South Gas Co."})
    raw["sites"].append({"id": "south", "customer": "southgas", "name": "South district", "time_zone": "Asia/Shanghai",
                         "sla_zone": "ring2"})
    station = raw["assets"][0]
    raw["assets"] += [
        {"id": CAMERA, "site": "north", "kind": "camera", "name": "North 01 gate camera", "poll_interval_s": 30.0,
         "onvif": {"host": "127.0.0.1", "port": 18080, "credential": CAMERA}},
        {**station, "id": OTHERS, "site": "south", "name": "South 01 regulator station"},
    ]
    return raw


def outlet(at: datetime) -> float:
    """A daily swing around the 2.5 kPa set point."""
    return 2.5 + 0.1 * math.sin(at.timestamp() / 86400 * 2 * math.pi)


def samples() -> list[Sample]:
    # The outlet, denser towards now (as dense as each range's buckets need): every 10 min
    # for a month, every minute in the last day, every 5 s in the last two hours.
    ages = [*range(int(HISTORY.total_seconds()), 86400, -600), *range(86400, 7200, -60), *range(7200, 0, -5)]
    out = [Sample(STATION, "outlet_kpa", NOW - timedelta(seconds=s), outlet(NOW - timedelta(seconds=s)), "kPa")
           for s in ages]
    last = NOW - timedelta(seconds=5)
    out += [Sample(STATION, "door_open", last, 1.0, "state"), Sample(STATION, "slam_shut_closed", last, 0.0, "state"),
            Sample(STATION, "gas_lel_pct", last, 1.5, "%LEL"), Sample(STATION, "flow_nm3h", last, 812.44, "Nm3/h"),
            Sample(STATION, "inlet_mpa", last, math.nan, "MPa", Quality.COMM_ERROR),
            Sample(OTHERS, "outlet_kpa", last, 2.5, "kPa")]
    out += [Sample(CAMERA, c, NOW - timedelta(seconds=10), v, u) for c, (v, u) in CAMERA_VALUES.items()]
    out += [Sample(HOST, c, NOW - timedelta(seconds=20), v, "state") for c, v in HOST_VALUES.items()]
    return out


def _alert(rule: str, channel: str, state: AlertState, at: datetime, severity: Severity, value: float,
           unit: str, asset: str = STATION) -> AlertTransition:
    """An alert with the English summary alone, as rows written before summaries were messages."""
    return AlertTransition(f"{asset}/{rule}/{channel}", asset, rule, channel, state, at, severity, value, unit,
                           f"{asset}: {channel} {value}")


def _state_alert(rule: str, channel: str, at: datetime, severity: Severity, asset: str) -> AlertTransition:
    """A state alert firing, its summary a message as the rules compose it (rules/threshold.py)."""
    summary = Message.of("%(asset)s: %(channel)s: %(state)s%(held)s", asset=asset, channel=MessageChannel(channel),
                         state=StateValue(channel, 1.0), held="")
    return AlertTransition(f"{asset}/{rule}/{channel}", asset, rule, channel, AlertState.FIRING, at, severity, 1.0,
                           "state", summary.text(), summary_msg=summary)


ALERTS = [
    _alert("outlet-high", "outlet_kpa", AlertState.FIRING, NOW - timedelta(hours=3), Severity.CRITICAL, 3.1, "kPa"),
    _alert("outlet-high", "outlet_kpa", AlertState.RESOLVED, NOW - timedelta(minutes=150), Severity.CRITICAL, 2.6,
           "kPa"),
    _state_alert("door-open", "door_open", NOW - timedelta(minutes=10), Severity.WARNING, STATION),
    _state_alert("intrusion", "zone_03_alarm", NOW - timedelta(minutes=1), Severity.MAJOR, HOST),
]


@dataclass
class Fleet:
    parts: Components
    client: httpx.AsyncClient


@asynccontextmanager
async def fleet(tmp_path: Path, monkeypatch, *, users: bool = False) -> AsyncIterator[Fleet]:  # noqa: ANN001
    """The fleet served, its client sending the unscoped technician's token; with ``users``,
    also one user per role (tests/logins.py: 1-2 s of password hashing)."""
    from sitewatch.vault.keys import generate_key

    monkeypatch.setenv("SITEWATCH_VAULT_KEY", generate_key())  # a camera's credentials need the vault
    parts = build_components(config_from_dict(fleet_config(tmp_path)), clock=FixedClock(NOW))
    try:
        parts.store.write(samples())
        with parts.sessions() as session:
            sync_inventory(session, parts.config, actor="test", now=NOW - HISTORY)
            record_reported_facts(session, CAMERA, CAMERA_FACTS, actor="collector", now=NOW - HISTORY)
            session.commit()
        TicketWriter(sessions=parts.sessions, config=parts.config).apply(ALERTS)
        with parts.sessions() as session:
            visit = start_inspection(session, parts.config, site_id="north", asset_id=STATION, kind="regulator_round",
                                     in_charge="Li Wei", people=["Zhang Min"], actor="technician",
                                     at=NOW - timedelta(minutes=30))
            record_reading(session, parts.config, parts.store, visit.id, asset_id=STATION, channel="outlet_kpa",
                           value=2.62, unit="kPa", taken_at=NOW - timedelta(minutes=20), actor="technician",
                           at=NOW - timedelta(minutes=19))
            session.commit()
        if users:
            add_role_users(parts.sessions)
        parts.health.register(STATION)
        parts.health.record_success(STATION, at=NOW - timedelta(seconds=5))
        async with served(create_app(parts)) as client:
            client.headers.update(bearer(TECHNICIAN))
            yield Fleet(parts, client)
    finally:
        parts.close()
