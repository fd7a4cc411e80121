"""Generating the logs: compute, store, and one field-check ticket per abnormal station."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from sitewatch.config.models import Config, Site
from sitewatch.domain.alerts import Severity
from sitewatch.domain.tickets import ServiceType
from sitewatch.domain.time import Clock, require_utc
from sitewatch.review.compute import FieldReading, review_site
from sitewatch.review.gather import gather_sites, regulator_stations
from sitewatch.review.models import FlagKind, SiteReview, StationReview
from sitewatch.review.schedule import due_at, latest_due_day, window
from sitewatch.review.sign import Stored, get_review, record_tickets, store_review
from sitewatch.storage.tables import TicketRow
from sitewatch.storage.timeseries import TimeSeriesStore
from sitewatch.tickets import titles
from sitewatch.tickets.writer import open_work_ticket

log = logging.getLogger(__name__)

SOURCE = "daily-review"
# Samples reach the store every flush_interval_s: a minute after the review time, the last
# ones of the window are in, so the log is generated then and not at 08:30:00 sharp.
GRACE = timedelta(minutes=1)
CHECK_EVERY_S = 30.0  # how often the runtime asks whether a log is due


def field_check_fingerprint(station_id: str, day: date) -> str:
    return f"{station_id}/field-check/{day.isoformat()}"


class DailyReviews:
    def __init__(self, *, config: Config, store: TimeSeriesStore, sessions: sessionmaker[Session],
                 clock: Clock) -> None:
        self._config = config
        self._store = store
        self._sessions = sessions
        self._clock = clock

    def sites(self) -> list[Site]:
        """Sites with at least one regulator station: the ones that have a log."""
        return [s for s in self._config.sites if regulator_stations(self._config, s.id)]

    def compute(self, session: Session, site_id: str, day: date, *,
                field_readings: Mapping[str, FieldReading] | None = None) -> SiteReview:
        """The log as the stored data gives it now; writes nothing."""
        return self.compute_sites(session, [site_id], day, field_readings=field_readings)[0]

    def compute_sites(self, session: Session, site_ids: Sequence[str], day: date, *,
                      field_readings: Mapping[str, FieldReading] | None = None) -> list[SiteReview]:
        """Several sites' logs of one day, their stores scanned once per distinct window."""
        sites = [self._config.site(s) for s in site_ids]
        windows = {s.id: window(day, at=self._config.review.at, time_zone=s.time_zone) for s in sites}
        inputs = gather_sites(config=self._config, windows=windows, store=self._store, session=session,
                              field_readings=field_readings)
        return [review_site(site=s, window=windows[s.id], stations=inputs[s.id], settings=self._config.review,
                            field_check=self._config.field_check)
                for s in sites]

    def generate(self, site_id: str, day: date, *, actor: str,
                 field_readings: Mapping[str, FieldReading] | None = None) -> Stored:
        """Compute and store the day's log (refused once signed: ReviewSigned), and open a
        field-check ticket for each abnormal station that has none for the day; one commit."""
        return self.generate_sites([site_id], day, actor=actor, field_readings=field_readings)[0]

    def generate_sites(self, site_ids: Sequence[str], day: date, *, actor: str,
                       field_readings: Mapping[str, FieldReading] | None = None) -> list[Stored]:
        """generate() for several sites of one day; each site's log and tickets commit together."""
        now = self._clock.now()
        for site_id in site_ids:
            site = self._config.site(site_id)
            if now < due_at(day, at=self._config.review.at, time_zone=site.time_zone):
                raise ValueError(f"the log of {day.isoformat()} for site {site_id!r} covers a window that has "
                                 f"not ended yet (it ends at {self._config.review.at} site time)")
        with self._sessions() as session:
            reviews = self.compute_sites(session, site_ids, day, field_readings=field_readings)
        return self._keep(reviews, day, actor=actor, at=now)

    def _keep(self, reviews: Sequence[SiteReview], day: date, *, actor: str, at: datetime) -> list[Stored]:
        out = []
        for review in reviews:
            with self._sessions.begin() as session:
                stored = store_review(session, review, actor=actor, at=at)
                tickets = dict(stored.row.field_check_tickets or {})
                site = self._config.site(review.site_id)
                for station in review.abnormal:
                    tickets[station.station_id] = self._field_check(session, site, station, day, actor=actor, at=at)
                record_tickets(stored.row, tickets)
            log.info("daily review %s %s: %d station(s), %d abnormal, sha256 %s", review.site_id, day,
                     len(review.stations), len(review.abnormal), stored.row.content_sha256)
            out.append(stored)
        return out

    def generate_due(self, now: datetime | None = None, *, actor: str = SOURCE) -> list[Stored]:
        """Each site's latest log, once its local review time (and the grace) has passed, if
        it does not exist yet and the store has data for its window. Called periodically by
        the runtime; idempotent."""
        now = require_utc(now or self._clock.now())
        due: dict[date, list[str]] = {}
        with self._sessions() as session:
            for site in self.sites():
                day = latest_due_day(now - GRACE, at=self._config.review.at, time_zone=site.time_zone)
                if get_review(session, site.id, day) is None:
                    due.setdefault(day, []).append(site.id)
        out = []
        for day, site_ids in sorted(due.items()):
            with self._sessions() as session:
                reviews = self.compute_sites(session, site_ids, day)
            # A site that has no sample at all in the window (a new installation, a day before
            # it was monitored) gets no automatic log: it would call every station abnormal
            # and open a field check for each. A manager can still generate it (the API).
            out += self._keep([r for r in reviews if _has_data(r)], day, actor=actor, at=now)
        return out

    def _field_check(self, session: Session, site: Site, station: StationReview, day: date, *, actor: str,
                     at: datetime) -> int:
        """The station's one field-check ticket for the day: an existing one (open or closed) is kept."""
        fingerprint = field_check_fingerprint(station.station_id, day)
        existing = session.scalars(
            select(TicketRow.id).where(TicketRow.fingerprint == fingerprint).order_by(TicketRow.id)
        ).first()
        if existing is not None:
            return existing
        severe = any(f.kind is not FlagKind.LOW_COMPLETENESS for f in station.flags)
        ticket, _ = open_work_ticket(
            session, self._config, fingerprint=fingerprint, site_id=site.id, asset_id=station.station_id,
            title=titles.field_check(station.name, day, [(f.kind.value, f.channel) for f in station.flags]),
            severity=Severity.MAJOR if severe else Severity.WARNING, service_type=ServiceType.D_INTERNAL,
            source=SOURCE, at=at, actor=actor,
        )
        return ticket.id


def _has_data(review: SiteReview) -> bool:
    return any(c.samples_good for station in review.stations for c in station.channels)
