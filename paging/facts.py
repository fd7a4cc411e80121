"""A ticket as a message tells it: read from the database and the configuration when the
message is planned, so what was sent is what the ticket said at that moment."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from sitewatch.config.models import Config
from sitewatch.i18n.messages import Message
from sitewatch.paging.models import TicketFacts
from sitewatch.storage.tables import AlertRow, TicketRow


def ticket_link(base_url: str, ticket_id: int) -> str:
    return f"{base_url.rstrip('/')}/tickets/{ticket_id}"


def site_link(base_url: str, site_id: str) -> str:
    return f"{base_url.rstrip('/')}/tickets?site={site_id}"


def ticket_facts(session: Session, config: Config, ticket: TicketRow) -> TicketFacts | None:
    """None for a ticket of a site no longer configured: there is nobody to route it to."""
    assert config.paging is not None
    try:
        site = config.site(ticket.site_id)
    except KeyError:
        return None
    if ticket.asset_id.startswith("site:"):
        asset_name = site.name
    else:
        try:
            asset_name = config.asset(ticket.asset_id).name
        except KeyError:
            asset_name = ticket.asset_id
    alerts = session.scalars(
        select(AlertRow).where(AlertRow.ticket_id == ticket.id).order_by(AlertRow.started_at, AlertRow.id)
    ).all()
    symptoms: list[Message | str] = []
    for alert in alerts:
        said = _message(alert.summary_msg, alert.summary)
        if said not in symptoms:
            symptoms.append(said)
    return TicketFacts(
        ticket_id=ticket.id,
        title=_message(ticket.title_msg, ticket.title),
        severity=ticket.severity, state=ticket.state, site_id=site.id, site_name=site.name,
        time_zone=site.time_zone, asset_id=ticket.asset_id, asset_name=asset_name,
        customer_name=config.customer(site.customer).name, opened_at=ticket.opened_at,
        arrive_by=ticket.arrive_by, resolve_by=ticket.resolve_by, desk=ticket.desk,
        link=ticket_link(config.paging.base_url, ticket.id), assignee=ticket.assignee,
        occurrences=ticket.occurrences, symptoms=tuple(symptoms), committed_reason=ticket.resolve_reason or "",
    )


def _message(stored: dict | None, english: str) -> Message | str:
    """The stored message, or its English when there is none or this version cannot read it."""
    if not stored:
        return english
    try:
        return Message.from_json(stored)
    except (KeyError, TypeError, ValueError):
        return english
