"""The API over a real socket: reads, role-guarded writes, the dashboard, offline docs. The
client reads as a viewer (tests/serving.READER); writes send the desk's token."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pytest

from sitewatch.api.app import create_app
from sitewatch.components import build_components
from sitewatch.config.load import config_from_dict
from sitewatch.demo import example_config
from sitewatch.domain.alerts import AlertState, AlertTransition, Severity
from sitewatch.domain.samples import Quality, Sample
from sitewatch.domain.time import UTC
from sitewatch.supervise import Supervisor
from sitewatch.tickets.writer import TicketWriter
from tests.serving import READER, FixedClock, reader_entry, served, token_entry

TOKEN = "s3cret-desk-token"


NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
async def api(tmp_path):
    raw = example_config()
    raw["storage"] = {"data_dir": str(tmp_path)}
    raw["api"] = {"tokens": [token_entry(TOKEN, name="desk"), reader_entry()]}
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
    from sitewatch.storage.repository import sync_inventory

    with parts.sessions() as session:
        sync_inventory(session, parts.config, actor="test", now=NOW)
        session.commit()
    async with served(create_app(parts), token=READER) as client:
        yield client
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
    assert (await api.post(url, json=body)).status_code == 403, "the reader is a viewer"
    assert (await api.post(url, json=body, headers={"Authorization": "Bearer wrong"})).status_code == 401
    ok = await api.post(url, json=body, headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200 and ok.json()["state"] == "dispatched" and ok.json()["assignee"] == "Li Wei"
    skip = await api.post(url, json={"to": "closed"}, headers={"Authorization": f"Bearer {TOKEN}"})
    assert skip.status_code == 409 and "it can go to: arrived" in skip.json()["detail"]
    detail = (await api.get(f"/api/tickets/{ticket['id']}")).json()
    assert [(h["actor"], h["action"]) for h in detail["history"]] == [("rules", "opened"), ("desk", "to_dispatched")]


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
    assert (await api.post(url, json={"comment": "seen"})).status_code == 403, "the reader is a viewer"
    ok = await api.post(url, json={"comment": "seen, calling the station"}, headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200 and ok.json()["acknowledged_by"] == "desk" and ok.json()["state"] == "firing"
    again = await api.post(url, json={}, headers={"Authorization": f"Bearer {TOKEN}"})
    assert again.status_code == 409
    state = (await api.get("/api/dashboard")).json()  # the control room: tests/api/test_control_room.py
    assert state["alert_groups"][0]["alerts"][0]["ack_comment"] == "seen, calling the station"
    assert state["sounding"] == [], "acknowledged: the alarm is silent"
    [ticket] = (await api.get("/api/tickets")).json()
    [shown] = (await api.get(f"/api/tickets/{ticket['id']}")).json()["alerts"]
    assert (shown["id"], shown["acknowledged_by"]) == (alert["id"], "desk"), "the ticket shows the acknowledgement"


async def test_an_unacknowledged_alert_sounds_a_tone_served_from_here(api):
    page = (await api.get("/")).text
    assert 'data-sounding="true"' in page and '<audio id="cr-alarm" src="/alarm.wav" loop' in page
    tone = await api.get("/alarm.wav")
    assert tone.status_code == 200 and tone.content[:4] == b"RIFF" and tone.content[8:12] == b"WAVE"


AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def test_ticket_forms_mutes_and_commitments_over_http(api):
    [ticket] = (await api.get("/api/tickets", params={"open_only": True})).json()
    url = f"/api/tickets/{ticket['id']}"
    assert ticket["resolve_by"] is not None
    for body in ({"to": "dispatched", "assignee": "Li Wei", "service_type": "A"}, {"to": "arrived"}):
        assert (await api.post(f"{url}/transitions", json=body, headers=AUTH)).status_code == 200
    incomplete = await api.post(f"{url}/transitions", json={"to": "resolved", "cause": "worn seat"}, headers=AUTH)
    assert incomplete.status_code == 422 and "cause and the work done" in incomplete.json()["detail"]
    later = (NOW + timedelta(days=1)).isoformat()
    naive = await api.post(f"{url}/commitment", json={"resolve_by": later[:19], "reason": "parts"}, headers=AUTH)
    assert naive.status_code == 422, "a committed time without its UTC offset is ambiguous"
    assert (await api.post(f"{url}/commitment", json={"resolve_by": later, "reason": "parts"})).status_code == 403
    committed = await api.post(f"{url}/commitment", json={"resolve_by": later, "reason": "seat on order"}, headers=AUTH)
    assert committed.status_code == 200 and committed.json()["resolve_reason"] == "seat on order"
    resolved = await api.post(f"{url}/transitions", json={"to": "resolved", "cause": "worn seat",
                                                         "work_done": "replaced the seat", "work_hours": 2},
                              headers=AUTH)
    assert resolved.status_code == 200 and resolved.json()["service_type"] == "A"
    bad_rating = {"to": "signed_off", "customer_name": "Wang Fang",
                  "rating": {"attitude": 4, "skill": 0, "arrival_time": 3, "follow_through": 4}}
    assert (await api.post(f"{url}/transitions", json=bad_rating, headers=AUTH)).status_code == 422
    bad_rating["rating"]["skill"] = 4
    signed = await api.post(f"{url}/transitions", json=bad_rating, headers=AUTH)
    assert signed.status_code == 200 and signed.json()["rating_skill"] == 4
    history = [h["action"] for h in (await api.get(url)).json()["history"]]
    assert history == ["opened", "to_dispatched", "to_arrived", "resolution_committed", "to_resolved", "to_signed_off"]

    [alert] = (await api.get("/api/alerts", params={"state": "firing"})).json()
    mute_url = f"/api/alerts/{alert['id']}/mute"
    assert (await api.post(mute_url, json={"minutes": 30, "reason": "crew on site"})).status_code == 403
    assert (await api.post(mute_url, json={"minutes": 30}, headers=AUTH)).status_code == 422
    assert (await api.post(mute_url, json={"minutes": 3000, "reason": "x"}, headers=AUTH)).status_code == 422
    muted = await api.post(mute_url, json={"minutes": 30, "reason": "crew on site"}, headers=AUTH)
    assert muted.status_code == 200 and muted.json()["muted_by"] == "desk"
    assert muted.json()["muted_until"].startswith((NOW + timedelta(minutes=30)).isoformat()[:19])


async def test_inspections_start_and_finish_with_a_token(api):
    body = {"site_id": "north", "asset_id": "rs-north-01", "kind": "regulator_round", "in_charge": "Zhang San",
            "people": ["Li Si"]}
    assert (await api.post("/api/inspections", json=body)).status_code == 403, "the reader is a viewer"
    unknown = await api.post("/api/inspections", json=body | {"site_id": "nowhere"}, headers=AUTH)
    assert unknown.status_code == 404 and "nowhere" in unknown.json()["detail"]
    started = await api.post("/api/inspections", json=body, headers=AUTH)
    assert started.status_code == 201 and started.json()["people"] == ["Zhang San", "Li Si"]
    running = (await api.get("/api/inspections", params={"in_progress": True})).json()
    assert [i["id"] for i in running] == [started.json()["id"]]
    url = f"/api/inspections/{started.json()['id']}/finish"
    assert (await api.post(url, json={"note": "all normal"}, headers=AUTH)).status_code == 200
    assert (await api.post(url, json={}, headers=AUTH)).status_code == 409
    assert (await api.get("/api/inspections", params={"in_progress": True})).json() == []


async def test_healthz_is_degraded_while_a_loop_error_is_recent_and_answers_200_either_way(tmp_path):
    raw = example_config()
    raw["storage"] = {"data_dir": str(tmp_path)}
    parts = build_components(config_from_dict(raw))
    clock = parts.clock = FixedClock(NOW)
    supervisor = Supervisor(parts.service, clock=clock)
    with supervisor.guard("rules"):
        raise KeyError("a bug")
    parts.service.count_set_aside("samples", lambda: 2)
    parts.service.count_input("alarm_hosts", lambda: {"accepted": 5, "malformed": 1})
    async with served(create_app(parts)) as api:
        degraded = await api.get("/healthz")
        assert degraded.status_code == 200
        assert degraded.json() == {
            "status": "degraded",
            "checks": {"database": "ok", "store": "ok"},
            "devices": {"unknown": 0, "online": 0, "degraded": 0, "offline": 0},
            "loops": {"rules": {"state": "running", "restarts": 0, "errors": 1, "last_error": "KeyError: 'a bug'",
                                "last_error_at": NOW.isoformat().replace("+00:00", "Z")}},
            "set_aside": {"samples": 2},
            "inputs": {"alarm_hosts": {"accepted": 5, "malformed": 1}},
            "buffers": {},
        }
        clock.now_value = NOW + timedelta(hours=1)
        assert (await api.get("/healthz")).json()["status"] == "ok", "an hour-old error is history"
    parts.close()


async def test_a_store_that_is_down_answers_503_with_retry_after_not_500(tmp_path):
    raw = example_config()
    raw["storage"] = {"data_dir": str(tmp_path)}
    raw["api"] = {"tokens": [reader_entry()]}
    parts = build_components(config_from_dict(raw))
    parts.store.close()  # every read now raises TimeSeriesError, as an unreachable server's does
    async with served(create_app(parts), token=READER) as client:
        answer = await client.get("/api/samples", params={"asset_id": "rs-north-01", "start": NOW.isoformat()})
    parts.database.dispose()
    assert answer.status_code == 503, answer.text
    assert answer.headers["retry-after"] == "10"
    assert answer.json() == {"detail": "the time-series store is unavailable; try again later"}


async def test_metrics_need_a_token_and_count_what_the_process_did(tmp_path):
    raw = example_config()
    raw["storage"] = {"data_dir": str(tmp_path)}
    raw["api"] = {"tokens": [reader_entry()]}
    parts = build_components(config_from_dict(raw))
    parts.health.register("rs-north-01")
    parts.health.record_success("rs-north-01", at=NOW)
    async with served(create_app(parts)) as anonymous:
        assert (await anonymous.get("/metrics")).status_code == 401, "metrics are not read anonymously"
    async with served(create_app(parts), token=READER) as api:
        answer = await api.get("/metrics")
    parts.close()
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=")
    assert 'sitewatch_polls_total{kind="regulator_station",outcome="ok"} 1.0' in answer.text
