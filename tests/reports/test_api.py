"""Reports and the complaint register over a real socket, on SQLite and PostgreSQL: JSON,
self-contained HTML and PDF with the customer's name and the key numbers; recording a
complaint needs a token, is audited and refuses a class it does not know."""

from __future__ import annotations

import io
import re
from datetime import datetime, timedelta

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from sitewatch.api.app import create_app
from sitewatch.components import build_components
from sitewatch.config.load import config_from_dict
from sitewatch.domain.time import UTC
from sitewatch.inspections.records import ResultEntry, record_results
from sitewatch.inspections.visits import finish_inspection, start_inspection
from sitewatch.storage.tables import AuditRow
from tests.reports.conftest import raw_config
from tests.reports.seed import deadline_counts, in_quarter, insert_tickets, ticket_specs
from tests.serving import READER, FixedClock, reader_entry, served, token_entry

TOKEN = "after-sales-lead-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NOW = datetime(2027, 1, 3, 2, 0, tzinfo=UTC)


@pytest.fixture
async def api(tmp_path, database_url):
    raw = raw_config()
    raw["storage"] = {"data_dir": str(tmp_path), "database_url": database_url}
    raw["api"] = {"tokens": [token_entry(TOKEN, name="after-sales"), reader_entry()]}
    parts = build_components(config_from_dict(raw))
    parts.clock = FixedClock(NOW)
    with parts.sessions() as session:
        insert_tickets(session, ticket_specs())
        at = datetime(2026, 11, 10, 6, 0, tzinfo=UTC)
        row = start_inspection(session, parts.config, site_id="north", asset_id=None, kind="security_monthly",
                               in_charge="Zhao Liu", people=[], actor="zhao", at=at)
        record_results(session, parts.config, row.id, [ResultEntry("cabling", "fault", "shield broken",
                                                                   target_id="ah-north-01")], actor="zhao", at=at)
        finish_inspection(session, row.id, actor="zhao", at=at + timedelta(hours=1))
        session.commit()
    async with served(create_app(parts), timeout_s=30, token=READER) as client:
        client.headers["Accept-Language"] = "en"  # the reports' English text
        yield client, parts
    parts.close()


def pdf_text(content: bytes) -> str:
    return " ".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def assert_self_contained(html: str) -> None:
    """Nothing is loaded from another host: no URL with a scheme or '//' at all."""
    assert "http:" not in html and "https:" not in html, "the page names another host"
    assert not re.search(r"""(src|href)\s*=\s*["']?//""", html) and "@import" not in html and "url(" not in html
    assert "<svg" in html, "the charts are inline"


async def test_complaints_need_a_token_are_audited_and_refuse_an_unknown_class(api):
    client, parts = api
    body = {"customer_id": "harbour", "site_id": "harbour", "ticket_id": 1, "complaint_class": "quality",
            "received_at": "2026-11-30T23:45:00-05:00", "description": "the alarm host kept false-alarming"}
    assert (await client.post("/api/complaints", json=body)).status_code == 403, "the reader is a viewer"
    assert (await client.post("/api/complaints", json=body, headers={"Authorization": "Bearer nope"})).status_code == 401
    bad = await client.post("/api/complaints", json=body | {"complaint_class": "rude"}, headers=AUTH)
    assert bad.status_code == 422
    assert (await client.post("/api/complaints", json=body | {"site_id": "north"}, headers=AUTH)).status_code == 422
    made = await client.post("/api/complaints", json=body, headers=AUTH)
    assert made.status_code == 201, made.text
    made = made.json()
    assert (made["recorded_by"], made["complaint_class"]) == ("after-sales", "quality")
    assert made["received_at"].startswith("2026-12-01T04:45:00")
    with parts.sessions() as session:
        audit = session.scalars(select(AuditRow).where(AuditRow.entity == "complaint")).all()
    assert [(a.entity_id, a.action, a.actor) for a in audit] == [(str(made["id"]), "created", "after-sales")]
    listed = (await client.get("/api/complaints", params={"customer_id": "harbour"})).json()
    assert [c["id"] for c in listed] == [made["id"]]

    rate = (await client.get("/api/reports/complaint-rate/2026-11", params={"customer_id": "harbour"})).json()
    [harbour] = rate["customers"]
    calls = [s for s in ticket_specs() if s.customer == "harbour" and s.opened_local.strftime("%Y-%m") == "2026-11"
             and s.service_type != "D"]
    assert harbour["by_class_count"] == {"quality": 1, "non_quality": 0, "other": 0}
    assert harbour["service_calls_count"] == len(calls)
    assert harbour["complaint_rate_pct"] == pytest.approx(100 / len(calls))
    assert harbour["due_at"].startswith("2026-12-05T22:00:00")
    html = (await client.get("/api/reports/complaint-rate/2026-11.html")).text
    assert "Harbour Security Ltd" in html and "City Gas Co." in html and "2026-12-05 17:00 America/New_York" in html
    text = pdf_text((await client.get("/api/reports/complaint-rate/2026-11.pdf")).content)
    assert "Harbour Security Ltd" in text and f"{100 / len(calls):.1f}" in text


