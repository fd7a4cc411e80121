"""The manager's and technician's pages over a real socket, as people logged in: the 08:30 log
signed from the page under the manager's own name, a round recorded from the phone page,
the reports page and its links, in zh-CN and English; Chinese PDFs with a Chinese font."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from pypdf import PdfReader

from sitewatch.api.app import create_app
from sitewatch.auth.users import add_user
from sitewatch.components import build_components
from sitewatch.config.load import config_from_dict
from sitewatch.domain.time import UTC
from sitewatch.i18n.fonts import find_cjk_font
from tests.logins import add_role_users, log_in, password_of
from tests.review.simulated_day import WINDOW_END, build, raw_config
from tests.serving import FixedClock, bearer, served, token_entry

DAY = "2026-11-27"
TOKEN = "manager-integration-token"
ZH, EN = {"Accept-Language": "zh-CN,zh;q=0.9"}, {"Accept-Language": "en"}
NOW = WINDOW_END + timedelta(minutes=2)  # 08:32 in Shanghai: the day's log is due
DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def a_config(data_dir: str, **review: object) -> dict:
    raw = raw_config(data_dir)
    raw["customers"] = [*raw["customers"], {"id": "othergas", "name": "Other Gas"}]
    raw["sites"] = [*raw["sites"], {"id": "east", "customer": "othergas", "name": "East town",
                                    "time_zone": "Asia/Shanghai", "sla_zone": "city"}]
    raw["api"] = {"tokens": [token_entry(TOKEN, name="integration", role="manager")]}
    raw.setdefault("review", {}).update(review)
    return raw


@asynccontextmanager
async def serving(tmp_path: Path, **review: object) -> AsyncIterator[tuple[httpx.AsyncClient, object]]:
    parts = build_components(config_from_dict(a_config(str(tmp_path), **review)))
    parts.clock = FixedClock(NOW)
    build(parts.store, str(tmp_path))
    add_role_users(parts.sessions)
    with parts.sessions() as session:
        add_user(session, "east-manager", password_of("east-manager"), role="manager", customers=["othergas"],
                 at=datetime(2026, 1, 1, tzinfo=UTC), actor="test", display_name="East Manager")
        session.commit()
    try:
        async with served(create_app(parts), timeout_s=30) as client:
            yield client, parts
    finally:
        parts.close()


@pytest.fixture
async def site(tmp_path):
    async with serving(tmp_path) as served_site:
        yield served_site


@asynccontextmanager
async def person(client: httpx.AsyncClient, username: str, language: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    """Another browser on the same server, logged in as ``username``, reading ``language``."""
    async with httpx.AsyncClient(base_url=client.base_url, timeout=client.timeout, headers=language) as browser:
        await log_in(browser, username)
        yield browser


def pdf_text(pdf: bytes) -> str:
    return "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)


def pdf_fonts(pdf: bytes) -> set[str]:
    return {str(f.get_object()["/BaseFont"]) for p in PdfReader(io.BytesIO(pdf)).pages
            for f in p["/Resources"]["/Font"].values()}


def hidden(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, f"no {name} field on the page"
    return found.group(1)


async def make_the_log(browser: httpx.AsyncClient) -> str:
    made = await browser.post("/review/generate", data={"site_id": "north", "day": DAY})
    assert made.status_code == 303 and made.headers["location"] == f"/review/north/{DAY}", made.text
    return hidden((await browser.get(f"/review/north/{DAY}")).text, "content_sha256")


# --- the 08:30 log -----------------------------------------------------------------------


async def test_the_manager_makes_and_signs_the_log_on_the_page_under_their_own_name(site):
    client, _parts = site
    async with person(client, "manager", ZH) as manager:
        today = (await manager.get("/review")).text
        assert "每日审核" in today and "North district" in today and "尚未生成" in today
        assert 'id="generate"' in today, "a manager may make a day's log"
        digest = await make_the_log(manager)
        day_page = (await manager.get(f"/review/north/{DAY}")).text
        assert "调压站运行日志" in day_page and f"<code>{digest}</code>" in day_page, "what will be signed is shown"
        assert "以 Manager 的身份签字" in day_page

        signed = await manager.post(f"/review/north/{DAY}/sign", data={"content_sha256": digest})
        assert signed.status_code == 303, signed.text
        day_page = (await manager.get(f"/review/north/{DAY}")).text
        # Who signed, and when on the site's clock (08:32 in Shanghai is 00:32 UTC).
        assert "Manager 于 2026-11-27 08:32:00（Asia/Shanghai）签字" in day_page and 'id="sign"' not in day_page
        stored = (await manager.get(f"/api/reviews/north/{DAY}")).json()
        assert (stored["signed_by"], stored["signed_actor"], stored["content_sha256"]) == ("Manager", "manager", digest)
        again = await manager.post(f"/review/north/{DAY}/sign", data={"content_sha256": digest})
        assert again.status_code == 409 and 'id="error"' in again.text and "日志未签字" in again.text


async def test_a_token_a_viewer_and_another_name_cannot_sign(site):
    client, _parts = site
    async with person(client, "manager", EN) as manager, person(client, "viewer", EN) as viewer:
        digest = await make_the_log(manager)
        sign = f"/api/reviews/north/{DAY}/sign"
        by_token = await client.post(sign, headers={**bearer(TOKEN), **EN}, json={"content_sha256": digest})
        assert by_token.status_code == 403 and "signed by a person" in by_token.json()["detail"]
        assert (await viewer.post(sign, json={"content_sha256": digest})).status_code == 403
        assert (await viewer.post(f"/review/north/{DAY}/sign", data={"content_sha256": digest})).status_code == 403
        page = (await viewer.get(f"/review/north/{DAY}")).text
        assert 'id="sign"' not in page and 'id="generate"' not in page, "a viewer sees no write control"
        assert 'id="generate"' not in (await viewer.get("/review")).text

        typed = await manager.post(sign, json={"content_sha256": digest, "signer": "Wang Li"})
        assert typed.status_code == 422 and "Manager" in typed.json()["detail"]
        own = await manager.post(sign, json={"content_sha256": digest, "signer": "Manager"})
        assert own.status_code == 200 and own.json()["signed_by"] == "Manager"


async def test_the_logs_exports_are_in_the_readers_language(site):
    client, _parts = site
    async with person(client, "manager", ZH) as manager:
        await make_the_log(manager)
        rows = list(csv.DictReader(io.StringIO((await manager.get(f"/api/reviews/north/{DAY}/log.csv")).text)))
        assert {"调压站编号", "平均值（按单位）", "完整率（比例 0-1）", "标记"} <= set(rows[0])
        gas = next(r for r in rows if r["调压站编号"] == "rs-02" and r["通道"] == "gas_lel_pct")
        assert gas["结论"] == "异常" and "高于上限 20 %LEL" in gas["标记"]
        html = (await manager.get(f"/api/reviews/north/{DAY}/log.html")).text
        assert '<html lang="zh-CN">' in html and "未签字" in html and "Not signed" not in html
        if find_cjk_font() is None:
            pytest.skip("no Chinese TrueType font on this machine (Debian: fonts-wqy-microhei)")
        pdf = (await manager.get(f"/api/reviews/north/{DAY}/log.pdf")).content
        text = pdf_text(pdf)
        assert "调压站运行日志" in text and "North 02 regulator station" in text and "未签字" in text
        assert any("WenQuanYi" in f or "CJK" in f for f in pdf_fonts(pdf)), pdf_fonts(pdf)
    async with person(client, "manager", EN) as manager:
        assert "NOT SIGNED" in pdf_text((await manager.get(f"/api/reviews/north/{DAY}/log.pdf")).content)


async def test_a_chinese_pdf_with_no_chinese_font_is_refused_with_what_to_install(tmp_path):
    if not DEJAVU.exists():
        pytest.skip(f"no {DEJAVU}: a configured font without Chinese glyphs")
    async with serving(tmp_path, pdf_font_file=str(DEJAVU)) as (client, _parts):
        async with person(client, "manager", ZH) as manager:
            await make_the_log(manager)
            refused = await manager.get(f"/api/reviews/north/{DAY}/log.pdf")
            assert refused.status_code == 503
            assert "DejaVuSans.ttf" in refused.json()["detail"] and "fonts-wqy-microhei" in refused.json()["detail"]
            report = await manager.get("/api/reports/maintenance/citygas/2026-Q4.pdf")
            assert report.status_code == 503 and "中文字形" in report.json()["detail"]
        async with person(client, "manager", EN) as manager:
            english = await manager.get(f"/api/reviews/north/{DAY}/log.pdf")
            assert english.status_code == 200 and "NOT SIGNED" in pdf_text(english.content)


# --- pages in both languages -------------------------------------------------------------


@pytest.mark.parametrize(("language", "words"), [
    (ZH, {"/review": "往日日志", "/inspections": "开始巡检", "/reports": "季度维护报告"}),
    (EN, {"/review": "Past days", "/inspections": "Start a round", "/reports": "Quarterly maintenance report"}),
])
async def test_the_pages_render_in_both_languages(site, language, words):
    client, _parts = site
    async with person(client, "manager", language) as manager:
        for path, word in words.items():
            page = await manager.get(path)
            assert page.status_code == 200 and word in page.text, f"{path}: {page.text[:500]}"


# --- a round from the phone ----------------------------------------------------------------


async def test_a_round_is_recorded_from_the_phone_page(site):
    client, parts = site
    async with person(client, "technician", ZH) as technician:
        page = (await technician.get("/inspections")).text
        assert 'id="start"' in page and "调压站巡检（至少两人，一人负责）" in page
        alone = await technician.post("/inspections/start", data={"kind": "regulator_round", "where": "rs-01",
                                                                  "in_charge": "Technician"})
        assert alone.status_code == 409 and 'id="error"' in alone.text, "a regulator round needs two people"
        started = await technician.post("/inspections/start", data={"kind": "regulator_round", "where": "rs-01",
                                                                    "in_charge": "Technician", "people": "Li Wei"})
        assert started.status_code == 303, started.text
        round_page = started.headers["location"]
        page = (await technician.get(round_page)).text
        assert "用压力表读取进口压力（与 SCADA 比对）" in page and 'id="finish"' in page

        items = ["inlet_pressure", "leak_check", "vents"]
        recorded = await technician.post(f"{round_page}/results", data={
            "item": items, "outcome": ["ok", "fault", ""], "note": ["", "法兰渗漏", ""]})
        assert recorded.status_code == 303, recorded.text
        detail = (await technician.get(f"/api{round_page}", headers=EN)).json()
        assert {(r["item"], r["outcome"], r["note"]) for r in detail["results"]} == {
            ("inlet_pressure", "ok", ""), ("leak_check", "fault", "法兰渗漏")}, "an item without a result is not recorded"

        scada = parts.store.query(asset_id="rs-01", start=NOW - timedelta(minutes=1), end=NOW + timedelta(minutes=1),
                                  channel="outlet_kpa")
        nearest = min(scada, key=lambda s: abs(s.ts - NOW)).value
        bad = await technician.post(f"{round_page}/readings", data={"reading": "rs-01/outlet_kpa", "value": "abc"})
        assert bad.status_code == 422 and 'id="error"' in bad.text
        off = await technician.post(f"{round_page}/readings", data={"reading": "rs-01/outlet_kpa",
                                                                    "value": f"{nearest + 0.5:.3f}"})
        assert off.status_code == 303, off.text
        page = (await technician.get(round_page)).text
        assert "不一致" in page and "校准工单 #" in page, "beyond tolerance: a calibration ticket"
        reading = (await technician.get(f"/api{round_page}", headers=EN)).json()["readings"][0]
        assert reading["scada_value"] == pytest.approx(nearest) and reading["within_tolerance"] is False

        finished = await technician.post(f"{round_page}/finish", data={"note": "完成"})
        assert finished.status_code == 303
        page = (await technician.get(round_page)).text
        assert 'id="finish"' not in page and 'id="results"' not in page and "结束于" in page
    async with person(client, "viewer", ZH) as viewer:
        assert 'id="start"' not in (await viewer.get("/inspections")).text, "a viewer records nothing"
        refused = await viewer.post("/inspections/start", data={"kind": "regulator_round", "where": "rs-01",
                                                               "in_charge": "Viewer", "people": "Li Wei"})
        assert refused.status_code == 403


# --- reports -------------------------------------------------------------------------------


async def test_the_reports_page_opens_the_reports_of_the_customers_in_scope(site):
    client, _parts = site
    async with person(client, "manager", ZH) as manager:
        page = (await manager.get("/reports")).text
        assert "City Gas Co." in page and "Other Gas" in page
        assert "/api/reports/inspections/north/2026-10.pdf" in page, "last month's link, on the site's calendar"
        opened = await manager.get("/reports/open", params={"kind": "maintenance", "customer_id": "citygas",
                                                            "period": "2026-Q4", "format": "pdf"})
        assert opened.status_code == 303 and opened.headers["location"] == "/api/reports/maintenance/citygas/2026-Q4.pdf"
        bad = await manager.get("/reports/open", params={"kind": "inspections", "site_id": "north",
                                                         "period": "2026-13"})
        assert bad.status_code == 422 and 'id="error"' in bad.text
        rate = await manager.get("/reports/open", params={"kind": "complaint-rate", "period": "2026-11"})
        assert rate.headers["location"] == "/api/reports/complaint-rate/2026-11.html"
        html = (await manager.get(opened.headers["location"].replace(".pdf", ".html"))).text
        assert "季度维护报告 — City Gas Co." in html and "Quarterly" not in html
        if find_cjk_font() is None:
            pytest.skip("no Chinese TrueType font on this machine (Debian: fonts-wqy-microhei)")
        pdf = (await manager.get(opened.headers["location"])).content
        assert "季度维护报告 — City Gas Co." in pdf_text(pdf) and "每月开单数" in pdf_text(pdf)
        assert any("WenQuanYi" in f or "CJK" in f for f in pdf_fonts(pdf))
    async with person(client, "east-manager", EN) as scoped:
        page = (await scoped.get("/reports")).text
        assert "Other Gas" in page and "City Gas Co." not in page and "North district" not in page
        other = await scoped.get("/reports/open", params={"kind": "maintenance", "customer_id": "citygas",
                                                          "period": "2026-Q4"})
        assert other.status_code == 404
        assert "North district" not in (await scoped.get("/review")).text
