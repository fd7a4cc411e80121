"""Generation on time, and field readings read from the database once inspections/ keeps them."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Column, Float, MetaData, String, Table, insert, inspect, select
from sqlalchemy.orm import Session

from review.gather import FIELD_READINGS_TABLE, field_readings_from_database
from review.models import Verdict
from review.service import DailyReviews
from storage.database import UtcDateTime, make_engine
from storage.tables import DailyReviewRow
from tests.serving import FixedClock
from tests.review.simulated_day import DAY, FIELD_AT, WINDOW_END


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


def test_no_field_readings_table_means_no_readings():
    engine = make_engine("sqlite://")
    with Session(engine) as session:
        assert field_readings_from_database(session, ["rs-08"], before=WINDOW_END) == {}
    engine.dispose()


def _filler(column):  # noqa: ANN001, ANN202
    """A value for a required column this reader does not use (the table is inspections/')."""
    python = column.type.python_type
    return {int: 0, float: 0.0, str: "x", bool: False}.get(python, WINDOW_END)


def test_field_readings_come_from_the_database_table_when_it_exists(simulated, db_session_factory):
    store, day = simulated
    real = day.field_readings["rs-08"].values["outlet_kpa"]
    wanted = [
        {"asset_id": "rs-08", "channel": "outlet_kpa", "value": 2.5, "taken_at": FIELD_AT - timedelta(days=14)},
        {"asset_id": "rs-08", "channel": "outlet_kpa", "value": real, "taken_at": FIELD_AT},
        {"asset_id": "rs-08", "channel": "outlet_kpa", "value": 9.9, "taken_at": WINDOW_END + timedelta(hours=1)},
    ]
    with db_session_factory.begin() as session:
        if not inspect(session.connection()).has_table(FIELD_READINGS_TABLE):
            Table(FIELD_READINGS_TABLE, MetaData(), Column("asset_id", String(64)), Column("channel", String(64)),
                  Column("value", Float), Column("taken_at", UtcDateTime)).create(session.connection())
        table = Table(FIELD_READINGS_TABLE, MetaData(), autoload_with=session.connection())
        required = [c for c in table.columns if not c.nullable and not c.primary_key and c.name not in wanted[0]]
        rows = [row | {c.name: _filler(c) for c in required} for row in wanted]
        for row in rows:  # reflected DateTime columns take aware UTC on PostgreSQL, naive UTC on SQLite
            if session.bind.dialect.name == "sqlite":
                row.update({k: v.replace(tzinfo=None) for k, v in row.items() if hasattr(v, "tzinfo")})
        session.execute(insert(table), rows)
    with db_session_factory() as session:
        readings = field_readings_from_database(session, ["rs-08", "rs-07"], before=WINDOW_END)
        assert set(readings) == {"rs-08"}
        assert (readings["rs-08"].taken_at, dict(readings["rs-08"].values)) == (FIELD_AT, {"outlet_kpa": real})
        reviews = DailyReviews(config=day.config, store=store, sessions=db_session_factory,
                               clock=FixedClock(WINDOW_END + timedelta(minutes=5)))
        south = reviews.compute(session, "south", DAY)  # no readings given: the database's
    rs08 = next(s for s in south.stations if s.station_id == "rs-08")
    assert rs08.verdict is Verdict.ABNORMAL and [f.agrees for f in rs08.field_readings] == [False]


def test_the_alerts_and_tickets_of_the_window_are_in_the_log_as_they_stood_at_its_end(simulated, db_session_factory):
    from domain.alerts import AlertState, AlertTransition, Severity
    from tickets.writer import TicketWriter

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
