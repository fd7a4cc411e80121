"""The review over a real socket: generate, read, export, sign (a logged-in manager, under
their own name); nothing changes a signed log."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

import httpx
import pytest
from pypdf import PdfReader

from sitewatch.api.app import create_app
from sitewatch.api.pages import review as review_pages
from sitewatch.api.routes import review as review_routes
from sitewatch.auth.users import add_user
from sitewatch.components import build_components
from sitewatch.config.load import config_from_dict
from sitewatch.domain.time import UTC
from tests.logins import log_in, password_of
from tests.review.simulated_day import WINDOW_END, build, raw_config
from tests.serving import READER, FixedClock, reader_entry, served, token_entry

TOKEN = "review-manager-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
DAY = "2026-11-27"
NORTH = [f"rs-{i:02d}" for i in range(1, 7)]


@pytest.fixture
async def api(tmp_path):
    raw = raw_config(str(tmp_path))
    raw["api"] = {"tokens": [token_entry(TOKEN, name="ops-manager", role="manager"), reader_entry()]}
    parts = build_components(config_from_dict(raw))
    parts.clock = FixedClock(WINDOW_END + timedelta(minutes=2))
    build(parts.store, str(tmp_path))
    with parts.sessions() as session:
        add_user(session, "wangli", password_of("wangli"), role="manager", display_name="Wang Li",
                 at=datetime(2026, 1, 1, tzinfo=UTC), actor="test")
        session.commit()
    app = create_app(parts)
    async with served(app, timeout_s=30, token=READER) as client:
        client.headers["Accept-Language"] = "en"  # the English texts below; tests/api/test_manager_pages.py reads zh-CN
        yield client, app, parts
    parts.close()


@asynccontextmanager
async def manager_of(api: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    """A browser of the same server, logged in as the manager Wang Li (username wangli)."""
    async with httpx.AsyncClient(base_url=api.base_url, timeout=api.timeout,
                                 headers={"Accept-Language": "en"}) as manager:
        await log_in(manager, "wangli")
        yield manager


async def test_generate_read_export_and_sign_then_every_write_is_refused(api):
    api, app, parts = api
    page = (await api.get("/review")).text
    assert "North district" in page and "not generated yet" in page

    refused = await api.post(f"/api/reviews/north/{DAY}/generate")
    assert refused.status_code == 403, "a viewer (the reader) may not generate"
    made = await api.post(f"/api/reviews/north/{DAY}/generate", headers=AUTH)
    assert made.status_code == 200, made.text
    made = made.json()
    # No field readings in this database: the stuck sensor of rs-08 (south) stays hidden.
    assert made["abnormal_stations"] == 3 and set(made["field_check_tickets"]) == {"rs-02", "rs-04", "rs-06"}
    digest = made["content_sha256"]

    detail = (await api.get(f"/api/reviews/north/{DAY}")).json()
    assert detail["hash_verified"] and [s["station_id"] for s in detail["content"]["stations"]] == NORTH
    assert (await api.get(f"/api/reviews/north/{DAY}/verify")).json()["identical"] is True

    pdf = await api.get(f"/api/reviews/north/{DAY}/log.pdf")
    assert pdf.headers["content-type"] == "application/pdf"
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    names = [parts.config.asset(s).name for s in NORTH]
    assert [n for n in names if n not in text] == [], "every station's name must be in the PDF"
    assert digest in text.replace("\n", "") and "NOT SIGNED" in text

    rows = list(csv.DictReader(io.StringIO((await api.get(f"/api/reviews/north/{DAY}/log.csv")).text)))
    assert len(rows) == 6 * 12 and "mean (in unit)" in rows[0] and "completeness (ratio 0-1)" in rows[0]
    gas = next(r for r in rows if r["station_id"] == "rs-02" and r["channel"] == "gas_lel_pct")
    assert gas["verdict"] == "abnormal" and gas["unit"] == "%LEL" and float(gas["max (in unit)"]) > 20
    html = (await api.get(f"/api/reviews/north/{DAY}/log.html")).text
    assert all(n in html for n in names) and "Not signed" in html and "Min (unit)" in html

    by_viewer = await api.post(f"/api/reviews/north/{DAY}/sign", json={"content_sha256": digest})
    assert by_viewer.status_code == 403, "a viewer (the reader) may not sign"
    by_token = await api.post(f"/api/reviews/north/{DAY}/sign", headers=AUTH, json={"content_sha256": digest})
    assert by_token.status_code == 403 and "signed by a person" in by_token.json()["detail"], by_token.text
    async with manager_of(api) as manager:
        stale = await manager.post(f"/api/reviews/north/{DAY}/sign", json={"content_sha256": "0" * 64})
        assert stale.status_code == 409 and "read it again" in stale.json()["detail"]
        forged = await manager.post(f"/api/reviews/north/{DAY}/sign",
                                    json={"signer": "Someone Else", "content_sha256": digest})
        assert forged.status_code == 422 and "Wang Li" in forged.json()["detail"], "no name but the manager's own"
        signed = await manager.post(f"/api/reviews/north/{DAY}/sign", json={"content_sha256": digest})
        assert signed.status_code == 200, signed.text
        assert (signed.json()["signed_by"], signed.json()["signed_actor"]) == ("Wang Li", "wangli")

        # Every write route of the review, and every other method on its paths: nothing changes it.
        attempts = []
        paths = {p for p in app.openapi()["paths"] if p.startswith(("/api/reviews", "/review"))}
        paths |= {r.path for r in review_routes.router.routes} | {r.path for r in review_pages.router.routes}
        assert len(paths) >= 9, sorted(paths)
        for template in sorted(paths):
            path = template.replace("{site_id}", "north").replace("{day}", DAY)
            # The pages take HTML forms, the API JSON.
            body = ({"json": {"content_sha256": digest}} if path.startswith("/api/") else
                    {"data": {"content_sha256": digest, "site_id": "north", "day": DAY}})
            for method in ("POST", "PUT", "PATCH", "DELETE"):
                answer = await manager.request(method, path, **body)
                attempts.append((method, path, answer.status_code))
                assert answer.status_code in (405, 409), f"{method} {path} answered {answer.status_code}: {answer.text}"
                if answer.status_code == 409:
                    assert "Wang Li" in answer.text and digest in answer.text
    for path in (f"/api/reviews/north/{DAY}/generate", f"/api/reviews/north/{DAY}/sign", "/review/generate",
                 f"/review/north/{DAY}/sign"):
        assert ("POST", path, 409) in attempts
    after = (await api.get(f"/api/reviews/north/{DAY}")).json()
    assert (after["content_sha256"], after["content"], after["signed_by"]) == (digest, detail["content"], "Wang Li")
    assert after["hash_verified"]

    page = (await api.get("/review")).text
    assert "signed</span> by Wang Li" in page and digest in page
    day_page = (await api.get(f"/review/north/{DAY}")).text
    assert "Signed by Wang Li at" in day_page and 'id="sign"' not in day_page, "no signing form once signed"
    signed_pdf = await api.get(f"/api/reviews/north/{DAY}/log.pdf")
    assert "Signed by Wang Li" in "".join(p.extract_text() for p in PdfReader(io.BytesIO(signed_pdf.content)).pages)


async def test_a_day_not_over_yet_cannot_be_generated_and_a_past_day_can_be_browsed(api):
    api, _app, _parts = api
    early = await api.post("/api/reviews/north/2026-11-28/generate", headers=AUTH)
    assert early.status_code == 422 and "has not ended yet" in early.json()["detail"]
    assert (await api.get("/api/reviews/north/2026-11-26")).status_code == 404
    assert (await api.post("/api/reviews/north/2026-11-26/generate", headers=AUTH)).status_code == 200
    assert (await api.post(f"/api/reviews/north/{DAY}/generate", headers=AUTH)).status_code == 200
    listed = (await api.get("/api/reviews", params={"site_id": "north"})).json()
    assert [r["day"] for r in listed] == [DAY, "2026-11-26"]
    page = (await api.get(f"/review/north/{DAY}")).text
    assert "/review/north/2026-11-26" in page and 'id="sign"' not in page, "previous day linked; a viewer signs not"
    async with manager_of(api) as manager:
        page = (await manager.get(f"/review/north/{DAY}")).text
    assert 'id="sign"' in page, "unsigned: the manager's form"
    assert (await api.post("/api/reviews/nowhere/2026-11-26/generate", headers=AUTH)).status_code == 404
