"""Reads what a review needs: store aggregates, alerts, tickets, field readings.

The only module of review/ that does I/O besides sign.py (the review rows) and
service.py (the field-check tickets).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from sitewatch.config.models import Asset, Config
from sitewatch.review.compute import REGULATOR_KINDS, FieldReading, ScadaSample, StationInputs
from sitewatch.review.models import AlertEntry, TicketEntry
from sitewatch.review.schedule import Window
from sitewatch.storage.tables import AlertRow, FieldReadingRow, TicketRow
from sitewatch.storage.timeseries import TimeSeriesStore


def regulator_stations(config: Config, site_id: str) -> list[Asset]:
    return [a for a in config.assets if a.site == site_id and a.kind in REGULATOR_KINDS]


def channel_units(config: Config, asset: Asset) -> dict[str, str]:
    if asset.modbus is None:
        return {}
    return config.profile(asset.modbus.profile).channels


def gather_sites(
    *, config: Config, windows: Mapping[str, Window], store: TimeSeriesStore, session: Session,
    field_readings: Mapping[str, FieldReading] | None = None,
) -> dict[str, list[StationInputs]]:
    """Inputs for every regulator station of each site (site id -> its window).

    Sites sharing a window (same zone, same day) share one store aggregate: a day of a
    thousand stations is scanned once, not once per site. ``field_readings`` (station -> its
    last reading) defaults to what the database holds (field_readings_from_database).
    """
    stations = {site_id: regulator_stations(config, site_id) for site_id in windows}
    ids_by_window: dict[Window, list[str]] = defaultdict(list)
    for site_id, win in windows.items():
        ids_by_window[win] += [a.id for a in stations[site_id]]
    stats: dict[str, list] = defaultdict(list)
    for win, ids in ids_by_window.items():
        if ids:
            for row in store.aggregate(start=win.start, end=win.end, asset_ids=ids):
                stats[row.asset_id].append(row)
    out: dict[str, list[StationInputs]] = {}
    for site_id, win in windows.items():
        ids = [a.id for a in stations[site_id]]
        if not ids:
            out[site_id] = []
            continue
        alerts = alerts_of_window(session, ids, win)
        tickets = tickets_of_window(session, ids, win)
        readings = (field_readings_from_database(session, ids, before=win.end)
                    if field_readings is None else field_readings)
        out[site_id] = []
        for asset in stations[site_id]:
            reading = readings.get(asset.id)
            if reading is not None and reading.taken_at >= win.end:
                reading = None  # taken after the day under review
            near = (scada_near(store, asset.id, reading, match_s=config.field_check.match_window_s)
                    if reading is not None else {})
            out[site_id].append(StationInputs(
                asset=asset, channel_units=channel_units(config, asset), stats=stats.get(asset.id, ()),
                alerts=alerts.get(asset.id, ()), tickets=tickets.get(asset.id, ()), field_reading=reading,
                scada_near_reading=near,
            ))
    return out


def alerts_of_window(session: Session, asset_ids: Sequence[str], window: Window) -> dict[str, list[AlertEntry]]:
    """Alerts firing at some moment of [start, end), as they stood at its end."""
    rows = session.scalars(
        select(AlertRow).where(
            AlertRow.asset_id.in_(asset_ids), AlertRow.started_at < window.end,
            AlertRow.resolved_at.is_(None) | (AlertRow.resolved_at >= window.start),
        )
    )
    out: dict[str, list[AlertEntry]] = defaultdict(list)
    for a in rows:
        resolved = a.resolved_at if a.resolved_at is not None and a.resolved_at < window.end else None
        out[a.asset_id].append(AlertEntry(id=a.id, rule_id=a.rule_id, channel=a.channel, severity=a.severity,
                                          started_at=a.started_at, resolved_at=resolved, summary=a.summary,
                                          summary_msg=a.summary_msg))
    return out


def tickets_of_window(session: Session, asset_ids: Sequence[str], window: Window) -> dict[str, list[TicketEntry]]:
    """Tickets open at some moment of [start, end), as they stood at its end."""
    rows = session.scalars(
        select(TicketRow).where(
            TicketRow.asset_id.in_(asset_ids), TicketRow.opened_at < window.end,
            TicketRow.closed_at.is_(None) | (TicketRow.closed_at >= window.start),
        )
    )
    out: dict[str, list[TicketEntry]] = defaultdict(list)
    for t in rows:
        closed = t.closed_at if t.closed_at is not None and t.closed_at < window.end else None
        out[t.asset_id].append(TicketEntry(id=t.id, title=t.title, severity=t.severity, source=t.source,
                                           opened_at=t.opened_at, closed_at=closed, title_msg=t.title_msg))
    return out


def scada_near(store: TimeSeriesStore, asset_id: str, reading: FieldReading, *,
               match_s: float) -> dict[str, ScadaSample]:
    """Per channel read in the field, the good SCADA sample nearest that channel's reading
    (within ``match_s``)."""
    span = timedelta(seconds=match_s)
    times = [reading.at(c) for c in reading.values]
    samples = store.query(asset_id=asset_id, start=min(times) - span, end=max(times) + span)
    best: dict[str, ScadaSample] = {}
    for s in samples:
        if s.channel not in reading.values or not s.is_good:
            continue
        at = reading.at(s.channel)
        if abs(s.ts - at) > span:
            continue
        current = best.get(s.channel)
        # Nearest first; on a tie the earlier sample (what SCADA showed as the reading was taken).
        if current is None or abs(s.ts - at) < abs(current.at - at):
            best[s.channel] = ScadaSample(s.ts, s.value)
    return best


def field_readings_from_database(session: Session, asset_ids: Sequence[str], *,
                                 before: datetime) -> dict[str, FieldReading]:
    """Each station's field readings from its last inspection with readings before
    ``before``: per channel the last value read in it, each with its own time."""
    if not asset_ids:
        return {}
    rows = session.execute(
        select(FieldReadingRow.asset_id, FieldReadingRow.inspection_id, FieldReadingRow.channel,
               FieldReadingRow.value, FieldReadingRow.taken_at)
        .where(FieldReadingRow.asset_id.in_(asset_ids), FieldReadingRow.taken_at < before)
        .order_by(FieldReadingRow.asset_id, FieldReadingRow.taken_at, FieldReadingRow.id)
    ).all()
    last_inspection: dict[str, tuple[datetime, int]] = {}
    for asset_id, inspection_id, _channel, _value, taken_at in rows:
        last_inspection[asset_id] = max(last_inspection.get(asset_id, (taken_at, inspection_id)),
                                        (taken_at, inspection_id))
    values: dict[str, dict[str, float]] = defaultdict(dict)
    times: dict[str, dict[str, datetime]] = defaultdict(dict)
    for asset_id, inspection_id, channel, value, taken_at in rows:  # in time order: the last one wins
        if inspection_id == last_inspection[asset_id][1]:
            values[asset_id][channel], times[asset_id][channel] = float(value), taken_at
    return {a: FieldReading(taken_at=max(times[a].values()), values=values[a], times=times[a]) for a in values}
