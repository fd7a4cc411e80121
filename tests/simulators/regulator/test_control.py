"""The control API over a real socket (uvicorn in the test's event loop)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from sitewatch.simulators.regulator.control import ControlServer
from sitewatch.simulators.regulator.faults import known_faults
from sitewatch.simulators.regulator.fleet import RegulatorFleet

from .conftest import FrozenClock
from .peers import mbpoll


@pytest.fixture
async def api(fleet: RegulatorFleet) -> AsyncIterator[httpx.AsyncClient]:
    control = ControlServer(fleet)
    await control.start()
    try:
        async with httpx.AsyncClient(base_url=control.url, timeout=5) as client:
            yield client
    finally:
        await control.stop()


async def test_lists_stations_with_ports_and_faults(api: httpx.AsyncClient, fleet: RegulatorFleet):
    await fleet.inject("rs-002", "door_open")
    response = await api.get("/stations")
    assert response.status_code == 200, response.text
    body = response.json()
    assert [(s["station_id"], s["port"], s["device_id"], s["host"]) for s in body] == [
        (s.station_id, fleet.port_of(s.station_id), 1, "127.0.0.1") for s in fleet.stations
    ]
    assert body[0]["faults"] == []
    assert [f["fault"] for f in body[1]["faults"]] == ["door_open"]


async def test_inject_and_clear_through_http(
    api: httpx.AsyncClient, fleet: RegulatorFleet, clock: FrozenClock
):
    response = await api.post(
        "/stations/rs-001/faults",
        json={"fault": "regulator_failure", "params": {"rate_kpa_s": 0.1}},
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["fault"] == "regulator_failure"
    assert created["params"] == {"rate_kpa_s": 0.1, "peak_kpa": 3.2}
    assert created["started_at"].startswith(clock.now().strftime("%Y-%m-%dT%H:%M:%S"))
    await api.post("/stations/rs-001/faults", json={"fault": "gas_leak"})
    assert {f.name for f in fleet.active_faults("rs-001")} == {"regulator_failure", "gas_leak"}

    station = (await api.get("/stations/rs-001")).json()
    assert {f["fault"] for f in station["faults"]} == {"regulator_failure", "gas_leak"}

    assert (await api.delete("/stations/rs-001/faults/gas_leak")).status_code == 204
    assert [f.name for f in fleet.active_faults("rs-001")] == ["regulator_failure"]
    assert (await api.delete("/stations/rs-001/faults")).status_code == 204
    assert fleet.active_faults("rs-001") == ()


async def test_comm_loss_through_http_silences_the_station(
    api: httpx.AsyncClient, fleet: RegulatorFleet
):
    port = fleet.port_of("rs-001")
    assert (
        await api.post("/stations/rs-001/faults", json={"fault": "comm_loss"})
    ).status_code == 201
    assert (await mbpoll(port)).rc != 0
    assert (await api.delete("/stations/rs-001/faults/comm_loss")).status_code == 204
    assert (await mbpoll(port)).rc == 0


async def test_error_codes(api: httpx.AsyncClient):
    unknown_station = await api.post("/stations/rs-404/faults", json={"fault": "door_open"})
    assert unknown_station.status_code == 404 and "rs-404" in unknown_station.json()["detail"]
    assert (await api.get("/stations/rs-404")).status_code == 404
    assert (await api.delete("/stations/rs-404/faults")).status_code == 404

    unknown_fault = await api.post("/stations/rs-001/faults", json={"fault": "flood"})
    assert unknown_fault.status_code == 422
    assert unknown_fault.json()["known_faults"] == list(known_faults())
    assert (await api.delete("/stations/rs-001/faults/flood")).status_code == 422

    bad_param = await api.post(
        "/stations/rs-001/faults", json={"fault": "gas_leak", "params": {"speed": 2}}
    )
    assert bad_param.status_code == 422 and bad_param.json()["known_params"] == [
        "rate_pct_s",
        "cap_pct",
    ]
    not_a_number = await api.post(
        "/stations/rs-001/faults", json={"fault": "gas_leak", "params": {"cap_pct": "lots"}}
    )
    assert not_a_number.status_code == 422
