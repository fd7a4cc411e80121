"""The control room over a real socket: /api/dashboard's content, scope and filters, the
status of each asset, what sounds, and the page people use (tests/api/control_room_world.py
sets the fleet up)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from tests.api.control_room_world import NOW, logged_in, world


@pytest.fixture
async def fleet(tmp_path, database_url):
    async with world(tmp_path, database_url) as w:
        yield w


async def dashboard(client, **filters) -> dict:  # noqa: ANN001
    response = await client.get("/api/dashboard", params=filters)
    assert response.status_code == 200, response.text
    return response.json()


def alert_ids(state: dict) -> dict[str, int]:
    """fingerprint-ish 'asset/rule' -> alert id."""
    return {f"{a['asset_id']}/{a['rule_id']}": a["id"] for g in state["alert_groups"] for a in g["alerts"]}


async def test_each_asset_has_the_status_of_what_happens_to_it(fleet):
    async with logged_in(fleet.app, "dispatcher") as client:
        state = await dashboard(client)
    status = {a["id"]: (a["status"], a["reason"]) for a in state["assets"]}
    assert status == {
        "rs-north-01": ("critical", None),  # a critical alert pages
        "rs-north-02": ("warning", None),  # a warning pages
        "rs-north-03": ("maintenance", "inspection:1"),  # technicians at work on it
        "rs-north-04": ("offline", None),  # its own no-data alert pages (major, yet offline, not critical)
        "rs-north-05": ("held", "offline:rs-north-04"),  # its alert is explained by the outage upstream
        "rs-north-06": ("maintenance", "maintenance:valve-swap"),  # under a window: its door alert is held
        "rs-north-07": ("ok", None),
        "ah-north-01": ("offline", None),  # the collector cannot reach it, no alert yet
        "rs-south-01": ("warning", None),
    }
    assert state["counts"] == {"critical": 1, "offline": 2, "warning": 2, "maintenance": 2, "held": 1, "ok": 1}
    north = next(s for s in state["sites"] if s["id"] == "north")
    assert north["counts"]["maintenance"] == 2 and north["time_zone"] == "Asia/Shanghai"


async def test_alerts_are_grouped_by_fault_and_tickets_carry_their_deadlines(fleet):
    async with logged_in(fleet.app, "dispatcher") as client:
        state = await dashboard(client)
    groups = {g["key"]: g for g in state["alert_groups"]}
    regulator = next(g for g in groups.values() if g["asset_id"] == "rs-north-01")
    # Outlet high and relief venting are one fault (pressure control) and one ticket.
    assert [a["rule_id"] for a in regulator["alerts"]] == ["outlet-high", "relief-venting"]
    assert regulator["key"] == f"ticket:{regulator['ticket_id']}" and regulator["fault"] == "pressure-control"
    assert regulator["severity"] == "critical" and regulator["time_zone"] == "Asia/Shanghai"
    # A held alert pages nobody: no ticket yet, grouped by its asset and fault.
    held = groups["rs-north-05/pressure-control"]
    assert held["ticket_id"] is None and held["alerts"][0]["held_by"] == "offline:rs-north-04"
    assert [g["severity"] for g in state["alert_groups"]] == sorted(
        (g["severity"] for g in state["alert_groups"]), key=["critical", "major", "warning", "info"].index)

    ticket = next(t for t in state["tickets"] if t["id"] == regulator["ticket_id"])
    assert ticket["opened_at"] == "2026-03-04T01:55:00Z"
    assert ticket["arrive_by"] == "2026-03-04T04:55:00Z", "ring2: three hours to arrive, in UTC"
    assert ticket["resolve_by"] == "2026-03-04T16:00:00Z", "the end of the site's day: midnight in Shanghai"
    assert (ticket["arrival"], ticket["resolution"], ticket["time_zone"]) == ("due", "due", "Asia/Shanghai")
    south = next(t for t in state["tickets"] if t["site_id"] == "south")
    assert south["time_zone"] == "Asia/Kolkata" and south["desk"] == "dispatch-centre", "07:30 there: off hours"


async def test_sounding_is_paged_unacknowledged_unmuted_and_follows_acknowledge_and_mute(fleet):
    async with logged_in(fleet.app, "dispatcher") as client:
        state = await dashboard(client)
        ids = alert_ids(state)
        paged = {ids[k] for k in ("rs-north-01/outlet-high", "rs-north-01/relief-venting", "rs-north-02/door-open",
                                  "rs-north-04/no-data", "rs-south-01/gas")}
        assert set(state["sounding"]) == paged, "held alerts (rs-north-05, rs-north-06) page nobody"

        ack = await client.post(f"/api/alerts/{ids['rs-north-01/outlet-high']}/acknowledge", json={"comment": "seen"})
        assert ack.status_code == 200, ack.text
        mute = await client.post(f"/api/alerts/{ids['rs-north-02/door-open']}/mute",
                                 json={"minutes": 30, "reason": "technician on the way"})
        assert mute.status_code == 200, mute.text
        state = await dashboard(client)
        assert set(state["sounding"]) == paged - {ids["rs-north-01/outlet-high"], ids["rs-north-02/door-open"]}
        door = next(a for g in state["alert_groups"] for a in g["alerts"] if a["id"] == ids["rs-north-02/door-open"])
        assert (door["muted_by"], door["mute_reason"], door["muted_until"]) == (
            "dispatcher", "technician on the way", "2026-03-04T02:30:00Z")

        fleet.clock.now_value = NOW + timedelta(minutes=31)  # the mute ran out: it sounds again
        state = await dashboard(client)
        assert ids["rs-north-02/door-open"] in state["sounding"]
        assert ids["rs-north-01/outlet-high"] not in state["sounding"], "an acknowledgement does not run out"


async def test_a_scoped_user_sees_only_their_customers_sites_assets_alerts_and_tickets(fleet):
    async with logged_in(fleet.app, "south-dispatcher") as client:
        state = await dashboard(client)
        assert [s["id"] for s in state["sites"]] == ["south"]
        assert [a["id"] for a in state["assets"]] == ["rs-south-01"]
        assert {g["site_id"] for g in state["alert_groups"]} == {"south"}
        assert {t["site_id"] for t in state["tickets"]} == {"south"} and len(state["tickets"]) == 1
        assert state["options"]["customers"] == [{"id": "othergas", "name": "Other Gas"}]
        assert len(state["sounding"]) == 1
        for other in ({"customer": "citygas"}, {"site": "north"}, {"customer": "nobody"}):
            assert (await client.get("/api/dashboard", params=other)).status_code == 404
        page = (await client.get("/")).text
        assert "rs-north-01" not in page and "North district" not in page
    async with logged_in(fleet.app, "viewer") as client:
        state = await dashboard(client)
        assert {s["id"] for s in state["sites"]} == {"north", "south"}


async def test_filters_by_customer_site_severity_and_desk(fleet):
    async with logged_in(fleet.app, "manager") as client:
        by_customer = await dashboard(client, customer="othergas")
        assert [a["id"] for a in by_customer["assets"]] == ["rs-south-01"]
        by_site = await dashboard(client, site="north")
        assert "rs-south-01" not in {a["id"] for a in by_site["assets"]} and len(by_site["assets"]) == 8
        assert {t["site_id"] for t in by_site["tickets"]} == {"north"}
        critical = await dashboard(client, severity="critical")
        assert {g["severity"] for g in critical["alert_groups"]} == {"critical"}
        assert {t["severity"] for t in critical["tickets"]} == {"critical"}
        assert len(critical["assets"]) == 9, "severity narrows alerts and tickets, not the fleet"
        major = await dashboard(client, severity="major")
        assert {g["severity"] for g in major["alert_groups"]} == {"critical", "major"}, "at least major"
        desk = await dashboard(client, desk="dispatch-centre")
        assert [t["site_id"] for t in desk["tickets"]] == ["south"]
        assert {g["desk"] for g in desk["alert_groups"]} == {"dispatch-centre"}
        assert set(desk["sounding"]) < set((await dashboard(client))["sounding"])
        everything = await dashboard(client, customer="", site="", severity="", desk="")
        assert len(everything["assets"]) == 9, "the page's 'all' (an empty value) filters nothing"
        assert (await client.get("/api/dashboard", params={"severity": "loud"})).status_code == 422


async def test_the_page_draws_the_first_state_in_the_readers_language_with_site_local_times(fleet):
    async with logged_in(fleet.app, "dispatcher") as client:
        zh = (await client.get("/", headers={"Accept-Language": "zh-CN"})).text
        assert "监控中心" in zh and "检修中" in zh and "报警抑制" in zh
        assert '<a class="chip held" href="/asset/rs-north-05" title="报警抑制 · rs-north-04 离线">' in zh
        assert re.search(r'<div id="cr" data-version="[0-9a-f]+-\d+"', zh)
        assert 'data-sounding="true"' in zh and '<audio id="cr-alarm" src="/alarm.wav" loop' in zh
        # 01:55 UTC is 09:55 in Shanghai and 07:25 in Kolkata.
        assert '<time datetime="2026-03-04T01:55:00Z">03-04 09:55</time>' in zh
        assert '<time datetime="2026-03-04T01:55:00Z">03-04 07:25</time>' in zh
        assert "剩余 2 小时 55 分" in zh, "the arrival countdown of a ticket opened five minutes ago (3 h)"
        await client.post("/language", data={"locale": "en", "next": "/"})
        en = (await client.get("/")).text
        assert "In maintenance" in en and "Acknowledge" in en and "2 h 55 min left" in en
        assert "https://" not in en and "http://" not in en, "nothing from another host"
        assert (await client.get("/alarm.wav")).headers["content-type"] == "audio/wav"
        assert (await client.get("/static/control_room.js")).status_code == 200


@pytest.mark.parametrize(("role", "acknowledge", "assign"), [
    ("viewer", False, False), ("dispatcher", True, True), ("technician", True, False), ("manager", True, True)])
async def test_write_buttons_only_for_roles_that_may(fleet, role, acknowledge, assign):
    async with logged_in(fleet.app, role) as client:
        page = (await client.get("/")).text
    assert ('data-action="acknowledge"' in page) is acknowledge and ('data-action="mute"' in page) is acknowledge
    assert ('data-action="assign"' in page) is assign
    assert f'data-can-ack="{str(acknowledge).lower()}"' in page


async def test_assigning_from_the_page_dispatches_the_ticket(fleet):
    async with logged_in(fleet.app, "dispatcher") as client:
        ticket = next(t for t in (await dashboard(client))["tickets"] if t["asset_id"] == "rs-north-02")
        moved = await client.post(f"/api/tickets/{ticket['id']}/transitions",
                                  json={"to": "dispatched", "assignee": "Li Wei", "note": ""})
        assert moved.status_code == 200, moved.text
        after = next(t for t in (await dashboard(client))["tickets"] if t["id"] == ticket["id"])
        assert (after["state"], after["assignee"]) == ("dispatched", "Li Wei")
        page = (await client.get("/")).text
        row = page[page.index(f'data-ticket-id="{ticket["id"]}"'):]
        assert 'data-action="assign"' not in row[:row.index("</tr>")], "only a registered ticket is assigned"
