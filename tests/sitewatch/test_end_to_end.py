"""Issue acceptance, end to end: simulated stations -> collector -> rules -> tickets -> API.

Real Modbus servers (the simulator) and a real HTTP server; nothing is mocked.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from sitewatch.domain.health import HealthState
from sitewatch.simulators.regulator.fleet import RegulatorFleet
from tests.sitewatch.service import Service, fleet_raw_config, running_fleet, wait_until

POLL_S = 1.0
RULE_FOR_S = 2.0
BUDGET_S = POLL_S + RULE_FOR_S + 2.0  # the acceptance bound


@pytest.fixture
async def fleet() -> AsyncIterator[RegulatorFleet]:
    async with running_fleet(3, seed=7) as fleet:
        yield fleet


def raw_config(fleet: RegulatorFleet, data_dir: Path) -> dict:
    raw = fleet_raw_config(fleet, data_dir, poll_interval_s=POLL_S)
    for rule in raw["rules"]:
        if rule["kind"] == "threshold":
            rule["for_s"] = RULE_FOR_S
    raw["collector"] = {"jitter_fraction": 0.0, "offline_after_failures": 2}
    return raw


async def test_regulator_failure_opens_exactly_one_ticket_in_time_and_survives_restart(fleet, tmp_path):
    raw = raw_config(fleet, tmp_path)
    async with Service(raw) as service, service.client() as api:
        assert (await api.get("/api/tickets")).json() == []
        injected = time.monotonic()
        await fleet.inject("rs-002", "regulator_failure")

        async def tickets():
            return (await api.get("/api/tickets")).json()

        [ticket] = await wait_until(tickets, timeout_s=BUDGET_S + 3)
        elapsed = time.monotonic() - injected
        assert elapsed <= BUDGET_S, f"ticket after {elapsed:.1f} s; allowed {BUDGET_S} s"
        assert ticket["asset_id"] == "rs-002" and ticket["rule_id"] == "outlet-high" and ticket["priority"] == 1
        # the fault persists for a while: still exactly one ticket, no storm
        await asyncio.sleep(2 * POLL_S)
        assert len(await tickets()) == 1

        await fleet.clear("rs-002", "regulator_failure")

        async def resolved():
            return (await api.get("/api/alerts", params={"state": "resolved"})).json()

        [alert] = await wait_until(resolved, timeout_s=3 * POLL_S + 2)
        assert alert["fingerprint"] == "rs-002/outlet-high/outlet_kpa"
        [still_open] = await tickets()
        assert still_open["state"] == "registered", "the ticket stays open for a technician"

        await fleet.inject("rs-002", "regulator_failure")  # the fault comes back ...
        await wait_until(lambda: _firing(api), timeout_s=BUDGET_S + 2)

    # ... and the collector restarts while it is firing: no duplicate ticket.
    async with Service(raw) as service, service.client() as api:
        await asyncio.sleep(RULE_FOR_S + 2 * POLL_S)  # long enough for a new firing to show
        tickets = (await api.get("/api/tickets")).json()
        assert len(tickets) == 1, tickets
        assert tickets[0]["occurrences"] == 2, "the re-fire before the restart was counted, the restart not"
        assert len((await api.get("/api/alerts", params={"state": "firing"})).json()) == 1


async def _firing(api: httpx.AsyncClient) -> list:
    return (await api.get("/api/alerts", params={"state": "firing"})).json()


async def test_a_station_that_stops_answering_raises_one_no_data_ticket(fleet, tmp_path):
    raw = raw_config(fleet, tmp_path)
    for rule in raw["rules"]:
        if rule["kind"] == "no_data":
            rule["after_s"] = 2.0
    async with Service(raw) as service, service.client() as api:
        await fleet.inject("rs-003", "comm_loss")
        [alert] = await wait_until(lambda: _firing(api), timeout_s=2.0 + 2 * POLL_S + 2)
        assert alert["rule_id"] == "no-data" and alert["asset_id"] == "rs-003"
        health = service.parts.health.get("rs-003")
        assert health.state is not HealthState.ONLINE
        assert len((await api.get("/api/tickets")).json()) == 1
        await fleet.clear("rs-003", "comm_loss")
        await service.parts.health.wait_for("rs-003", lambda h: h.state is HealthState.ONLINE, timeout_s=10)
