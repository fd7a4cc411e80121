"""What technicians record during an inspection: checklist results, field readings compared
with SCADA, and the spring/autumn pressure tests of each regulator path.

* A field reading is compared with SCADA's value of the same channel at the same moment
  (the nearest good sample within config.field_check.match_window_s). Beyond the channel's tolerance, one
  calibration ticket opens (type D, fingerprint ``<asset>/calibration/<channel>``);
  further readings beyond tolerance join it rather than open another.
* A pressure test that is not compliant opens a maker-repair ticket with a committed
  resolution two weeks out (rule book 12 art. 10: the maker repairs within two weeks).

Only an inspection in progress takes records; every record is audited.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from sitewatch.config.models import Asset, Config
from sitewatch.domain.alerts import Severity
from sitewatch.domain.samples import Sample
from sitewatch.domain.tickets import ServiceType
from sitewatch.i18n.messages import Message
from sitewatch.inspections.checklists import item_keys
from sitewatch.inspections.errors import InspectionNotFound, InspectionRefused
from sitewatch.inspections.plans import REGULATORS, plan
from sitewatch.storage.repository import audit
from sitewatch.storage.tables import FieldReadingRow, InspectionResultRow, InspectionRow, PressureTestRow
from sitewatch.storage.timeseries import TimeSeriesError, TimeSeriesStore
from sitewatch.tickets import titles
from sitewatch.tickets.workflow import commit_resolution
from sitewatch.tickets.writer import open_work_ticket

log = logging.getLogger(__name__)

OUTCOMES = ("ok", "fault", "na")
# Field reading vs SCADA, in the channel's own unit: beyond this, SCADA needs calibrating.
# Inlet by a gauge (MPa), outlet by a U-tube manometer (kPa), leak check by a portable
# detector (%LEL): the three readings of rule book 12 art. 8.
# A reading may be stamped a little before the record was started (the gauge read at the gate).
READING_SLACK = timedelta(minutes=5)
# Spring/autumn test: each pressure within this fraction of the station's configured setting.
PRESSURE_TOLERANCE_FRACTION = 0.05
MAKER_REPAIR_DAYS = 14
MAKER_REPAIR_REASON = "rule book 12 art. 10: the maker repairs a non-compliant regulator within two weeks"


@dataclass(frozen=True, slots=True)
class ResultEntry:
    item: str
    outcome: str  # ok | fault | na
    note: str = ""
    target_id: str | None = None  # default: the inspection's asset, else the site


@dataclass(frozen=True, slots=True)
class Comparison:
    scada_value: float | None
    scada_ts: datetime | None
    difference: float | None  # field - SCADA
    within_tolerance: bool | None  # None: nothing to compare with


def compare_with_scada(value: float, taken_at: datetime, samples: Sequence[Sample], *, tolerance: float,
                       window: timedelta) -> Comparison:
    """Pure: the good SCADA sample nearest ``taken_at`` (within ``window``) against the field value."""
    near = [s for s in samples if s.is_good and abs(s.ts - taken_at) <= window]
    if not near:
        return Comparison(None, None, None, None)
    nearest = min(near, key=lambda s: (abs(s.ts - taken_at), s.ts))
    difference = value - nearest.value
    within = abs(difference) <= tolerance + 1e-9
    return Comparison(nearest.value, nearest.ts, difference, within)


def record_results(
    session: Session, config: Config, inspection_id: int, entries: Sequence[ResultEntry], *, actor: str, at: datetime,
) -> list[InspectionResultRow]:
    inspection = _in_progress(session, inspection_id)
    known = item_keys(inspection.kind)
    rows = []
    for entry in entries:
        if entry.item not in known:
            raise InspectionRefused(f"{entry.item!r} is not on the {inspection.kind} checklist: "
                                    f"{', '.join(sorted(known))}")
        if entry.outcome not in OUTCOMES:
            raise InspectionRefused(f"outcome {entry.outcome!r}: one of {', '.join(OUTCOMES)}")
        target = _result_target(config, inspection, entry.target_id)
        row = session.scalars(select(InspectionResultRow).where(
            InspectionResultRow.inspection_id == inspection_id, InspectionResultRow.target_id == target,
            InspectionResultRow.item == entry.item)).one_or_none()
        old = None if row is None else {"outcome": row.outcome, "note": row.note}
        if row is None:
            row = InspectionResultRow(inspection_id=inspection_id, target_id=target, item=entry.item)
            session.add(row)
        elif old == {"outcome": entry.outcome, "note": entry.note}:
            rows.append(row)
            continue
        row.outcome, row.note, row.recorded_at, row.recorded_by = entry.outcome, entry.note, at, actor
        session.flush()
        audit(session, at=at, actor=actor, entity="inspection", entity_id=str(inspection_id), action="result",
              detail={"target_id": target, "item": entry.item, "outcome": entry.outcome, "note": entry.note,
                      "old": old})
        rows.append(row)
    return rows


def record_reading(
    session: Session, config: Config, store: TimeSeriesStore, inspection_id: int, *, asset_id: str | None,
    channel: str, value: float, unit: str, taken_at: datetime, actor: str, at: datetime,
) -> FieldReadingRow:
    """Record a field reading and compare it with SCADA at the same moment."""
    inspection = _in_progress(session, inspection_id)
    if not plan(inspection.kind).compare_with_scada:
        raise InspectionRefused(f"a {inspection.kind} takes no field readings to compare with SCADA")
    asset = _station(config, inspection, asset_id)
    assert asset.modbus is not None
    units = config.profile(asset.modbus.profile).channels
    if channel not in units:
        raise InspectionRefused(f"{asset.id} has no SCADA channel {channel!r}; it has {', '.join(sorted(units))}")
    if unit != units[channel]:
        # kPa vs MPa is the classic mistake: refuse rather than compare apples with pears.
        raise InspectionRefused(f"{channel} is in {units[channel]}, the reading is in {unit!r}: convert it first")
    if taken_at < inspection.started_at - READING_SLACK or taken_at > at + timedelta(minutes=1):
        raise InspectionRefused(f"measured at {taken_at.isoformat()}: outside the inspection, which started "
                                f"{inspection.started_at.isoformat()}")
    tolerance = config.field_check.tolerance(channel, value)
    window = timedelta(seconds=config.field_check.match_window_s)
    try:
        samples = store.query(asset_id=asset.id, start=taken_at - window,
                              end=taken_at + window + timedelta(microseconds=1), channel=channel)
    except TimeSeriesError as exc:
        # The field reading is worth keeping even when SCADA's history cannot be read now:
        # recorded uncompared (within_tolerance None), and said so.
        log.error("inspection %d: %s %s not compared with SCADA: %s", inspection_id, asset.id, channel, exc)
        samples = []
    result = compare_with_scada(value, taken_at, samples, tolerance=tolerance, window=window)
    row = FieldReadingRow(
        inspection_id=inspection_id, asset_id=asset.id, channel=channel, value=value, unit=unit,
        taken_at=taken_at, scada_value=result.scada_value, scada_ts=result.scada_ts,
        difference=result.difference, tolerance=tolerance, within_tolerance=result.within_tolerance,
        recorded_at=at, recorded_by=actor,
    )
    session.add(row)
    session.flush()
    if result.within_tolerance is False:
        assert result.scada_value is not None and result.difference is not None
        ticket, _new = open_work_ticket(
            session, config, fingerprint=f"{asset.id}/calibration/{channel}", site_id=asset.site, asset_id=asset.id,
            title=titles.calibration(asset.name, channel, unit, scada=result.scada_value, field=value,
                                     difference=result.difference, tolerance=tolerance),
            severity=Severity.WARNING, service_type=ServiceType.D_INTERNAL, source="inspection", at=at, actor=actor,
        )
        row.ticket_id = ticket.id
    audit(session, at=at, actor=actor, entity="inspection", entity_id=str(inspection_id), action="reading",
          detail={"reading": row.id, "asset_id": asset.id, "channel": channel, "value": value, "unit": unit,
                  "taken_at": taken_at.isoformat(), "scada_value": result.scada_value,
                  "within_tolerance": result.within_tolerance, "ticket": row.ticket_id})
    return row


def pressure_findings(asset: Asset, pressures: dict[str, float]) -> list[Message]:
    """Pure: what is wrong with one path's tested pressures (kPa); empty when compliant."""
    order = ("operating_kpa", "lock_up_kpa", "relief_kpa", "slam_shut_kpa")
    found = []
    values = [pressures[k] for k in order]
    if not all(a < b for a, b in zip(values, values[1:])):
        found.append(titles.pressures_out_of_order(values))
    if asset.regulator is not None:
        settings = dict(zip(order, (asset.regulator.set_point_kpa, asset.regulator.lock_up_kpa,
                                    asset.regulator.relief_kpa, asset.regulator.slam_shut_kpa)))
        for key in order:
            if abs(pressures[key] - settings[key]) > PRESSURE_TOLERANCE_FRACTION * settings[key]:
                found.append(titles.pressure_off_setting(key, pressures[key], settings[key], PRESSURE_TOLERANCE_FRACTION))
    return found


