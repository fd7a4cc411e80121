"""The week's records besides tickets: inspection visits (some plans left overdue), a rain
that makes a low-lying valve well due, and the 08:30 logs — yesterday's signed by the
manager, today's (once due) waiting for them.

Visits keep clear of the faults on their site: an inspection in progress holds the site's
alerts, and the stories' tickets must open. Field readings are taken where the store has
a sample (a knot of the week's samples) and compared with SCADA as the technician's
phone would have them compared; one of them is off, which opens a calibration ticket.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from sitewatch import i18n
from sitewatch.components import Components
from sitewatch.config.models import Asset
from sitewatch.history.people import APPRENTICE, MANAGER, TECHNICIAN
from sitewatch.history.series import KNOT, Span, Window, aligned
from sitewatch.history.timeline import Timeline
from sitewatch.inspections.due import mark_rain
from sitewatch.inspections.plans import REGULATORS, SECURITY, plan
from sitewatch.inspections.records import ResultEntry, record_reading, record_results
from sitewatch.inspections.visits import finish_inspection, start_inspection
from sitewatch.review.schedule import due_at
from sitewatch.review.service import GRACE, DailyReviews
from sitewatch.review.sign import get_review, sign_review

SLOTS = (time(9, 30), time(11, 0), time(14, 0), time(15, 30))  # site-local starts of a visit
VISIT = timedelta(minutes=45)
DOOR_OPENS, DOOR_SHUTS = timedelta(minutes=2), timedelta(minutes=3)  # after arriving, before leaving
CLEAR = timedelta(minutes=30)  # between a visit and any fault on its site
LATE_DAYS = 3  # overdue rounds: last done this long before they fell due
# (channel, what the technician's instrument reads against SCADA, decimals it shows)
READINGS = (("inlet_mpa", 0.002, 3), ("outlet_kpa", -0.02, 2), ("gas_lel_pct", 0.0, 1))
MISREAD = {"outlet_kpa": 0.25}  # the one station whose SCADA transmitter needs calibrating
FAULTY_ITEM = ("fire_extinguishers", i18n.lazy("Extinguisher pressure low: a replacement is ordered."))


@dataclass(frozen=True, slots=True)
class Visit:
    site_id: str
    target_id: str | None  # None: the whole site
    kind: str
    at: datetime
    results_for: tuple[str, ...]  # targets the checklist is recorded for
    readings: Mapping[str, float] | None = None  # regulator rounds in the sampled week: SCADA offsets
    faulty: bool = False  # one checklist item found at fault
    door: bool = False  # a station's door opens while it lasts (from DOOR_OPENS to VISIT - DOOR_SHUTS)

    def door_open(self) -> tuple[datetime, datetime]:
        return self.at + DOOR_OPENS, self.at + VISIT - DOOR_SHUTS


class Records:
    def __init__(self, timeline: Timeline, parts: Components, span: Span, *, busy: Mapping[str, Sequence[Window]],
                 locale: str) -> None:
        self._timeline = timeline
        self._parts = parts
        self._config = parts.config
        self._span = span
        self._busy = busy
        self._locale = locale

    def schedule(self, visits: Sequence[Visit]) -> None:
        """The visits (from ``visits()``), the rain and the logs, at their instants."""
        for visit in visits:
            self._timeline.at(visit.at, lambda at, v=visit: self._visit(v, at))
        for site in self._config.sites:
            if any(p.low_lying for p in site.plant):  # four days ago: the well is two days overdue
                self._timeline.at(self._slot(site.id, 4, time(16, 0)), lambda at, s=site.id: self._rain(s, at))
        self._logs()

    # -- what is visited when ------------------------------------------------------------

    def visits(self) -> list[Visit]:
        """Who inspects what when; pure (the door episodes of the rounds need it before the
        samples are written)."""
        config, visits = self._config, []
        stations = [a for a in config.assets if a.kind in REGULATORS and a.modbus is not None]
        done = [s for i, s in enumerate(stations) if i % 3 != 0]
        for i, station in enumerate(stations):
            if i % 3 == 0:  # left overdue: the last round is older than its fortnight
                at = self._slot(station.site, 14 + LATE_DAYS, SLOTS[0], within_week=False)
                visits.append(Visit(station.site, station.id, "regulator_round", at, (station.id,)))
                continue
            offsets = {c: o for c, o, _ in READINGS} | (MISREAD if station is done[0] else {})
            # The last round of the list is one the door never saw: the manager gets its flag.
            visits.append(Visit(station.site, station.id, "regulator_round", self._free(station.site, 1 + i % 6),
                                (station.id,), offsets, faulty=i % 5 == 4, door=station is not done[-1]))
        for number, site in enumerate(config.sites):
            devices = tuple(a.id for a in config.assets if a.site == site.id and a.kind in SECURITY)
            if devices and number % 3 != 2:  # the third site has never had its security round: due
                at = (self._free(site.id, 5) if number % 3 == 1
                      else self._slot(site.id, 33, SLOTS[1], within_week=False))  # a month and more ago: overdue
                visits.append(Visit(site.id, None, "security_monthly", at, devices))
            for item in site.plant:
                if item.kind == "cathodic_protection":
                    visits.append(Visit(site.id, item.id, "cathodic_protection", self._free(site.id, 2), (item.id,)))
        return visits

    def _slot(self, site_id: str, days_ago: int, at: time, *, within_week: bool = True) -> datetime:
        zone = ZoneInfo(self._config.site(site_id).time_zone)
        today = self._span.end.astimezone(zone).date()
        when = datetime.combine(today - timedelta(days=days_ago), at, zone)
        if within_week and when < self._span.start:
            raise ValueError(f"{days_ago} days ago is before the history starts")
        return when

    def _free(self, site_id: str, days_ago: int) -> datetime:
        """The first slot from ``days_ago`` on (later days if need be) clear of the site's faults."""
        busy = self._busy.get(site_id, ())
        for days in range(days_ago, 0, -1):
            for slot in SLOTS:
                start = self._slot(site_id, days, slot)
                end = start + VISIT
                if end + CLEAR < self._span.end and not any(start - CLEAR < b_end and b_start < end + CLEAR
                                                              for b_start, b_end in busy):
                    return start
        raise ValueError(f"no visit slot clear of the faults at site {site_id!r}")

    # -- the visits, made as the technician's phone makes them -----------------------------

    def _visit(self, visit: Visit, at: datetime) -> None:
        actor = TECHNICIAN.username
        with self._timeline.sessions() as session:
            row = start_inspection(session, self._config, site_id=visit.site_id, asset_id=visit.target_id,
                                   kind=visit.kind, in_charge=TECHNICIAN.display_name, people=[APPRENTICE],
                                   actor=actor, at=at)
            session.commit()
            inspection_id = row.id
        self._timeline.at(at + VISIT / 3, lambda when: self._record(visit, inspection_id, when))
        # The store has nothing of a visit older than the week: no door evidence either way.
        sampled = at >= self._span.start
        self._timeline.at(at + VISIT, lambda when: self._finish(inspection_id, when, sampled=sampled))

    def _record(self, visit: Visit, inspection_id: int, at: datetime) -> None:
        actor, items = TECHNICIAN.username, [item.key for item in plan(visit.kind).items]
        with i18n.using(self._locale), self._timeline.sessions() as session:
            entries = [ResultEntry(item, "ok", target_id=target) for target in visit.results_for for item in items
                       if not (visit.faulty and item == FAULTY_ITEM[0])]
            if visit.faulty:
                entries.append(ResultEntry(FAULTY_ITEM[0], "fault", i18n.gettext(FAULTY_ITEM[1])))
            record_results(session, self._config, inspection_id, entries, actor=actor, at=at)
            if visit.readings is not None:
                asset = self._config.asset(visit.target_id)
                self._read(session, asset, inspection_id, visit.readings, at)
            session.commit()

    def _read(self, session: Session, asset: Asset, inspection_id: int, offsets: Mapping[str, float],
              at: datetime) -> None:
        taken = aligned(at, KNOT)  # a knot: the store has a sample there whatever the week's step
        units = self._config.profile(asset.modbus.profile).channels
        for channel, _offset, decimals in READINGS:
            scada = self._parts.store.query(asset_id=asset.id, start=taken, end=taken + timedelta(seconds=1),
                                            channel=channel)
            if not scada:
                continue
            value = round(scada[0].value + offsets[channel], decimals)
            record_reading(session, self._config, self._parts.store, inspection_id, asset_id=asset.id,
                           channel=channel, value=value, unit=units[channel], taken_at=taken,
                           actor=TECHNICIAN.username, at=at)

    def _finish(self, inspection_id: int, at: datetime, *, sampled: bool) -> None:
        with self._timeline.sessions() as session:
            finish_inspection(session, inspection_id, actor=TECHNICIAN.username, at=at,
                              config=self._config if sampled else None, store=self._parts.store if sampled else None)
            session.commit()

    def _rain(self, site_id: str, at: datetime) -> None:
        with self._timeline.sessions() as session:
            mark_rain(session, self._config, site_id=site_id, at=at, actor=TECHNICIAN.username)
            session.commit()

    # -- the 08:30 logs ------------------------------------------------------------------

    def _logs(self) -> None:
        """Each site's log of yesterday made at its time and signed by the manager; today's
        made once due. Made by the runtime's own chore, which makes every site's due log."""
        reviews = DailyReviews(config=self._config, store=self._parts.store, sessions=self._timeline.sessions,
                               clock=self._parts.clock)
        made: set[datetime] = set()
        for site in reviews.sites():
            today = self._span.end.astimezone(ZoneInfo(site.time_zone)).date()
            for day in (today - timedelta(days=1), today):
                when = due_at(day, at=self._config.review.at, time_zone=site.time_zone) + GRACE + timedelta(seconds=5)
                if when >= self._span.end:
                    continue
                if when not in made:
                    made.add(when)
                    self._timeline.at(when, lambda at: reviews.generate_due(at))
                if day < today:
                    self._timeline.at(when + timedelta(minutes=40),
                                      lambda at, s=site.id, d=day: self._sign(s, d, at))

    def _sign(self, site_id: str, day: date, at: datetime) -> None:
        with self._timeline.sessions() as session:
            row = get_review(session, site_id, day)
            if row is not None:  # a site without samples that day has no log to sign
                sign_review(session, site_id, day, signer=MANAGER.display_name, content_sha256=row.content_sha256,
                            actor=MANAGER.username, at=at)
                session.commit()
