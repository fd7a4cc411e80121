"""Exports from report models alone: charts as SVG (the same picture in HTML and PDF), a
self-contained page, a PDF that prints non-Latin names with an embedded TTF; in the reader's
language, a Chinese PDF with the Chinese font found on the machine."""

from __future__ import annotations

import io
import re
from datetime import date, datetime
from pathlib import Path

import pytest
from pypdf import PdfReader

from sitewatch import i18n
from sitewatch.domain.time import UTC
from sitewatch.i18n.fonts import find_cjk_font
from sitewatch.reports.charts import Series, bar_chart, inline
from sitewatch.reports.export import maintenance_charts, maintenance_html, maintenance_pdf
from sitewatch.reports.models import (
    DeadlineCompliance,
    MaintenanceReport,
    MonthTickets,
    Satisfaction,
)

DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
AXES = ("attitude", "skill", "arrival_time", "follow_through")


def a_report(name: str = "City Gas Co.") -> MaintenanceReport:
    return MaintenanceReport(
        customer_id="citygas", customer_name=name, period="2026-Q4", first_day=date(2026, 10, 1),
        last_day=date(2026, 12, 31), time_zones=["Asia/Shanghai"], site_ids=["north"],
        generated_at=datetime(2027, 1, 3, tzinfo=UTC), tickets_count=27,
        tickets_by_month=[MonthTickets(month=f"2026-{m}", by_service_type_count={"A": 1, "B": 5, "C": 2, "D": 1})
                          for m in (10, 11, 12)],
        resolved_count=20, arrival=DeadlineCompliance(met_count=21, missed_count=4, not_due_count=2,
                                                      compliance_pct=84.0),
        resolution=DeadlineCompliance(met_count=10, missed_count=0, not_due_count=17, compliance_pct=100.0),
        repeat_faults=[], satisfaction=Satisfaction(rated_count=0, attitude_mean=None, skill_mean=None,
                                                    arrival_time_mean=None, follow_through_mean=None,
                                                    levels_count={a: [0, 0, 0, 0] for a in AXES}),
        inspections_done=[], inspections_done_count=0, overdue_at_end=[],
        overdue_as_of=datetime(2026, 12, 31, 15, 59, tzinfo=UTC),
        complaints_by_class_count={"quality": 0, "non_quality": 0, "other": 0})


@pytest.fixture(autouse=True)
def english():
    """These tests read the English text; the Chinese ones say so with i18n.using."""
    with i18n.using("en"):
        yield


def pdf_text(pdf: bytes) -> str:
    return " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)


def bars(svg: str) -> list[tuple[float, float]]:
    """(x, height) of each bar: the rects other than the background and legend squares."""
    return [(float(x), float(h)) for x, w, h in re.findall(r'<rect x="([\d.]+)" y="[\d.]+" width="([\d.]+)" '
                                                           r'height="([\d.]+)"', svg) if float(w) > 8 and float(h) < 220]


def test_bars_are_in_proportion_and_a_missing_value_draws_nothing():
    svg = bar_chart("Compliance (%)", ["arrival", "resolution", "none"], [Series("x", [80.0, 40.0, None])], y_max=100)
    heights = [h for _x, h in bars(svg)]
    assert len(heights) == 2 and heights[0] == pytest.approx(2 * heights[1], abs=0.1)
    assert svg == bar_chart("Compliance (%)", ["arrival", "resolution", "none"], [Series("x", [80.0, 40.0, None])],
                            y_max=100), "the same numbers give the same bytes"
    assert "&lt;b&gt;" in bar_chart("<b>", ["a"], [Series("x", [1])]), "labels are escaped"
    assert "http" not in inline(svg)


def test_the_html_is_self_contained_with_its_charts_inline():
    html = maintenance_html(a_report())
    assert "http:" not in html and "https:" not in html and "<script" not in html and "url(" not in html
    assert html.count("<svg") == len(maintenance_charts(a_report())) == 3
    assert 'id="arrival-pct">84.0<' in html and 'id="resolution-pct">100.0<' in html


def test_the_pdf_holds_the_numbers_and_the_charts():
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(maintenance_pdf(a_report()))).pages)
    assert "City Gas Co." in text and "Tickets opened: 27" in text and "84.0" in text
    assert "Tickets opened per month, by service type (count)" in text and "Satisfaction, mean per axis" in text


def test_without_a_chinese_font_an_english_pdf_prints_non_latin_names_as_question_marks(tmp_path):
    core = pdf_text(maintenance_pdf(a_report("城市燃气"), font_dirs=[tmp_path]))
    assert "城市燃气" not in core and "????" in core, "the core font prints what it lacks as ?"
    if not DEJAVU.exists():
        pytest.skip(f"no TTF at {DEJAVU} to embed")
    embedded = maintenance_pdf(a_report("Городской газ"), font_file=DEJAVU, font_dirs=[tmp_path])
    assert "Городской газ" in pdf_text(embedded)


def test_the_quarterly_report_in_chinese_html_and_pdf_with_chinese_charts():
    if find_cjk_font() is None:
        pytest.skip("no Chinese TrueType font on this machine (Debian: fonts-wqy-microhei)")
    with i18n.using("zh_CN"):
        html = maintenance_html(a_report("城市燃气"))
        pdf = maintenance_pdf(a_report("城市燃气"))
    assert "季度维护报告 — 城市燃气" in html and "每月开单数，按服务类型（张）" in html and "到场期限" in html
    assert "Tickets opened" not in html and "Deadline" not in html
    text = pdf_text(pdf)
    assert "季度维护报告 — 城市燃气" in text and "开单：27" in text and "84.0" in text
    assert "每月开单数，按服务类型（张）" in text and "A 有偿" in text, "the charts' labels print in Chinese"
    fonts = {str(f.get_object()["/BaseFont"]) for page in PdfReader(io.BytesIO(pdf)).pages
             for f in page["/Resources"]["/Font"].values()}
    assert any("WenQuanYi" in f or "CJK" in f for f in fonts), fonts
