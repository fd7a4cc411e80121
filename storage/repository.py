"""Queries for the API and the workers, so no route or worker writes SQL inline.

Functions take a Session and return ORM rows (sitewatch.storage.tables). They may flush but never
commit: the caller owns the unit of work (`with factory.begin() as session: ...`), so a
change and its audit rows are committed together or not at all.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sitewatch.config.models import Asset, Config, Customer, Site
from sitewatch.domain.alerts import AlertState
from sitewatch.domain.tickets import TicketState
from sitewatch.domain.time import require_utc
from sitewatch.storage import audit_chain
from sitewatch.storage.paging import OutboxRow
from sitewatch.storage.tables import AlertRow, AssetRow, AuditRow, Base, CustomerRow, RulesStateRow, SiteRow, TicketRow

DEFAULT_LIMIT = 100
PAGED_ENTITIES = frozenset({"ticket", "alert"})  # their audited changes are what paging tells people of

# Inventory rows in foreign-key order (parents are written before their children and
# removed after them), with the columns the config owns.
_INVENTORY: tuple[tuple[str, type[Base], tuple[str, ...]], ...] = (
    ("customer", CustomerRow, ("name", "phone")),
    ("site", SiteRow, ("customer_id", "name", "address", "time_zone", "sla_zone")),
    ("asset", AssetRow, ("site_id", "kind", "name", "details")),
)


# --- audit ----------------------------------------------------------------------------


def audit(
    session: Session,
    *,
    at: datetime,
    actor: str,
    entity: str,
    entity_id: str,
    action: str,
    detail: Mapping[str, Any],
) -> AuditRow:
    """Append one audit row: the only function that writes to the audit log. The row is
    written when the transaction commits, chained to the one before it (storage/audit_chain.py). A change to a ticket or an alert
    also goes into the paging outbox, in the same transaction: paging learns of every such
    change that committed, and of none that did not."""
    at, detail = require_utc(at), audit_chain.normalised(detail)
    row = AuditRow(at=at, actor=actor, entity=entity, entity_id=entity_id, action=action, detail=detail)
    paged = [OutboxRow(audit=row)] if entity in PAGED_ENTITIES else []
    audit_chain.chain(session, row, *paged)  # written at the commit, with its place in the chain
    return row


# --- inventory ------------------------------------------------------------------------


def sync_inventory(session: Session, config: Config, *, actor: str, now: datetime) -> int:
    """Make customers, sites and assets match the config; returns the changes made.

    Each created, updated or deleted row gets one audit row (updates list only the
    changed fields, as {"old": ..., "new": ...}); an unchanged re-sync writes nothing.
    Deleting a row keeps its history: tickets and alerts refer to ids, not foreign keys.
    """
    now = require_utc(now)
    desired: dict[str, dict[str, dict[str, Any]]] = {
        "customer": {c.id: _customer_fields(c) for c in config.customers},
        "site": {s.id: _site_fields(s) for s in config.sites},
        "asset": {a.id: _asset_fields(a) for a in config.assets},
    }
    existing = {entity: {row.id: row for row in session.scalars(select(cls))} for entity, cls, _ in _INVENTORY}
    changes = 0

    for entity, cls, _columns in _INVENTORY:
        for entity_id, fields in desired[entity].items():
            row = existing[entity].get(entity_id)
            if row is None:
                session.add(cls(id=entity_id, **fields))
                audit(session, at=now, actor=actor, entity=entity, entity_id=entity_id, action="created", detail=fields)
                changes += 1
                continue
            changed = {k: {"old": getattr(row, k), "new": v} for k, v in fields.items() if getattr(row, k) != v}
            if changed:
                for key, value in changed.items():
                    setattr(row, key, value["new"])
                audit(session, at=now, actor=actor, entity=entity, entity_id=entity_id, action="updated", detail=changed)
                changes += 1
        session.flush()  # parents exist before children reference them

    for entity, _cls, columns in reversed(_INVENTORY):
        for entity_id, row in existing[entity].items():
            if entity_id not in desired[entity]:
                old = {k: getattr(row, k) for k in columns}
                session.delete(row)
                audit(session, at=now, actor=actor, entity=entity, entity_id=entity_id, action="deleted", detail=old)
                changes += 1
        session.flush()  # children are gone before their parents go
    return changes


def _customer_fields(customer: Customer) -> dict[str, Any]:
    return {"name": customer.name, "phone": customer.phone}


def _site_fields(site: Site) -> dict[str, Any]:
    return {
        "customer_id": site.customer,
        "name": site.name,
        "address": site.address,
        "time_zone": site.time_zone,
        "sla_zone": site.sla_zone,
    }


def _asset_fields(asset: Asset) -> dict[str, Any]:
    # Connection facts only: nothing secret goes into the database or the audit log (an
    # ONVIF camera names its vault entry, never the username or password).
    details: dict[str, Any] = {"poll_interval_s": asset.poll_interval_s}
    if asset.modbus is not None:
        details |= {"host": asset.modbus.host, "port": asset.modbus.port,
                    "device_id": asset.modbus.device_id, "profile": asset.modbus.profile}
    elif asset.onvif is not None:
        details |= {"host": asset.onvif.host, "port": asset.onvif.port, "credential": asset.onvif.credential,
                    "snapshot": asset.onvif.snapshot, "events": asset.onvif.events}
    elif asset.alarm_host is not None:
        details |= {"host_id": asset.alarm_host.host_id, "zones": asset.alarm_host.zones}
    return {"site_id": asset.site, "kind": asset.kind, "name": asset.name, "details": details}


def record_reported_facts(session: Session, asset_id: str, facts: dict[str, Any], *, actor: str, now: datetime) -> bool:
    """Keep what a device reports about itself (model, firmware, serial); audited when it
    changes — a firmware change nobody announced is worth seeing. Returns whether it did."""
    row = session.get(AssetRow, asset_id)
    if row is None or row.reported == facts:
        return False
    audit(session, at=require_utc(now), actor=actor, entity="asset", entity_id=asset_id, action="reported",
          detail={"old": row.reported, "new": facts})
    row.reported = facts
    return True


# ``site_ids`` in the list functions below is a customer scope (api/scope.py): only rows on
# these sites; None = every site.


def list_sites(session: Session, *, site_ids: Collection[str] | None = None) -> list[SiteRow]:
    stmt = select(SiteRow).order_by(SiteRow.id)
    if site_ids is not None:
        stmt = stmt.where(SiteRow.id.in_(site_ids))
    return list(session.scalars(stmt))


def list_assets(session: Session, *, site_id: str | None = None,
                site_ids: Collection[str] | None = None) -> list[AssetRow]:
    stmt = select(AssetRow).order_by(AssetRow.id)
    if site_id is not None:
        stmt = stmt.where(AssetRow.site_id == site_id)
    if site_ids is not None:
        stmt = stmt.where(AssetRow.site_id.in_(site_ids))
    return list(session.scalars(stmt))


def get_asset(session: Session, asset_id: str) -> AssetRow | None:
    return session.get(AssetRow, asset_id)


# --- alerts and tickets ---------------------------------------------------------------


def list_alerts(
    session: Session,
    *,
    state: AlertState | str | None = None,
    asset_id: str | None = None,
    site_ids: Collection[str] | None = None,
    limit: int = DEFAULT_LIMIT,
) -> list[AlertRow]:
    """Newest first. An unknown state raises ValueError rather than matching nothing."""
    stmt = select(AlertRow).order_by(AlertRow.started_at.desc(), AlertRow.id.desc()).limit(limit)
    if state is not None:
        stmt = stmt.where(AlertRow.state == AlertState(state).value)
    if asset_id is not None:
        stmt = stmt.where(AlertRow.asset_id == asset_id)
    if site_ids is not None:  # an alert names its asset only; the asset names its site
        stmt = stmt.where(AlertRow.asset_id.in_(select(AssetRow.id).where(AssetRow.site_id.in_(site_ids))))
    return list(session.scalars(stmt))


def alerts_of_ticket(session: Session, ticket: TicketRow) -> list[AlertRow]:
    """The alerts that paged on a ticket — the one that opened it, its occurrences and the
    symptoms that joined it — oldest first. Alerts recorded before alerts were linked to
    tickets are found by the ticket's fingerprint, as far as they overlap it."""
    legacy = (AlertRow.ticket_id.is_(None) & (AlertRow.fingerprint == ticket.fingerprint)
              & AlertRow.suppressed_by.is_(None)
              & (AlertRow.resolved_at.is_(None) | (AlertRow.resolved_at >= ticket.opened_at)))
    return list(session.scalars(
        select(AlertRow).where((AlertRow.ticket_id == ticket.id) | legacy).order_by(AlertRow.started_at, AlertRow.id)
    ))


