"""A cheap test of "has anything the control room shows changed?", read from the database.

Read from the database rather than from events in this process: the rules may run in
another process (``sitewatch rules``), and the API sees their work only there. Every
change to an alert or a ticket writes an audit row in the same transaction
(tickets/writer.py, tickets/workflow.py, tickets/deadlines.py, inspections/visits.py),
so the newest audit id moves with each of them; the rest covers what changes with time
alone — a mute running out, a maintenance window opening — and which devices are offline,
as the process's DeviceHealthReader says: its own collector's registry, or what the
collectors saved to the database when it polls nothing (storage/device_health.py).

One round trip of indexed aggregates (primary keys and the firing alerts' partial
index): well under a millisecond at 10,000 assets and 1,000 firing alerts.
"""

from __future__ import annotations

from collections.abc import Hashable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sitewatch.api.context import DeviceHealthReader
from sitewatch.config.models import Config
from sitewatch.domain.alerts import AlertState
from sitewatch.domain.health import HealthState
from sitewatch.storage.tables import AlertRow, AuditRow, InspectionRow

Signature = tuple[Hashable, ...]
_FIRING = AlertRow.state == AlertState.FIRING.value


def signature(session: Session, config: Config, *, now: datetime, unreachable: frozenset[str]) -> Signature:
    in_progress = (InspectionRow.ended_at.is_(None), InspectionRow.started_at <= now)
    row = session.execute(select(
        select(func.max(AuditRow.id)).scalar_subquery(),
        select(func.max(AlertRow.id)).scalar_subquery(),
        select(func.count()).select_from(AlertRow).where(_FIRING).scalar_subquery(),
        select(func.count()).select_from(AlertRow).where(_FIRING, AlertRow.muted_until > now).scalar_subquery(),
        select(func.count()).select_from(InspectionRow).where(*in_progress).scalar_subquery(),
        select(func.max(InspectionRow.id)).where(*in_progress).scalar_subquery(),
    )).one()
    return (*row, active_windows(config, now), unreachable)


def active_windows(config: Config, at: datetime) -> frozenset[tuple[str, str, str]]:
    """(window id, "asset" or "site", its id) of every maintenance window target covered at ``at``.

    Per target rather than per asset of the fleet (sitewatch.tickets.holds.Holds.at_work asks every
    asset): a window names a handful of assets or sites, the fleet has thousands."""
    active = set()
    for window in config.maintenance_windows:
        for asset_id in window.assets:
            site = config.site(config.asset(asset_id).site)
            if window.covers(at, asset_id=asset_id, site_id=site.id, time_zone=site.time_zone):
                active.add((window.id, "asset", asset_id))
        for site_id in window.sites:
            site = config.site(site_id)
            if window.covers(at, asset_id="", site_id=site_id, time_zone=site.time_zone):
                active.add((window.id, "site", site_id))
    return frozenset(active)


def unreachable_devices(health: DeviceHealthReader) -> frozenset[str]:
    """The devices marked offline: by this process's collector, or by the collectors that saved
    their health to the database (an API process's reader)."""
    return frozenset(h.device_id for h in health.all() if h.state is HealthState.OFFLINE)
