"""Whose report: a customer's sites and their time zones, and where a complaint belongs."""

from __future__ import annotations

from sitewatch.config.models import Config


class ReportNotFound(LookupError):
    """No such customer or site (404)."""


def customer_zones(config: Config, customer_id: str) -> dict[str, str]:
    """Site id -> time zone of the customer's sites, in configuration order."""
    if customer_id not in {c.id for c in config.customers}:
        raise ReportNotFound(f"no customer {customer_id!r}")
    return {s.id: s.time_zone for s in config.sites if s.customer == customer_id}


def customer_zone(zones: dict[str, str]) -> str:
    """The zone a customer's own dates are kept in: its first configured site's (UTC if none)."""
    return next(iter(zones.values()), "UTC")


def complaint_zone(site_id: str | None, zones: dict[str, str]) -> str:
    """A complaint is placed by its site's calendar, else by the customer's."""
    return zones.get(site_id, customer_zone(zones)) if site_id is not None else customer_zone(zones)