def record_pressure_test(
    session: Session, config: Config, inspection_id: int, *, asset_id: str | None, path: str, operating_kpa: float,
    lock_up_kpa: float, relief_kpa: float, slam_shut_kpa: float, actor: str, at: datetime,
) -> PressureTestRow:
    inspection = _in_progress(session, inspection_id)
    if inspection.kind != "regulator_seasonal":
        raise InspectionRefused(f"pressure tests belong to a regulator_seasonal inspection, not a {inspection.kind}")
    if path not in ("running", "standby"):
        raise InspectionRefused(f"path {path!r}: running or standby")
    asset = _station(config, inspection, asset_id)
    pressures = {"operating_kpa": operating_kpa, "lock_up_kpa": lock_up_kpa, "relief_kpa": relief_kpa,
                 "slam_shut_kpa": slam_shut_kpa}
    findings = pressure_findings(asset, pressures)
    row = PressureTestRow(inspection_id=inspection_id, asset_id=asset.id, path=path, **pressures,
                          compliant=not findings, findings=[f.text() for f in findings], recorded_at=at,
                          recorded_by=actor)
    session.add(row)
    session.flush()
    if findings:
        ticket, new = open_work_ticket(
            session, config, fingerprint=f"{asset.id}/maker-repair/{path}", site_id=asset.site, asset_id=asset.id,
            title=titles.maker_repair(asset.name, path, findings, MAKER_REPAIR_DAYS),
            severity=Severity.MAJOR, service_type=ServiceType.B_CONTRACT, source="inspection", at=at, actor=actor,
        )
        if new:
            commit_resolution(session, ticket.id, resolve_by=at + timedelta(days=MAKER_REPAIR_DAYS),
                              reason=MAKER_REPAIR_REASON,
                              actor=actor, at=at)
        row.ticket_id, row.repair_by = ticket.id, ticket.resolve_by
    audit(session, at=at, actor=actor, entity="inspection", entity_id=str(inspection_id), action="pressure_test",
          detail={"test": row.id, "asset_id": asset.id, "path": path, **pressures, "compliant": row.compliant,
                  "findings": row.findings, "ticket": row.ticket_id})
    return row


