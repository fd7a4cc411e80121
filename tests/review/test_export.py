"""Exports: CSV with exact numbers and units in headers; PDFs that open and name every station;
all of it in the reader's language, Chinese PDFs with a Chinese font found on the machine."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from pathlib import Path

import pytest
from pypdf import PdfReader

from sitewatch import i18n
from sitewatch.config.models import Asset, ReviewSettings, Site
from sitewatch.domain.samples import ChannelStats
from sitewatch.i18n.fonts import FontMissing, find_cjk_font
from sitewatch.review.compute import StationInputs, review_site
from sitewatch.review.export import Signature, to_csv, to_html, to_pdf
from sitewatch.review.schedule import window

DAY = date(2026, 11, 27)
DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def a_review(names: list[str], *, limits: dict | None = None):
    site = Site(id="north", customer="c", name="North district", sla_zone="z")
    w = window(DAY, at=ReviewSettings().at, time_zone=site.time_zone)
    stations = []
    for i, name in enumerate(names):
        asset = Asset(id=f"rs-{i}", site="north", name=name, poll_interval_s=60.0,
                      modbus={"host": "127.0.0.1", "port": 502, "profile": "p"}, limits=limits or {})
        stats = [ChannelStats(f"rs-{i}", "outlet_kpa", "kPa", 1400, 2.4, 2.6, 2.5123456789012345, 2.5,
                              w.end - timedelta(minutes=1))]
        stations.append(StationInputs(asset=asset, channel_units={"outlet_kpa": "kPa"}, stats=stats))
    return review_site(site=site, window=w, stations=stations, settings=ReviewSettings())


SIG = Signature(content_sha256="ab" * 32, generated_at=window(DAY, at=ReviewSettings().at,
                                                              time_zone="Asia/Shanghai").end)


@pytest.fixture(autouse=True)
def english():
    """These tests read the English text; the Chinese ones say so with i18n.using."""
    with i18n.using("en"):
        yield


def pdf_text(pdf: bytes) -> str:
    return "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)


def embedded_fonts(pdf: bytes) -> set[str]:
    reader = PdfReader(io.BytesIO(pdf))
    return {str(f.get_object()["/BaseFont"]) for page in reader.pages
            for f in page["/Resources"]["/Font"].values()}


def test_csv_keeps_every_digit_and_names_units_in_its_headers():
    rows = list(csv.DictReader(io.StringIO(to_csv(a_review(["North 1"])))))
    assert float(rows[0]["mean (in unit)"]) == 2.512346  # the review's canonical 6 decimals, all of them
    assert rows[0]["unit"] == "kPa" and rows[0]["last_at (site time, ISO 8601)"] == "2026-11-27T08:29:00+08:00"
    assert all("(" in h for h in rows[0] if h not in {"site_id", "day", "station_id", "station_name", "verdict",
                                                      "channel", "unit", "flags", "alerts",
                                                      "tickets"}), "numeric columns say their unit"


def test_the_csv_in_chinese_has_chinese_headers_verdicts_and_flags_with_the_same_numbers():
    review = a_review(["北区 1 号调压站"], limits={"outlet_kpa": {"high": 2.55}})
    with i18n.using("zh_CN"):
        rows = list(csv.DictReader(io.StringIO(to_csv(review))))
    assert float(rows[0]["平均值（按单位）"]) == 2.512346 and rows[0]["上限（按单位）"] == "2.55"
    assert rows[0]["调压站名称"] == "北区 1 号调压站" and rows[0]["结论"] == "异常"
    assert rows[0]["标记"] == "最大值 2.6 kPa 高于上限 2.55 kPa"
    with i18n.using("en"):
        english = list(csv.DictReader(io.StringIO(to_csv(review))))
    assert english[0]["flags"] == review.stations[0].flags[0].detail == "max 2.6 kPa above the high limit 2.55 kPa"


def test_the_pdf_opens_and_names_every_station_with_the_core_font(tmp_path):
    names = [f"Station {i:03d} Nord-Süd" for i in range(60)]  # several pages
    reader = PdfReader(io.BytesIO(to_pdf(a_review(names), SIG, font_dirs=[tmp_path])))
    text = "".join(p.extract_text() for p in reader.pages)
    assert len(reader.pages) > 1
    assert [n for n in names if n not in text] == []


def test_without_a_chinese_font_an_english_pdf_prints_what_the_core_font_lacks_as_question_marks(tmp_path):
    review = a_review(["Станция 1"])
    core = pdf_text(to_pdf(review, SIG, font_dirs=[tmp_path]))
    assert "Станция" not in core and "??????? 1" in core, "the core font prints what it lacks as ?"
    if not DEJAVU.exists():
        pytest.skip(f"no TTF at {DEJAVU} to embed")
    assert "Станция 1" in pdf_text(to_pdf(review, SIG, font_file=DEJAVU, font_dirs=[tmp_path]))


def test_a_chinese_pdf_is_written_in_chinese_with_the_chinese_font_found_on_the_machine():
    if find_cjk_font() is None:
        pytest.skip("no Chinese TrueType font on this machine (Debian: fonts-wqy-microhei)")
    with i18n.using("zh_CN"):
        pdf = to_pdf(a_review(["北区 1 号调压站"]), SIG)
    text = pdf_text(pdf)
    assert "调压站运行日志" in text and "北区 1 号调压站" in text and "未签字" in text and "完整率" in text
    assert "NOT SIGNED" not in text and "Channel" not in text
    assert any("WenQuanYi" in f or "CJK" in f for f in embedded_fonts(pdf)), embedded_fonts(pdf)


def test_a_chinese_pdf_without_a_chinese_font_is_refused_with_what_to_install(tmp_path):
    with i18n.using("zh_CN"), pytest.raises(FontMissing) as refused:
        to_pdf(a_review(["North 1"]), SIG, font_dirs=[tmp_path])
    assert "fonts-wqy-microhei" in str(refused.value) and str(tmp_path) in str(refused.value)
    assert "中文" in str(refused.value), "said in the reader's language"
    if DEJAVU.exists():
        with i18n.using("zh_CN"), pytest.raises(FontMissing, match="DejaVuSans.ttf"):
            to_pdf(a_review(["North 1"]), SIG, font_file=DEJAVU)


def test_the_html_is_self_contained_and_shows_site_time():
    html = to_html(a_review(["North 1"]), SIG)
    assert "http://" not in html and "https://" not in html and "<script" not in html
    assert "2026-11-26 08:30 to 2026-11-27 08:30 Asia/Shanghai (24 h)" in html
    assert "2026-11-27 08:29:00" in html and "Not signed" in html


def test_the_html_in_chinese():
    with i18n.using("zh_CN"):
        html = to_html(a_review(["North 1"]), SIG)
    assert '<html lang="zh-CN">' in html and "调压站运行日志" in html and "未签字" in html
    assert "2026-11-26 08:30 至 2026-11-27 08:30 Asia/Shanghai（24 小时）" in html
    assert "Not signed" not in html and "Station" not in html