async def test_the_quarterly_maintenance_report_in_json_html_and_pdf(api):
    client, _parts = api
    report = await client.get("/api/reports/maintenance/citygas/2026-Q4")
    assert report.status_code == 200, report.text
    r = report.json()
    mine = [s for s in ticket_specs() if s.customer == "citygas" and in_quarter(s.opened_local, 2026, 4)]
    met, missed, _ = deadline_counts(mine, NOW, deadline="arrive")
    assert r["tickets_count"] == len(mine) and r["arrival"]["met_count"] == met
    assert r["inspections_done_count"] == 1 and r["customer_name"] == "City Gas Co."

    html = await client.get("/api/reports/maintenance/citygas/2026-Q4.html")
    assert html.headers["content-type"].startswith("text/html")
    assert_self_contained(html.text)
    assert "City Gas Co." in html.text and f'id="tickets-count">{len(mine)}<' in html.text
    assert f'id="arrival-pct">{100 * met / (met + missed):.1f}<' in html.text
    repeats = sum(1 for s in mine if s.repeat_of is not None)
    rated = sum(1 for s in mine if s.rating is not None)
    assert repeats > 0 and f"Repeat faults: {repeats}<" in html.text

    pdf = await client.get("/api/reports/maintenance/citygas/2026-Q4.pdf")
    assert pdf.headers["content-type"] == "application/pdf"
    text = pdf_text(pdf.content)
    assert "City Gas Co." in text and f"Tickets opened: {len(mine)}" in text
    assert f"{100 * met / (met + missed):.1f}" in text
    assert f"Repeat faults: {repeats}" in text and f"Satisfaction: {rated} signed-off rating(s)" in text
    assert "SLA compliance (%)" in text, "the charts are drawn into the PDF"


async def test_the_monthly_inspection_report_in_json_html_and_pdf(api):
    client, _parts = api
    r = (await client.get("/api/reports/inspections/north/2026-11")).json()
    security = next(s for s in r["systems"] if s["system"] == "security_systems")
    assert (len(security["inspections"]), security["items_failed_count"]) == (1, 1)
    html = (await client.get("/api/reports/inspections/north/2026-11.html")).text
    assert_self_contained(html)
    assert "North" in html and "cabling: shield broken" in html
    text = pdf_text((await client.get("/api/reports/inspections/north/2026-11.pdf")).content)
    assert "City Gas Co." in text and "cabling: shield broken" in text


@pytest.mark.parametrize("path, status", [
    ("/api/reports/maintenance/nobody/2026-Q4", 404),
    ("/api/reports/maintenance/citygas/2026-Q5", 422),
    ("/api/reports/maintenance/citygas/2026-11.pdf", 422),
    ("/api/reports/inspections/nowhere/2026-11.html", 404),
    ("/api/reports/inspections/north/2026-13", 422),
    ("/api/reports/complaint-rate/2026-11", 200),
    ("/api/reports/complaint-rate/2026-11.pdf?customer_id=nobody", 404),
])
async def test_unknown_things_and_bad_periods(api, path, status):
    client, _parts = api
    assert (await client.get(path)).status_code == status
