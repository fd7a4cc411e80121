"""Alert summaries and ticket titles in the daily log: their messages travel in the content
beside the English and are shown in the reader's language in every export; a log stored
before the messages existed keeps its bytes, loads and exports with its English."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from sitewatch import i18n
from sitewatch.config.models import Asset, ReviewSettings, Site
from sitewatch.domain.alerts import AlertState, AlertTransition, Severity
from sitewatch.domain.samples import ChannelStats
from sitewatch.i18n.fonts import find_cjk_font
from sitewatch.i18n.messages import Channel, Message, Unit
from sitewatch.review.compute import StationInputs, review_site
from sitewatch.review.export import Signature, to_csv, to_html, to_pdf
from sitewatch.review.models import AlertEntry, SiteReview, TicketEntry
from sitewatch.review.schedule import window
from sitewatch.review.service import DailyReviews
from sitewatch.review.sign import canonical_json, load_content, sha256_of
from sitewatch.storage.tables import DailyReviewRow, TicketRow
from sitewatch.tickets import titles
from sitewatch.tickets.writer import TicketWriter
from tests.review.simulated_day import DAY, WINDOW_END, WINDOW_START
from tests.serving import FixedClock

W = window(DAY, at=ReviewSettings().at, time_zone="Asia/Shanghai")
SIG = Signature(content_sha256="ab" * 32, generated_at=W.end)
# The rules' threshold summary (rules/threshold.py), as the engine composes it.
GAS = Message.of(i18n.lazy("%(asset)s: %(channel)s %(value)s %(unit)s above %(level)s %(unit)s%(relative)s%(held)s"),
                 asset="rs-0", channel=Channel("gas_lel_pct"), value="25.000", unit=Unit("%LEL"), level="20",
                 relative="", held="")
GAS_EN = "rs-0: gas_lel_pct 25.000 %LEL above 20 %LEL"  # stored: channel ids
GAS_SHOWN = {"en": "rs-0: Gas concentration 25.000 %LEL above 20 %LEL", "zh_CN": "rs-0：燃气浓度 25.000 %LEL，高于 20 %LEL"}
CHECK = titles.field_check("North 0", DAY - timedelta(days=1), [("low_completeness", "battery_v")])
CHECK_EN = "Field check North 0: abnormal in the 2026-11-26 operation log (low completeness: battery_v)"
CHECK_SHOWN = {"en": "Field check North 0: abnormal in the 2026-11-26 operation log (low completeness: Battery voltage)",
               "zh_CN": "现场核查 North 0：2026-11-26 运行日志异常（数据完整率低：电池电压）"}


def a_review(*, with_messages: bool = True) -> SiteReview:
    site = Site(id="north", customer="c", name="North district", sla_zone="z")
    asset = Asset(id="rs-0", site="north", name="North 0", poll_interval_s=60.0,
                  modbus={"host": "127.0.0.1", "port": 502, "profile": "p"})
    alert = AlertEntry(id=7, rule_id="gas-high", channel="gas_lel_pct", severity="critical",
                       started_at=W.end - timedelta(hours=3), resolved_at=None, summary=GAS.text(),
                       summary_msg=GAS.to_json() if with_messages else None)
    ticket = TicketEntry(id=9, title=CHECK.text(), severity="warning", source="daily-review",
                         opened_at=W.start + timedelta(minutes=1), closed_at=None,
                         title_msg=CHECK.to_json() if with_messages else None)
    stats = [ChannelStats("rs-0", "gas_lel_pct", "%LEL", 1440, 0.0, 25.0, 1.0, 25.0, W.end - timedelta(minutes=1))]
    inputs = StationInputs(asset=asset, channel_units={"gas_lel_pct": "%LEL"}, stats=stats, alerts=[alert],
                           tickets=[ticket])
    return review_site(site=site, window=W, stations=[inputs], settings=ReviewSettings())


def pdf_text(pdf: bytes) -> str:
    return "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages).replace("\n", "")


def csv_row(review: SiteReview, locale: str) -> dict[str, str]:
    with i18n.using(locale):
        return next(csv.DictReader(io.StringIO(to_csv(review))))


def test_in_chinese_every_export_shows_the_alerts_summary_and_the_tickets_title_in_chinese():
    review = a_review()
    with i18n.using("zh_CN"):
        html = to_html(review, SIG)
    assert GAS_SHOWN["zh_CN"] in html and CHECK_SHOWN["zh_CN"] in html
    assert "above" not in html and "Field check" not in html
    row = csv_row(review, "zh_CN")
    assert row["告警"] == f"#7 严重 {GAS_SHOWN['zh_CN']}" and row["工单"] == f"#9 警告 {CHECK_SHOWN['zh_CN']}"
    if find_cjk_font() is None:
        pytest.skip("no Chinese TrueType font on this machine (Debian: fonts-wqy-microhei)")
    with i18n.using("zh_CN"):
        text = pdf_text(to_pdf(review, SIG))
    assert GAS_SHOWN["zh_CN"] in text and CHECK_SHOWN["zh_CN"] in text
    assert "above" not in text and "Field check" not in text


def test_in_english_every_export_shows_the_english():
    review = a_review()
    with i18n.using("en"):
        html, row, text = to_html(review, SIG), csv_row(review, "en"), pdf_text(to_pdf(review, SIG))
    assert GAS_SHOWN["en"] in html and CHECK_SHOWN["en"] in html
    assert row["alerts"] == f"#7 Critical {GAS_SHOWN['en']}" and row["tickets"] == f"#9 Warning {CHECK_SHOWN['en']}"
    assert GAS_SHOWN["en"] in text and CHECK_SHOWN["en"] in text


def test_a_log_stored_before_the_messages_keeps_its_bytes_and_exports_its_english():
    assert (GAS.text(), CHECK.text()) == (GAS_EN, CHECK_EN), "the English stored beside the messages"
    new = canonical_json(a_review())
    assert '"summary_msg":{"msgid":' in new and '"title_msg":{"msgid":' in new
    old = canonical_json(a_review(with_messages=False))
    assert "summary_msg" not in old and "title_msg" not in old, "no message, no key: the old bytes"
    stored = json.loads(new)  # what an older version wrote: the same content without the keys
    for station in stored["stations"]:
        for entry in station["alerts"] + station["tickets"]:
            entry.pop("summary_msg", None), entry.pop("title_msg", None)
    old_content = json.dumps(stored, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert old_content == old
    loaded = SiteReview.model_validate_json(old_content)
    assert loaded.stations[0].alerts[0].summary_msg is None and loaded.stations[0].tickets[0].title_msg is None
    assert canonical_json(loaded) == old_content, "loaded and written again: the hash it was signed with"
    with i18n.using("zh_CN"):
        html, row = to_html(loaded, SIG), csv_row(loaded, "zh_CN")
    assert GAS_EN in html and CHECK_EN in html, "without a message, the stored English"
    assert GAS_EN in row["告警"] and CHECK_EN in row["工单"]
    with i18n.using("en"):
        assert GAS_EN in pdf_text(to_pdf(loaded, SIG))


def test_the_generated_log_carries_the_messages_and_verifies(simulated, db_session_factory):
    """End to end: the writer's alert and the previous day's field-check ticket reach the
    stored content with their messages; recomputing the day (the verify route) gives its hash."""
    store, day = simulated
    writer = TicketWriter(sessions=db_session_factory, config=day.config)
    writer.apply([AlertTransition("rs-02/gas-high/gas_lel_pct", "rs-02", "gas-high", "gas_lel_pct",
                                  AlertState.FIRING, WINDOW_END - timedelta(hours=10), Severity.CRITICAL, 25.0,
                                  "%LEL", GAS.text(), summary_msg=GAS)])
    # The day before has samples only in its last hour: every station abnormal, each with a
    # field-check ticket opened inside this day's window.
    DailyReviews(config=day.config, store=store, sessions=db_session_factory,
                 clock=FixedClock(WINDOW_START + timedelta(minutes=5))).generate("north", DAY - timedelta(days=1),
                                                                                actor="test")
    reviews = DailyReviews(config=day.config, store=store, sessions=db_session_factory,
                           clock=FixedClock(WINDOW_END + timedelta(minutes=5)))
    reviews.generate("north", DAY, actor="test", field_readings={})
    with db_session_factory() as session:
        row = session.scalars(select(DailyReviewRow).where(DailyReviewRow.day == DAY.isoformat())).one()
        check = session.scalars(select(TicketRow).where(TicketRow.fingerprint == "rs-02/field-check/2026-11-26")).one()
        recomputed = sha256_of(canonical_json(reviews.compute(session, "north", DAY, field_readings={})))
    assert recomputed == row.content_sha256 == sha256_of(row.content)
    rs02 = next(s for s in load_content(row).stations if s.station_id == "rs-02")
    assert [a.summary_msg for a in rs02.alerts] == [GAS.to_json()]
    assert check.title_msg is not None and check.id in [t.id for t in rs02.tickets]
    assert next(t for t in rs02.tickets if t.id == check.id).title_msg == check.title_msg
    with i18n.using("zh_CN"):
        html = to_html(load_content(row), SIG)
    assert GAS_SHOWN["zh_CN"] in html and "现场核查 North" in html
    assert "above" not in html and "Field check" not in html
