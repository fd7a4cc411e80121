"""The API over a real socket: reads, token-guarded writes, the dashboard, offline docs."""

from __future__ import annotations

import asyncio
import hashlib
import math
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
import uvicorn

from api.app import create_app
from config.load import config_from_dict
from domain.alerts import AlertState, AlertTransition, Severity
from domain.samples import Quality, Sample
from domain.time import UTC
from sitewatch.demo import example_config
from sitewatch.runtime import build_components
from sitewatch.serve import EmbeddedServer
from tickets.writer import TicketWriter

TOKEN = "s3cret-desk-token"


class FixedClock:
    def __init__(self, now: datetime) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return 0.0

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
async def api(tmp_path):
    raw = example_config()
    raw["storage"] = {"data_dir": str(tmp_path)}
    raw["api"] = {"tokens": [{"name": "desk", "sha256": hashlib.sha256(TOKEN.encode()).hexdigest()}]}
    parts = build_components(config_from_dict(raw))
    parts.clock = FixedClock(NOW)  # "now" for staleness and SLA countdowns, whenever the test runs
    parts.store.write(
        [Sample("rs-north-01", "outlet_kpa", NOW - timedelta(seconds=s), 2.5 + s / 1000, "kPa") for s in range(0, 60, 5)]
        + [Sample("rs-north-01", "inlet_mpa", NOW, math.nan, "MPa", Quality.COMM_ERROR)]
    )
    TicketWriter(sessions=parts.sessions, config=parts.config).apply([
        AlertTransition("rs-north-01/outlet-high/outlet_kpa", "rs-north-01", "outlet-high", "outlet_kpa",
                        AlertState.FIRING, NOW - timedelta(minutes=1), Severity.CRITICAL, 3.1, "kPa",
                        "rs-north-01: outlet_kpa 3.100 kPa above 2.9 kPa for 10 s")
    ])
    from storage.repository import sync_inventory

    with parts.sessions() as session:
        sync_inventory(session, parts.config, actor="test", now=NOW)
        session.commit()
    server = EmbeddedServer(uvicorn.Config(create_app(parts), host="127.0.0.1", port=0, log_level="warning",
                                           lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "the API server did not start"
        await asyncio.sleep(0.01)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}", timeout=10) as client:
        yield client
    server.should_exit = True
    await task
    parts.close()


async def test_sites_and_assets_with_live_values_units_and_quality(api):
    sites = (await api.get("/api/sites")).json()
    assert [(s["id"], s["time_zone"]) for s in sites] == [("north", "Asia/Shanghai")]
    asset = (await api.get("/api/assets/rs-north-01")).json()
    values = {v["channel"]: v for v in asset["values"]}
    assert values["outlet_kpa"] == {"channel": "outlet_kpa", "value": 2.5, "unit": "kPa", "quality": "good",
                                    "ts": NOW.isoformat().replace("+00:00", "Z")}
    assert values["inlet_mpa"]["value"] is None and values["inlet_mpa"]["quality"] == "comm_error"
    assert "password" not in str(asset).lower()
    assert (await api.get("/api/assets/nope")).status_code == 404


async def test_samples_in_a_range_and_bad_ranges_rejected(api):
    start = (NOW - timedelta(seconds=20)).isoformat()
    rows = (await api.get("/api/samples", params={"asset_id": "rs-north-01", "channel": "outlet_kpa",
                                                    "start": start, "end": NOW.isoformat()})).json()
    assert [r["value"] for r in rows] == pytest.approx([2.52, 2.515, 2.51, 2.505]), "start inclusive, end exclusive"
    naive = await api.get("/api/samples", params={"asset_id": "rs-north-01", "start": "2026-01-01T00:00:00"})
    assert naive.status_code == 422 and "timezone" in naive.text
    backwards = await api.get("/api/samples", params={"asset_id": "rs-north-01", "start": NOW.isoformat(),
                                                       "end": (NOW - timedelta(hours=1)).isoformat()})
    assert backwards.status_code == 422 and "before" in backwards.text


async def test_ticket_writes_need_a_token_and_are_audited(api):
    [ticket] = (await api.get("/api/tickets", params={"open_only": True})).json()
    url = f"/api/tickets/{ticket['id']}/transitions"
    body = {"to": "dispatched", "assignee": "Li Wei", "note": "on my way"}
    assert (await api.post(url, json=body)).status_code == 401
    assert (await api.post(url, json=body, headers={"Authorization": "Bearer wrong"})).status_code == 401
    ok = await api.post(url, json=body, headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200 and ok.json()["state"] == "dispatched" and ok.json()["assignee"] == "Li Wei"
    skip = await api.post(url, json={"to": "closed"}, headers={"Authorization": f"Bearer {TOKEN}"})
    assert skip.status_code == 409 and "it can go to: arrived" in skip.json()["detail"]
    detail = (await api.get(f"/api/tickets/{ticket['id']}")).json()
    assert [(h["actor"], h["action"]) for h in detail["history"]] == [("rules", "opened"), ("desk", "to_dispatched")]


async def test_dashboard_shows_stations_tickets_and_site_local_time(api):
    page = await api.get("/")
    assert page.status_code == 200
    html = page.text
    assert "North 01 regulator station" in html and "outlet_kpa 3.100 kPa above 2.9 kPa" in html
    opened_local = (NOW - timedelta(minutes=1)).astimezone(ZoneInfo("Asia/Shanghai"))
    assert opened_local.strftime("%m-%d %H:%M") in html, "ticket times are shown in the site's time zone"
    assert "2 h" in html, "the SLA countdown of a 3 h zone opened a minute ago"
    assert '<span class="alarm">outlet_kpa\n    2.500 kPa' in html, "the channel in alarm stands out, in its unit"
    values = html[html.index("Live values"):]
    assert values.index("inlet_mpa") < values.index("outlet_kpa"), "channels in the profile order, not alphabetical"


async def test_docs_and_pages_load_nothing_from_other_hosts(api):
    docs = (await api.get("/docs")).text
    assert "/static/docs/swagger-ui-bundle.js" in docs
    for page in (docs, (await api.get("/")).text):
        assert "https://" not in page and "http://" not in page.replace("http://127.0.0.1", "")
    assert (await api.get("/static/docs/swagger-ui-bundle.js")).status_code == 200
    assert (await api.get("/healthz")).json()["status"] == "ok"


async def test_acknowledging_an_alert_needs_a_token_and_shows_who(api):
    [alert] = (await api.get("/api/alerts", params={"state": "firing"})).json()
    assert alert["acknowledged_by"] is None
    url = f"/api/alerts/{alert['id']}/acknowledge"
    assert (await api.post(url, json={"comment": "seen"})).status_code == 401
    ok = await api.post(url, json={"comment": "seen, calling the station"}, headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200 and ok.json()["acknowledged_by"] == "desk" and ok.json()["state"] == "firing"
    again = await api.post(url, json={}, headers={"Authorization": f"Bearer {TOKEN}"})
    assert again.status_code == 409
    assert "desk: seen, calling the station" in (await api.get("/")).text