def readings_of(session: Session, inspection_id: int) -> list[FieldReadingRow]:
    return list(session.scalars(select(FieldReadingRow).where(FieldReadingRow.inspection_id == inspection_id)
                                .order_by(FieldReadingRow.id)))


def results_of(session: Session, inspection_id: int) -> list[InspectionResultRow]:
    return list(session.scalars(select(InspectionResultRow).where(InspectionResultRow.inspection_id == inspection_id)
                                .order_by(InspectionResultRow.id)))


def pressure_tests_of(session: Session, inspection_id: int) -> list[PressureTestRow]:
    return list(session.scalars(select(PressureTestRow).where(PressureTestRow.inspection_id == inspection_id)
                                .order_by(PressureTestRow.id)))


def _in_progress(session: Session, inspection_id: int) -> InspectionRow:
    row = session.get(InspectionRow, inspection_id, with_for_update=True)
    if row is None:
        raise InspectionNotFound(f"inspection {inspection_id} does not exist")
    if row.ended_at is not None:
        raise InspectionRefused(f"inspection {inspection_id} finished at {row.ended_at.isoformat()}: "
                                "its record can no longer change")
    return row


def _station(config: Config, inspection: InspectionRow, asset_id: str | None) -> Asset:
    """The SCADA regulator station a reading or test is about: named, or the inspection's own."""
    asset_id = asset_id or inspection.asset_id
    if asset_id is None:
        raise InspectionRefused("name the station (asset_id): this inspection covers the whole site")
    if inspection.asset_id is not None and asset_id != inspection.asset_id:
        raise InspectionRefused(f"inspection {inspection.id} is of {inspection.asset_id}, not {asset_id}")
    try:
        asset = config.asset(asset_id)
    except KeyError:
        raise InspectionNotFound(f"asset {asset_id!r} does not exist") from None
    if asset.site != inspection.site_id:
        raise InspectionRefused(f"asset {asset_id!r} is on site {asset.site!r}, not {inspection.site_id!r}")
    if asset.kind not in REGULATORS or asset.modbus is None:
        raise InspectionRefused(f"{asset_id!r} is a {asset.kind}, not a SCADA regulator station")
    return asset


def _result_target(config: Config, inspection: InspectionRow, target_id: str | None) -> str:
    if target_id is None:
        return inspection.asset_id or f"site:{inspection.site_id}"
    if inspection.asset_id is not None and target_id != inspection.asset_id:
        raise InspectionRefused(f"inspection {inspection.id} is of {inspection.asset_id}, not {target_id}")
    on_site = {a.id: a.kind for a in config.assets if a.site == inspection.site_id}
    on_site |= {p.id: p.kind for p in config.site(inspection.site_id).plant}
    if target_id not in on_site:
        raise InspectionRefused(f"{target_id!r} is not an asset or plant item of site {inspection.site_id!r}")
    if on_site[target_id] not in plan(inspection.kind).target_kinds:
        raise InspectionRefused(f"a {inspection.kind} is not done on {target_id!r} ({on_site[target_id]})")
    return target_id
