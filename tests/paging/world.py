"""A paging world for the planner and sender tests: the example config plus a [paging]
section — two desks with rotas, people on e-mail and SMS, a group chat per desk — and a
clock the test moves."""

from __future__ import annotations

import tomllib
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from sitewatch.config.load import config_from_dict
from sitewatch.config.models import Config
from sitewatch.domain.alerts import AlertState, AlertTransition, Severity
from sitewatch.domain.time import UTC
from sitewatch.storage.paging import DeliveryRow

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "sitewatch.example.toml"
# Thursday 2026-12-03 02:30 in Shanghai: the dispatch centre's night.
NIGHT = datetime(2026, 12, 2, 18, 30, tzinfo=UTC)
# Thursday 2026-12-03 10:00 in Shanghai: the operations desk's office hours.
OFFICE = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)


class StepClock:
    """Reads ``now`` until the test moves it; monotonic time moves with it."""

    def __init__(self, now: datetime) -> None:
        self.now_value = now
        self._start = now

    def now(self) -> datetime:
        return self.now_value

    def monotonic(self) -> float:
        return (self.now_value - self._start).total_seconds()

    def advance(self, **delta: float) -> datetime:
        self.now_value += timedelta(**delta)
        return self.now_value


def paging_raw(hook_url: str, *, storm_burst: int = 1, repeat_every_min: float | None = 30) -> dict:
    """The [paging] section: every group channel is a webhook at ``hook_url`` (one receiver
    sees all), personal channels are e-mail and SMS (not sent in the planner tests)."""
    return {
        "base_url": "https://sitewatch.example",
        "retry_first_s": 5, "retry_max_s": 60, "give_up_after_min": 30,
        "storm": {"window_s": 60, "per_site_burst": storm_burst},
        "people": {
            "zhang": {"name": "张伟", "phone": "13800000001", "email": "zhang@example.com", "channels": ["sms"]},
            "li": {"name": "李娜", "phone": "13800000002", "channels": ["sms"], "aliases": ["lina"]},
            "wang": {"name": "王强", "phone": "13800000003", "channels": ["sms"]},
            "liu": {"name": "刘洋", "phone": "13800000004", "email": "liu@example.com", "channels": ["mail"]},
            "chen": {"name": "陈静", "locale": "en", "email": "chen@example.com", "channels": ["mail"]},
            "tech": {"name": "赵师傅", "phone": "13800000009", "channels": ["sms"], "aliases": ["zhao"]},
        },
        "channels": {
            "mail": {"kind": "email", "host": "127.0.0.1", "port": 2525, "security": "none",
                     "sender": "sitewatch@example.com"},
            "sms": {"kind": "sms", "request": {"url": "http://127.0.0.1:9/sms", "form": {"to": "{phone}",
                                                                                       "text": "{text}"}}},
            "ops-hook": {"kind": "webhook", "url": f"{hook_url}/ops", "per_minute": 600},
            "dispatch-hook": {"kind": "webhook", "url": f"{hook_url}/dispatch", "per_minute": 600, "locale": "en"},
        },
        "desks": {
            "operations": {"rota": {"weekly": ["zhang", "li"], "weekly_from": "2026-11-30"}, "lead": "liu",
                           "manager": "chen", "groups": ["ops-hook"]},
            "dispatch-centre": {"rota": {"weekly": ["wang"], "weekly_from": "2026-11-30"}, "lead": "liu",
                                "manager": "chen", "groups": ["dispatch-hook"]},
        },
        "routes": [
            {"name": "urgent", "severities": ["critical", "major"], "repeat_every_min": repeat_every_min,
             "levels": [{"after_min": 0, "to": ["on_call", "groups"]}, {"after_min": 10, "to": ["lead"]},
                        {"after_min": 30, "to": ["manager"]}]},
        ],
    }


def paging_config(hook_url: str = "http://127.0.0.1:9", *, stations: int = 0, **options) -> Config:
    """The example config with [paging]; ``stations`` more regulator stations at site north."""
    raw = tomllib.loads(EXAMPLE.read_text())
    raw["paging"] = paging_raw(hook_url, **options)
    template = next(a for a in raw["assets"] if a["id"] == "rs-north-01")
    raw["assets"] += [template | {"id": f"rs-north-x{i:03d}", "name": f"North X{i:03d}"} for i in range(stations)]
    return config_from_dict(raw)


def firing(asset: str, at: datetime, *, rule: str = "outlet-high", channel: str = "outlet_kpa",
           severity: Severity = Severity.CRITICAL, state: AlertState = AlertState.FIRING) -> AlertTransition:
    return AlertTransition(
        fingerprint=f"{asset}/{rule}/{channel}", asset_id=asset, rule_id=rule, channel=channel, state=state, at=at,
        severity=severity, value=3.1, unit="kPa", summary=f"{asset}: {channel} 3.1 kPa above 2.9 kPa for 10 s",
    )


def deliveries(sessions, **where) -> list[DeliveryRow]:
    with sessions() as session:
        query = select(DeliveryRow).order_by(DeliveryRow.id)
        for column, value in where.items():
            query = query.where(getattr(DeliveryRow, column) == value)
        return list(session.scalars(query).all())


def told(sessions, kind: str) -> list[str]:
    """Who was told ``kind`` (recipient keys), in the order planned."""
    return [d.recipient for d in deliveries(sessions, kind=kind)]
