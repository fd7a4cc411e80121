"""Exports: CSV with exact numbers and units in headers; PDFs that open and name every station."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from pathlib import Path

import pytest
from pypdf import PdfReader

from config.models import Asset, ReviewSettings, Site
from domain.samples import ChannelStats
from review.compute import StationInputs, review_site
from review.export import Signature, to_csv, to_html, to_pdf
from review.schedule import window

DAY = date(2026, 11, 27)
DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def a_review(names: list[str]):  # noqa: ANN201
    site = Site(id="north", customer="c", name="North district", sla_zone="z")
    w = window(DAY, at=ReviewSettings().at, time_zone=site.time_zone)
    stations = []
    for i, name in enumerate(names):
        asset = Asset(id=f"rs-{i}", site="north", name=name, poll_interval_s=60.0,
                      modbus={"host": "127.0.0.1", "port": 502, "profile": "p"})
        stats = [ChannelStats(f"rs-{i}", "outlet_kpa", "kPa", 1400, 2.4, 2.6, 2.5123456789012345, 2.5,
                              w.end - timedelta(minutes=1))]
        stations.append(StationInputs(asset=asset, channel_units={"outlet_kpa": "kPa"}, stats=stats))
    return review_site(site=site, window=w, stations=stations, settings=ReviewSettings())


SIG = Signature(content_sha256="ab" * 32, generated_at=window(DAY, at=ReviewSettings().at,
                                                              time_zone="Asia/Shanghai").end)


def test_csv_keeps_every_digit_and_names_units_in_its_headers():
    rows = list(csv.DictReader(io.StringIO(to_csv(a_review(["North 1"])))))
    assert float(rows[0]["mean (in unit)"]) == 2.5123456789012345
    assert rows[0]["unit"] == "kPa" and rows[0]["last_at (site time, ISO 8601)"] == "2026-11-27T08:29:00+08:00"
    assert all("(" in h for h in rows[0] if h not in {"site_id", "day", "station_id", "station_name", "verdict",
                                                      "channel", "unit", "flags"}), "numeric columns say their unit"


def test_the_pdf_opens_and_names_every_station_with_the_core_font():
    names = [f"Station {i:03d} Nord-Süd" for i in range(60)]  # several pages
    reader = PdfReader(io.BytesIO(to_pdf(a_review(names), SIG)))
    text = "".join(p.extract_text() for p in reader.pages)
    assert len(reader.pages) > 1
    assert [n for n in names if n not in text] == []


def test_names_outside_latin_1_need_the_configured_font():
    review = a_review(["Станция 1"])
    core = "".join(p.extract_text() for p in PdfReader(io.BytesIO(to_pdf(review, SIG))).pages)
    assert "Станция" not in core and "??????? 1" in core, "the core font prints what it lacks as ?"
    if not DEJAVU.exists():
        pytest.skip(f"no TTF at {DEJAVU} to embed")
    embedded = to_pdf(review, SIG, font_file=DEJAVU)
    assert "Станция 1" in "".join(p.extract_text() for p in PdfReader(io.BytesIO(embedded)).pages)


def test_the_html_is_self_contained_and_shows_site_time():
    html = to_html(a_review(["North 1"]), SIG)
    assert "http://" not in html and "https://" not in html and "<script" not in html
    assert "2026-11-26 08:30 to 2026-11-27 08:30 Asia/Shanghai (24 h)" in html
    assert "2026-11-27 08:29:00" in html and "Not signed" in html
