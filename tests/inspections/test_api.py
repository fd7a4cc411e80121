"""The inspection API and page over a real socket: a round recorded end to end, the two-person
rule, one calibration ticket, the door flag, due lists per site and technician, rain,
contracts, the plan catalogue."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from sitewatch.api.app import create_app
from sitewatch.components import build_components
from sitewatch.config.load import config_from_dict
from sitewatch.domain.samples import Sample
from sitewatch.domain.time import UTC
from sitewatch.storage.repository import sync_inventory
from tests.inspections.conftest import raw_config
from tests.serving import READER, FixedClock, reader_entry, served, token_entry

TOKEN = "inspection-desk-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NOW = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


@pytest.fixture
async def api(tmp_path):
    raw = raw_config()
    raw["assets"] = [a for a in raw["assets"] if a["kind"] != "camera"]  # no vault needed here
    raw["storage"] = {"data_dir": str(tmp_path)}
    raw["api"] = {"tokens": [token_entry(TOKEN, name="desk"), reader_entry()]}
    parts = build_components(config_from_dict(raw))
    parts.clock = FixedClock(NOW)
    with parts.sessions() as session:
        sync_inventory(session, parts.config, actor="test", now=NOW)
        session.commit()
    async with served(create_app(parts), token=READER) as client:
        client.headers["Accept-Language"] = "en"  # the pages' English text
        yield client, parts
    parts.close()


async def test_a_regulator_round_recorded_end_to_end(api):
    api, parts = api
    body = {"site_id": "north", "asset_id": "rs-north-01", "kind": "regulator_round", "in_charge": "Zhang San"}
    alone = await api.post("/api/inspections", json=body, headers=AUTH)
    assert alone.status_code == 409 and "at least 2 people, one of them in charge" in alone.json()["detail"]
    started = await api.post("/api/inspections", json=body | {"people": ["Li Si"]}, headers=AUTH)
    assert started.status_code == 201
    inspection_id = started.json()["id"]
    base = f"/api/inspections/{inspection_id}"

    results = {"results": [{"item": "vents", "outcome": "ok"}, {"item": "leak_check", "outcome": "ok"}]}
    assert (await api.post(f"{base}/results", json=results)).status_code == 403, "the reader is a viewer"
    assert (await api.post(f"{base}/results", json=results, headers=AUTH)).status_code == 200
    wrong = await api.post(f"{base}/results", json={"results": [{"item": "vents", "outcome": "fine"}]}, headers=AUTH)
    assert wrong.status_code == 422

    # SCADA says 2.50 kPa around the reading; the U-tube says 2.80 kPa, twice.
    parts.store.write([Sample("rs-north-01", "outlet_kpa", NOW - timedelta(seconds=s), 2.50, "kPa")
                       for s in range(0, 60, 5)]
                      + [Sample("rs-north-01", "door_open", NOW - timedelta(minutes=m), float(m < 3), "state")
                         for m in range(10)])
    reading = {"channel": "outlet_kpa", "value": 2.80, "unit": "kPa", "taken_at": NOW.isoformat()}
    first = await api.post(f"{base}/readings", json=reading, headers=AUTH)
    second = await api.post(f"{base}/readings", json=reading, headers=AUTH)
    assert first.status_code == second.status_code == 201
    assert first.json()["within_tolerance"] is False and first.json()["scada_value"] == 2.5
    assert first.json()["ticket_id"] == second.json()["ticket_id"] is not None
    mpa = await api.post(f"{base}/readings", json=reading | {"unit": "MPa", "value": 0.0028}, headers=AUTH)
    assert mpa.status_code == 409 and "outlet_kpa is in kPa" in mpa.json()["detail"]
    tickets = (await api.get("/api/tickets")).json()
    assert [(t["fingerprint"], t["service_type"]) for t in tickets] == [("rs-north-01/calibration/outlet_kpa", "D")]

    page = await api.get("/inspections")
    assert page.status_code == 200 and f'href="/inspections/{inspection_id}"' in page.text
    assert "Regulator round (at least two people, one in charge)" in page.text
    one = (await api.get(f"/inspections/{inspection_id}")).text
    assert "Regulator operating and closing pressure with a U-tube manometer" in one, "its checklist"
    assert "cdn" not in page.text.lower() and "https://" not in page.text

    finished = await api.post(f"{base}/finish", json={"note": "all normal"}, headers=AUTH)
    assert finished.status_code == 200
    detail = (await api.get(base)).json()
    assert [r["item"] for r in detail["results"]] == ["vents", "leak_check"]
    assert len(detail["readings"]) == 2 and detail["flags"] == [], "the door opened during the round"
    due = (await api.get("/api/inspections/due", params={"site_id": "north"})).json()
    assert not [d for d in due if d["kind"] == "regulator_round"], "just done: next due in two weeks"
    ahead = (await api.get("/api/inspections/due", params={"site_id": "north", "include_scheduled": True})).json()
    [next_round] = [d for d in ahead if d["kind"] == "regulator_round"]
    assert (next_round["status"], next_round["due_on"], next_round["last_done_on"]) == (
        "scheduled", "2026-12-11", "2026-11-27")


async def test_a_round_whose_door_never_opened_is_flagged_and_reviewed(api):
    api, parts = api
    parts.store.write([Sample("rs-north-01", "door_open", NOW - timedelta(minutes=m), 0.0, "state") for m in range(30)])
    started = await api.post("/api/inspections", json={"site_id": "north", "kind": "regulator_round",
                                                       "in_charge": "Zhang San", "people": ["Li Si"]}, headers=AUTH)
    await api.post(f"/api/inspections/{started.json()['id']}/finish", json={}, headers=AUTH)
    [flag] = (await api.get("/api/inspections/flags", params={"unreviewed": True})).json()
    assert (flag["asset_id"], flag["kind"]) == ("rs-north-01", "door-never-opened")
    assert "door never opened" in (await api.get("/inspections")).text
    url = f"/api/inspections/flags/{flag['id']}/review"
    assert (await api.post(url, json={"note": "checked"})).status_code == 403
    assert (await api.post(url, json={"note": "spoke to the crew"}, headers=AUTH)).json()["reviewed_by"] == "desk"
    assert (await api.get("/api/inspections/flags", params={"unreviewed": True})).json() == []


async def test_due_lists_per_technician_rain_contracts_and_plans(api):
    api, _parts = api
    anna = (await api.get("/api/inspections/due", params={"technician": "Anna"})).json()
    assert {d["site_id"] for d in anna} == {"berlin"} and {d["technician"] for d in anna} == {"Anna"}
    assert (await api.get("/api/inspections/due", params={"site_id": "nowhere"})).status_code == 404
    assert (await api.post("/api/sites/north/rain", json={})).status_code == 403
    wells = await api.post("/api/sites/north/rain", json={"note": "storm"}, headers=AUTH)
    assert wells.status_code == 201
    assert [(d["target_id"], d["status"], d["due_on"]) for d in wells.json()] == [("well-n-1", "due", "2026-11-29")]
    contracts = (await api.get("/api/contracts", params={"site_id": "north"})).json()
    assert [(c["what"], c["ends_on"], c["remind_on"]) for c in contracts] == [
        ("free-maintenance-end", "2027-03-31", ["2026-12-31", "2027-02-28"]),
        ("contract-end", "2027-12-31", ["2027-09-30", "2027-11-30"]),
    ]
    plans = {p["kind"]: p for p in (await api.get("/api/inspection-plans")).json()}
    assert plans["regulator_round"]["min_people"] == 2 and plans["regulator_round"]["every_days"] == 14
    assert plans["regulator_overhaul"]["overhaul_years"] == {"domestic": 5, "imported": 8}
    page = (await api.get("/inspections", params={"technician": "Anna"})).text
    assert "Berlin 01 regulator station" in page and "Well by the creek" not in page
