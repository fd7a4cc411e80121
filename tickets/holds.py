"""Why an alert is recorded but pages nobody: the one place that decides.

An alert is *held* (``AlertRow.suppressed_by``) when, at the moment it fires:

* ``maintenance:<window>`` — a maintenance window covers its asset;
* ``inspection:<id>`` — technicians are at work on its site or asset (DOMAIN.md: testing
  lock-up pressure must not page the control room);
* ``offline:<asset>`` — its asset, or one it depends on (``Asset.depends_on``), is offline
  (an alert of a rule marked ``offline`` fires on it): the offline alert speaks for it.
  For ``release_grace_s`` after the asset is back it still holds what the outage caused:
  alerts that fired during it, and no-data alerts (their silence began during it). A
  fault whose condition began on fresh samples after the return pages at once;
* ``site-down:<site>`` — enough of its site's devices went silent together that the site
  (network, power) is the fault; only no-data alerts are held so, under one site ticket.

A rule says which of these may hold its alerts (``Rule.held_by``): a gas alarm lists only
``maintenance`` — an explicit window is the one thing that may keep a leak from paging.

The writer asks when an alert fires, and again on every tick for alerts still held: when
the reason has ended and the alert still fires, it is announced (a ticket opens). A
site-down hold is never released device by device: as a site comes back its devices
resolve one after another, and releasing the rest on the way would open a ticket storm;
the site's ticket stays open until a technician closes it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from sitewatch.config.models import Config
from sitewatch.domain.alerts import AlertState
from sitewatch.storage.tables import AlertRow, InspectionRow
from sitewatch.tickets.maintenance import covering

MAINTENANCE, INSPECTION, OFFLINE, SITE_DOWN = "maintenance", "inspection", "offline", "site-down"


@dataclass(frozen=True, slots=True)
class Fired:
    """What the holds need to know of an alert that fires (or fired) on an asset."""

    asset_id: str
    rule_id: str
    began_at: datetime | None = None  # when its condition began; None: when it fired


@dataclass(slots=True)
class HoldContext:
    """The facts of one moment, read once per batch of transitions."""

    at: datetime
    offline: set[str] = field(default_factory=set)  # assets with a firing offline alert
    back_since: dict[str, datetime] = field(default_factory=dict)  # offline alert last resolved
    inspections: list[tuple[int, str, str | None]] = field(default_factory=list)  # (id, site, asset)
    sites_down: set[str] = field(default_factory=set)


class Holds:
    def __init__(self, config: Config) -> None:
        self._config = config
        self._offline_rules = frozenset(r.id for r in config.rules if r.offline)
        self._no_data_rules = frozenset(r.id for r in config.rules if r.kind == "no_data")
        self._held_by = {r.id: frozenset(r.held_by) for r in config.rules}
        # How long an asset must have been back before what it held is announced: its
        # dependants' own data comes back within a poll or two and resolves them first.
        self._grace = timedelta(seconds=config.rules_engine.release_grace_s)

    def context(self, session: Session, *, at: datetime, fresh: Iterable[Fired] = ()) -> HoldContext:
        """The moment's facts from the database, plus alerts firing in this very batch."""
        fresh = list(fresh)
        ctx = HoldContext(at=at)
        if self._offline_rules:
            rows = session.execute(
                select(AlertRow.asset_id, AlertRow.state, AlertRow.resolved_at).where(
                    AlertRow.rule_id.in_(self._offline_rules),
                    (AlertRow.state == AlertState.FIRING.value) | (AlertRow.resolved_at >= at - self._grace),
                )
            ).all()
            for asset_id, state, resolved_at in rows:
                if state == AlertState.FIRING.value:
                    ctx.offline.add(asset_id)
                elif resolved_at is not None:
                    ctx.back_since[asset_id] = max(resolved_at, ctx.back_since.get(asset_id, resolved_at))
            ctx.offline.update(f.asset_id for f in fresh if f.rule_id in self._offline_rules)
        ctx.inspections = inspections_in_progress(session, at)
        ctx.sites_down = self._sites_down(session, fresh)
        return ctx

    def reason(self, ctx: HoldContext, fired: Fired, *, at: datetime | None = None) -> str | None:
        """Why an alert of ``fired`` should page nobody at ``at`` (default: the context's
        moment), or None: page."""
        at = at or ctx.at
        asset = self._config.asset(fired.asset_id)
        site = self._config.site(asset.site)
        allowed = self._held_by.get(fired.rule_id, frozenset())
        if MAINTENANCE in allowed:
            window = covering(self._config.maintenance_windows, at, asset_id=asset.id, site_id=site.id,
                              time_zone=site.time_zone)
            if window is not None:
                return f"{MAINTENANCE}:{window.id}"
        if INSPECTION in allowed:
            for inspection_id, site_id, asset_id in ctx.inspections:
                if site_id == site.id and asset_id in (None, asset.id):
                    return f"{INSPECTION}:{inspection_id}"
        if OFFLINE in allowed:
            # Its own offline alert is the one that speaks; anything else on it, or on an
            # asset reached through it, is a consequence.
            began = fired.began_at or at
            if fired.rule_id not in self._offline_rules and self._outage_caused(ctx, asset.id, fired, began, at):
                return f"{OFFLINE}:{asset.id}"
            for parent in self._ancestors(asset.id):
                if self._outage_caused(ctx, parent, fired, began, at):
                    return f"{OFFLINE}:{parent}"
        if SITE_DOWN in allowed and site.id in ctx.sites_down and fired.rule_id in self._no_data_rules:
            return f"{SITE_DOWN}:{site.id}"
        return None

    def at_work(self, session: Session, *, at: datetime) -> frozenset[str]:
        """The assets technicians may be operating at ``at``: under a maintenance window or
        an inspection in progress (of the asset, or of its whole site). The rules engine
        restarts what it learnt of such an asset's normal behaviour (night creep)."""
        inspected = inspections_in_progress(session, at)
        if not inspected and not self._config.maintenance_windows:
            return frozenset()  # the usual tick: nobody at work anywhere
        sites = {site_id for _, site_id, asset_id in inspected if asset_id is None}
        assets = {asset_id for _, _, asset_id in inspected if asset_id is not None}
        found = set()
        for asset in self._config.assets:
            time_zone = self._config.site(asset.site).time_zone
            if asset.site in sites or asset.id in assets or covering(
                    self._config.maintenance_windows, at, asset_id=asset.id, site_id=asset.site, time_zone=time_zone):
                found.add(asset.id)
        return frozenset(found)

    def releasable(self, reason: str) -> bool:
        return not reason.startswith(f"{SITE_DOWN}:")

    def _outage_caused(self, ctx: HoldContext, asset_id: str, fired: Fired, began: datetime, at: datetime) -> bool:
        """Whether ``asset_id`` being offline (or just back) explains the alert: while it is
        offline, anything; within the grace after its return, only what began before the
        return, and silences (no-data), whose cause is the outage itself."""
        if asset_id in ctx.offline:
            return True
        back = ctx.back_since.get(asset_id)
        if back is None or at - back >= self._grace:
            return False
        return began < back or fired.rule_id in self._no_data_rules

    def _ancestors(self, asset_id: str) -> list[str]:
        found, current = [], self._config.asset(asset_id).depends_on
        while current is not None and current not in found and current != asset_id:
            found.append(current)
            current = self._config.asset(current).depends_on
        return found

    def _sites_down(self, session: Session, fresh: list[Fired]) -> set[str]:
        """Sites where enough assets are silent at once (already, or in this batch) to blame
        the site rather than each device: a network outage silences them all together."""
        settings = self._config.rules_engine
        rules = self._no_data_rules
        if settings.site_down_min_assets is None or not rules:
            return set()
        firing = session.scalars(
            select(AlertRow.asset_id).where(AlertRow.state == AlertState.FIRING.value, AlertRow.rule_id.in_(rules))
        ).all()
        silent: dict[str, set[str]] = {}
        for asset_id in [*firing, *(f.asset_id for f in fresh if f.rule_id in rules)]:
            try:
                silent.setdefault(self._config.asset(asset_id).site, set()).add(asset_id)
            except KeyError:
                continue  # an alert of an asset no longer configured
        down = set()
        for site_id, assets in silent.items():
            total = sum(1 for a in self._config.assets if a.site == site_id)
            if len(assets) >= settings.site_down_min_assets and len(assets) >= settings.site_down_fraction * total:
                down.add(site_id)
        return down


def inspections_in_progress(session: Session, at: datetime) -> list[tuple[int, str, str | None]]:
    """(id, site, asset or None for the whole site) of the inspections under way at ``at``."""
    return [tuple(row) for row in session.execute(
        select(InspectionRow.id, InspectionRow.site_id, InspectionRow.asset_id).where(
            InspectionRow.ended_at.is_(None), InspectionRow.started_at <= at)
    ).all()]