def symptoms_of(session: Session, tickets: list[TicketRow]) -> dict[int, list[AlertRow]]:
    """Per ticket, the alerts that joined it as symptoms (not the one that named it, nor
    its re-fires), oldest first."""
    if not tickets:
        return {}
    named = {t.id: t.fingerprint for t in tickets}
    found: dict[int, list[AlertRow]] = {}
    rows = select(AlertRow).where(AlertRow.ticket_id.in_(named)).order_by(AlertRow.started_at, AlertRow.id)
    for alert in session.scalars(rows):
        if alert.fingerprint != named[alert.ticket_id]:
            found.setdefault(alert.ticket_id, []).append(alert)
    return found


def list_tickets(
    session: Session,
    *,
    open_only: bool = False,
    asset_id: str | None = None,
    site_id: str | None = None,
    site_ids: Collection[str] | None = None,
    limit: int = DEFAULT_LIMIT,
) -> list[TicketRow]:
    """Newest first."""
    stmt = select(TicketRow).order_by(TicketRow.opened_at.desc(), TicketRow.id.desc()).limit(limit)
    if open_only:
        # The same condition as the partial unique index uq_tickets_open_fingerprint.
        stmt = stmt.where(TicketRow.state != TicketState.CLOSED.value)
    if asset_id is not None:
        stmt = stmt.where(TicketRow.asset_id == asset_id)
    if site_id is not None:
        stmt = stmt.where(TicketRow.site_id == site_id)
    if site_ids is not None:
        stmt = stmt.where(TicketRow.site_id.in_(site_ids))
    return list(session.scalars(stmt))


def get_ticket(session: Session, ticket_id: int) -> TicketRow | None:
    return session.get(TicketRow, ticket_id)


def ticket_history(session: Session, ticket_id: int) -> list[AuditRow]:
    """The ticket's audit rows, oldest first."""
    stmt = (
        select(AuditRow)
        .where(AuditRow.entity == "ticket", AuditRow.entity_id == str(ticket_id))
        .order_by(AuditRow.at, AuditRow.id)
    )
    return list(session.scalars(stmt))


# --- rules engine state ---------------------------------------------------------------


def save_rules_state(session: Session, key: str, payload: bytes, now: datetime) -> None:
    row = session.get(RulesStateRow, key)
    if row is None:
        session.add(RulesStateRow(key=key, saved_at=require_utc(now), payload=payload))
    else:
        row.saved_at = require_utc(now)
        row.payload = payload


def load_rules_state(session: Session, key: str) -> bytes | None:
    row = session.get(RulesStateRow, key)
    return None if row is None else bytes(row.payload)
