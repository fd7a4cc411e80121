"""A small world for hostile requests: the example configuration (customer ``citygas``, site
``north``, station ``rs-north-01``), its inventory, a minute of samples and one open
ticket, with a bearer token per role and a viewer scoped to the one customer (whose
requests go through api/scope.guard, which the unscoped roles skip)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from fastapi import FastAPI

from sitewatch.api.app import create_app
from sitewatch.components import Components, build_components
from sitewatch.config.load import config_from_dict
from sitewatch.demo import example_config
from sitewatch.domain.alerts import AlertState, AlertTransition, Severity
from sitewatch.domain.samples import Sample
from sitewatch.domain.time import UTC
from sitewatch.storage.repository import sync_inventory
from sitewatch.tickets.writer import TicketWriter
from tests.serving import FixedClock, token_entry

NOW = datetime.now(UTC).replace(microsecond=0)
ROLES = ("viewer", "dispatcher", "technician", "manager", "admin")
TOKENS = {role: f"hostile-{role}-token" for role in ROLES} | {"scoped viewer": "hostile-scoped-viewer-token"}
SITE, CUSTOMER, ASSET = "north", "citygas", "rs-north-01"


def build_world(data_dir: Path) -> tuple[Components, FastAPI]:
    raw = example_config()
    raw["storage"] = {"data_dir": str(data_dir)}
    raw["api"] = {"tokens": [token_entry(TOKENS[role], name=role, role=role) for role in ROLES]
                  + [token_entry(TOKENS["scoped viewer"], name="scoped", role="viewer", customers=[CUSTOMER])]}
    parts = build_components(config_from_dict(raw))
    parts.clock = FixedClock(NOW)
    parts.store.write([Sample(ASSET, "outlet_kpa", NOW - timedelta(seconds=s), 2.5, "kPa") for s in range(0, 60, 5)])
    with parts.sessions() as session:
        sync_inventory(session, parts.config, actor="test", now=NOW)
        session.commit()
    TicketWriter(sessions=parts.sessions, config=parts.config).apply([
        AlertTransition(f"{ASSET}/outlet-high/outlet_kpa", ASSET, "outlet-high", "outlet_kpa", AlertState.FIRING,
                        NOW - timedelta(minutes=1), Severity.CRITICAL, 3.1, "kPa", "outlet high")
    ])
    return parts, create_app(parts)
