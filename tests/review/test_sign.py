"""Signing: the manager signs the version read; afterwards the row cannot change by any path.

Runs on SQLite and on PostgreSQL (the database_url fixture)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select

from sitewatch.config.models import Asset, ReviewSettings, Site
from sitewatch.domain.samples import ChannelStats
from sitewatch.domain.time import UTC
from sitewatch.review.compute import StationInputs, review_site
from sitewatch.review.schedule import window
from sitewatch.review.sign import (
    ReviewChanged,
    ReviewSigned,
    canonical_json,
    get_review,
    load_content,
    sha256_of,
    sign_review,
    store_review,
    verify,
)
from sitewatch.storage.tables import AuditRow, DailyReviewRow

DAY = date(2026, 11, 27)
SITE = Site(id="north", customer="c", name="North district", sla_zone="z")
AT = datetime(2026, 11, 27, 0, 35, tzinfo=UTC)


def a_review(mean: float = 2.5):  # noqa: ANN201
    w = window(DAY, at=ReviewSettings().at, time_zone=SITE.time_zone)
    asset = Asset(id="rs-1", site="north", name="North 1", poll_interval_s=60.0,
                  modbus={"host": "127.0.0.1", "port": 502, "profile": "p"})
    stats = [ChannelStats("rs-1", "outlet_kpa", "kPa", 1440, 2.4, 2.6, mean, 2.5, w.end - timedelta(minutes=1))]
    return review_site(site=SITE, window=w, settings=ReviewSettings(),
                       stations=[StationInputs(asset=asset, channel_units={"outlet_kpa": "kPa"}, stats=stats)])


def test_the_content_is_canonical_json_that_round_trips_to_the_same_hash():
    review = a_review()
    content = canonical_json(review)
    assert content == canonical_json(a_review()), "same inputs, same bytes"
    assert '"mean":2.5' in content and '"window_end":"2026-11-27T00:30:00Z"' in content
    from sitewatch.review.models import SiteReview

    assert canonical_json(SiteReview.model_validate_json(content)) == content
    assert sha256_of(canonical_json(a_review(mean=2.500001))) != sha256_of(content), "the 6th decimal counts"
    assert sha256_of(canonical_json(a_review(mean=2.5000000001))) == sha256_of(content), "the 10th does not"


def test_an_unsigned_log_is_regenerated_a_signed_one_never(db_session_factory):
    with db_session_factory.begin() as session:
        stored = store_review(session, a_review(), actor="test", at=AT)
        assert stored.created
    with db_session_factory.begin() as session:
        again = store_review(session, a_review(), actor="test", at=AT + timedelta(minutes=1))
        assert (again.created, again.changed) == (False, False)
        digest = again.row.content_sha256
        sign_review(session, "north", DAY, signer="Wang Li", content_sha256=digest, actor="manager-token",
                    at=AT + timedelta(minutes=5))
    with db_session_factory() as session:
        with pytest.raises(ReviewSigned, match="signed by Wang Li"):
            store_review(session, a_review(mean=2.6), actor="test", at=AT + timedelta(hours=1))
        with pytest.raises(ReviewSigned, match="cannot be changed"):
            sign_review(session, "north", DAY, signer="Someone Else", content_sha256=digest, actor="x",
                        at=AT + timedelta(hours=1))
    with db_session_factory() as session:
        row = get_review(session, "north", DAY)
        assert (row.signed_by, row.signed_actor, row.content_sha256) == ("Wang Li", "manager-token", digest)
        assert verify(row) and load_content(row) == a_review()
        actions = session.scalars(select(AuditRow.action).where(AuditRow.entity == "daily_review")
                                  .order_by(AuditRow.id)).all()
        assert actions == ["generated", "regenerated", "signed"]


def test_a_signed_row_refuses_a_change_or_a_delete_made_straight_through_the_orm(db_session_factory):
    with db_session_factory.begin() as session:
        digest = store_review(session, a_review(), actor="test", at=AT).row.content_sha256
        sign_review(session, "north", DAY, signer="Wang Li", content_sha256=digest, actor="m", at=AT)
    for change in (lambda r: setattr(r, "content", r.content.replace("2.5", "2.7")),
                   lambda r: setattr(r, "signed_by", "Forger"),
                   lambda r: setattr(r, "field_check_tickets", {"rs-1": 1})):
        with db_session_factory() as session:
            change(session.scalars(select(DailyReviewRow)).one())
            with pytest.raises(ReviewSigned, match="refused change"):
                session.commit()
    with db_session_factory() as session:
        session.delete(session.scalars(select(DailyReviewRow)).one())
        with pytest.raises(ReviewSigned, match="refused deleting"):
            session.commit()
    with db_session_factory() as session:
        row = session.scalars(select(DailyReviewRow)).one()
        assert row.content_sha256 == digest and verify(row) and row.signed_by == "Wang Li"


def test_signing_a_version_other_than_the_stored_one_is_refused(db_session_factory):
    with db_session_factory.begin() as session:
        old = store_review(session, a_review(), actor="test", at=AT).row.content_sha256
    with db_session_factory.begin() as session:
        store_review(session, a_review(mean=2.55), actor="test", at=AT)  # regenerated meanwhile
    with db_session_factory() as session:
        with pytest.raises(ReviewChanged, match="read it again before signing"):
            sign_review(session, "north", DAY, signer="Wang Li", content_sha256=old, actor="m", at=AT)
        assert get_review(session, "north", DAY).signed_at is None
