"""What the running instance holds before the first browser test: set through its own
doors, as people and integrations would — faults injected into the simulators, then the
admin integration token over the API.

- door tickets at City Gas (rs-002: the technician's; rs-003: its door left open, so
  every page has a firing alert and an open ticket) and at Harbour Gas (rs-004);
- every alert acknowledged, so nothing sounds when a control room opens;
- the 08:30 log of the day now due, generated for every site;
- an inspection round and a complaint per customer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

import httpx

from sitewatch.review.schedule import latest_due_day
from tests.browser.instance import (
    OPEN_STATION,
    OTHER,
    OTHER_ROUND,
    OTHER_STATION,
    OWN,
    SITES,
    TIME_ZONE,
    WORK_STATION,
    Running,
)
from tests.sitewatch.service import wait_until

SEEN = "seen while setting the scene"  # the acknowledgements' comment
# Free text the scene and the tests type in: shown back on pages as data, in English.
PEOPLE = ("Zhang San", "Li Si")
COMPLAINTS = {OWN: "Hissing heard near the centre station", OTHER: "Harbour complaint about a smell"}
TYPED = (*PEOPLE, *COMPLAINTS.values(), SEEN)


@dataclass(frozen=True)
class Scene:
    day: date  # the day whose 08:30 log is due now, at every site (they share one zone)
    month: str  # YYYY-MM, this month at the sites
    quarter: str  # YYYY-Qn
    work_ticket: int
    open_ticket: int
    other_ticket: int
    open_alert: int
    other_alert: int
    own_inspection: int
    other_inspection: int


async def set_scene(running: Running) -> Scene:
    api = httpx.AsyncClient(base_url=running.url, timeout=30,
                            headers={"Authorization": f"Bearer {running.token}"})
    control = httpx.AsyncClient(base_url=running.stations_control, timeout=10)
    async with api, control:
        doors = (WORK_STATION, OPEN_STATION, OTHER_STATION)
        for station in doors:
            (await control.post(f"/stations/{station}/faults", json={"fault": "door_open"})).raise_for_status()

        async def tickets() -> dict[str, dict]:
            found = {t["asset_id"]: t for t in await _get(api, "/api/tickets", open_only=True)
                     if t["rule_id"] == "door-open"}
            return found if set(doors) <= set(found) else {}

        opened = await wait_until(tickets, timeout_s=20, every_s=0.2)
        alerts = {a["asset_id"]: a for a in await _get(api, "/api/alerts") if a["rule_id"] == "door-open"}
        for station in (WORK_STATION, OTHER_STATION):
            (await control.delete(f"/stations/{station}/faults/door_open")).raise_for_status()
        await acknowledge_all(api)

        now = running.parts.clock.now()
        day = latest_due_day(now, at=running.parts.config.review.at, time_zone=TIME_ZONE)
        for site_id, *_ in SITES:
            answer = await api.post(f"/api/reviews/{site_id}/{day.isoformat()}/generate")
            # 409: the service made the same log at that moment (its own 08:30 job) — it exists
            assert answer.status_code in (200, 409), f"{site_id} {day}: {answer.status_code} {answer.text}"

        rounds = {}
        for station, site_id in ((WORK_STATION, "centre"), (OTHER_ROUND, "harbour")):
            answer = await api.post("/api/inspections", json={
                "site_id": site_id, "asset_id": station, "kind": "regulator_round", "in_charge": PEOPLE[0],
                "people": [PEOPLE[1]]})
            assert answer.status_code == 201, f"inspection at {station}: {answer.status_code} {answer.text}"
            rounds[station] = answer.json()["id"]
            # Finished at once: a round in progress holds the station's alerts.
            finished = await api.post(f"/api/inspections/{rounds[station]}/finish", json={})
            assert finished.status_code == 200, f"finishing {rounds[station]}: {finished.status_code} {finished.text}"
        sites = {s[1]: s[0] for s in SITES}
        for customer, description in COMPLAINTS.items():
            answer = await api.post("/api/complaints", json={
                "customer_id": customer, "site_id": sites[customer], "complaint_class": "quality",
                "description": description})
            assert answer.status_code == 201, f"complaint of {customer}: {answer.status_code} {answer.text}"

    local = now.astimezone(ZoneInfo(TIME_ZONE))
    return Scene(day=day, month=f"{local.year}-{local.month:02d}", quarter=f"{local.year}-Q{(local.month - 1) // 3 + 1}",
                 work_ticket=opened[WORK_STATION]["id"], open_ticket=opened[OPEN_STATION]["id"],
                 other_ticket=opened[OTHER_STATION]["id"], open_alert=alerts[OPEN_STATION]["id"],
                 other_alert=alerts[OTHER_STATION]["id"], own_inspection=rounds[WORK_STATION],
                 other_inspection=rounds[OTHER_ROUND])


async def acknowledge_all(api: httpx.AsyncClient) -> None:
    """Every alert nobody acknowledged yet: acknowledged by the scene, so none sounds."""
    for alert in await _get(api, "/api/alerts"):
        if alert["acknowledged_at"] is None:
            answer = await api.post(f"/api/alerts/{alert['id']}/acknowledge", json={"comment": SEEN})
            assert answer.status_code == 200, f"acknowledging {alert['id']}: {answer.status_code} {answer.text}"


async def _get(api: httpx.AsyncClient, path: str, **params) -> list[dict]:
    answer = await api.get(path, params=params)
    assert answer.status_code == 200, f"{path}: {answer.status_code} {answer.text[:300]}"
    return answer.json()
