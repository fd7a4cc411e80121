"""Generation on time, and field readings read from the database once inspections/ keeps them."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from sitewatch.review.gather import field_readings_from_database
from sitewatch.review.models import Verdict
from sitewatch.review.service import DailyReviews
from sitewatch.storage.tables import DailyReviewRow, FieldReadingRow
from tests.review.simulated_day import DAY, FIELD_AT, WINDOW_END
from tests.serving import FixedClock


def test_each_sites_log_is_generated_once_a_minute_after_0830_site_time(simulated, db_session_factory):
    store, day = simulated
    clock = FixedClock(WINDOW_END + timedelta(seconds=30))
    reviews = DailyReviews(config=day.config, store=store, sessions=db_session_factory, clock=clock)
    made = reviews.generate_due()
    assert [s.row.day for s in made] == [(DAY - timedelta(days=1)).isoformat()] * 2, \
        "within the grace minute the newest due log is yesterday's"
    clock.now_value = WINDOW_END + timedelta(minutes=1)
    made = reviews.generate_due()
    assert sorted((s.row.site_id, s.row.day) for s in made) == [("north", DAY.isoformat()), ("south", DAY.isoformat())]
    assert reviews.generate_due() == [], "already made: nothing more"
    clock.now_value = WINDOW_END + timedelta(days=7)
    assert reviews.generate_due() == [], "no sample in that day's window: no automatic log, no field checks"
    with db_session_factory() as session:
        assert len(session.scalars(select(DailyReviewRow)).all()) == 4


def reading(inspection_id: int, channel: str, value: float, taken_at, unit: str = "kPa") -> FieldReadingRow:  # noqa: ANN001
    return FieldReadingRow(inspection_id=inspection_id, asset_id="rs-08", channel=channel, value=value, unit=unit,
                           taken_at=taken_at, recorded_at=taken_at, recorded_by="zhang.san")


def test_a_station_without_field_readings_has_none(db_session_factory):
    with db_session_factory() as session:
        assert field_readings_from_database(session, ["rs-08"], before=WINDOW_END) == {}


def test_the_last_inspections_readings_each_keep_their_own_time(simulated, db_session_factory):
    store, day = simulated
    real = day.field_readings["rs-08"].values["outlet_kpa"]
    inlet_at = FIELD_AT - timedelta(minutes=20)  # a round reads inlet first, outlet later
    with db_session_factory.begin() as session:
        session.add_all([
            reading(1, "outlet_kpa", 2.5, FIELD_AT - timedelta(days=14)),  # the round before
            reading(1, "inlet_mpa", 0.2, FIELD_AT - timedelta(days=14), unit="MPa"),
            reading(2, "inlet_mpa", 0.3, inlet_at, unit="MPa"),
            reading(2, "outlet_kpa", 2.0, FIELD_AT - timedelta(minutes=5)),  # re-read: the later one counts
            reading(2, "outlet_kpa", real, FIELD_AT),
            reading(3, "outlet_kpa", 9.9, WINDOW_END + timedelta(hours=1)),  # after the day under review
        ])
    with db_session_factory() as session:
        readings = field_readings_from_database(session, ["rs-08", "rs-07"], before=WINDOW_END)
        assert set(readings) == {"rs-08"}
        got = readings["rs-08"]
        assert dict(got.values) == {"outlet_kpa": real, "inlet_mpa": 0.3}, "the last inspection's, not a mix"
        assert (got.taken_at, got.at("inlet_mpa"), got.at("outlet_kpa")) == (FIELD_AT, inlet_at, FIELD_AT)
        reviews = DailyReviews(config=day.config, store=store, sessions=db_session_factory,
                               clock=FixedClock(WINDOW_END + timedelta(minutes=5)))
        south = reviews.compute(session, "south", DAY)  # no readings given: the database's
    rs08 = next(s for s in south.stations if s.station_id == "rs-08")
    by_channel = {f.channel: f for f in rs08.field_readings}
    assert rs08.verdict is Verdict.ABNORMAL and by_channel["outlet_kpa"].agrees is False
    assert by_channel["inlet_mpa"].taken_at == inlet_at and by_channel["inlet_mpa"].scada_value is not None, \
        "each channel is compared with SCADA at its own moment"


def test_the_alerts_and_tickets_of_the_window_are_in_the_log_as_they_stood_at_its_end(simulated, db_session_factory):
    from sitewatch.domain.alerts import AlertState, AlertTransition, Severity
    from sitewatch.tickets.writer import TicketWriter

    store, day = simulated

    def transition(state: AlertState, at, rule: str) -> AlertTransition:  # noqa: ANN001
        return AlertTransition(f"rs-02/{rule}/gas_lel_pct", "rs-02", rule, "gas_lel_pct", state, at,
                               Severity.CRITICAL, 25.0, "%LEL", f"rs-02: gas_lel_pct 25 %LEL ({rule})")

    writer = TicketWriter(sessions=db_session_factory, config=day.config)
    writer.apply([transition(AlertState.FIRING, WINDOW_END - timedelta(days=2), "before")])
    writer.apply([transition(AlertState.RESOLVED, WINDOW_END - timedelta(days=1, hours=2), "before")])
    writer.apply([transition(AlertState.FIRING, WINDOW_END - timedelta(hours=10), "gas-high")])
    writer.apply([transition(AlertState.RESOLVED, WINDOW_END + timedelta(hours=1), "gas-high")])  # after the end
    reviews = DailyReviews(config=day.config, store=store, sessions=db_session_factory,
                           clock=FixedClock(WINDOW_END + timedelta(hours=2)))
    with db_session_factory() as session:
        north = reviews.compute(session, "north", DAY, field_readings={})
    rs02 = next(s for s in north.stations if s.station_id == "rs-02")
    assert [(a.rule_id, a.resolved_at) for a in rs02.alerts] == [("gas-high", None)], \
        "the alert resolved before the window is not in it; the one resolved after it is shown still firing"
    # A ticket outlives its alert: the one opened two days ago was still open during the window.
    assert [(t.opened_at, t.closed_at) for t in rs02.tickets] == [(WINDOW_END - timedelta(days=2), None),
                                                                  (WINDOW_END - timedelta(hours=10), None)]
    assert all(s.alerts == () for s in north.stations if s.station_id != "rs-02")
