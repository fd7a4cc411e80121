"""Paging inside the whole service: simulated stations -> collector -> rules -> ticket ->
outbox -> planner -> sender -> a real HTTP receiver (the desk's group webhook and an SMS
gateway), with the loops the process runs and /healthz reporting them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from sitewatch.storage.paging import PageRow
from tests.paging.channels.receivers import HttpReceiver, serving
from tests.serving import bearer, token_entry
from tests.sitewatch.service import Service, fleet_raw_config, running_fleet, wait_until

DISPATCHER = "test-dispatcher-token"
LEVEL_2_MIN = 0.1  # 6 s: the duty lead hears of an unacknowledged fault


@pytest.fixture
async def receiver() -> AsyncIterator[HttpReceiver]:
    async with serving(HttpReceiver()) as running:
        yield running


def paging(url: str) -> dict:
    desk = {"rota": {"weekly": ["wang"], "weekly_from": "2026-01-05"}, "lead": "liu", "groups": ["desk-hook"]}
    return {
        "base_url": "https://sitewatch.example",
        "retry_first_s": 0.5,
        "people": {"wang": {"name": "王强", "phone": "13800000003", "channels": ["sms"]},
                   "liu": {"name": "刘洋", "phone": "13800000004", "channels": ["sms"]}},
        "channels": {
            "sms": {"kind": "sms", "request": {"url": f"{url}/sms", "form": {"to": "{phone}", "text": "{text}",
                                                                             "id": "{id}"}}},
            "desk-hook": {"kind": "webhook", "url": f"{url}/desk"},
        },
        "desks": {"operations": desk, "dispatch-centre": desk},
        "routes": [{"name": "urgent", "severities": ["critical", "major"],
                    "levels": [{"after_min": 0, "to": ["on_call", "groups"]},
                               {"after_min": LEVEL_2_MIN, "to": ["lead"]}]}],
    }


async def test_a_regulator_failure_is_paged_escalated_and_an_acknowledged_one_is_not(receiver, tmp_path):
    async with running_fleet(2, seed=11) as fleet:
        raw = fleet_raw_config(fleet, tmp_path, poll_interval_s=1.0)
        raw["collector"] = {"jitter_fraction": 0.0}
        for rule in raw["rules"]:
            if rule["kind"] == "threshold":
                rule["for_s"] = 2.0  # as the end-to-end test: detection in seconds, not the demo's minute
        raw["paging"] = paging(receiver.url)
        raw["api"]["tokens"] = [token_entry(DISPATCHER, name="desk", role="dispatcher")]
        async with Service(raw) as service, service.client() as api:
            await fleet.inject("rs-001", "regulator_failure")

            def sent_to(path: str) -> list:
                return [r for r in receiver.requests if r.path == path]

            async def paged():
                return sent_to("/desk") and sent_to("/sms")

            await wait_until(paged, timeout_s=20)
            hook = sent_to("/desk")[0].json()
            assert hook["data"]["kind"] == "opened" and hook["data"]["asset_id"] == "rs-001"
            assert hook["data"]["link"].startswith("https://sitewatch.example/tickets/")
            assert "rs-001" in hook["text"] or "001" in hook["text"]
            assert sent_to("/sms")[0].form()["to"] == "13800000003", "the on-call person by SMS"

            async def lead_told():
                return [r for r in sent_to("/sms") if r.form()["to"] == "13800000004"]

            await wait_until(lead_told, timeout_s=15)  # level 2 after 6 s without an acknowledgement

            # A second fault, acknowledged in the control room before level 2 is due.
            await fleet.inject("rs-002", "regulator_failure")

            async def second_ticket():
                return [t for t in (await api.get("/api/tickets")).json() if t["asset_id"] == "rs-002"]

            [ticket] = await wait_until(second_ticket, timeout_s=20)
            alerts = (await api.get("/api/alerts", params={"state": "firing"})).json()
            [alert] = [a for a in alerts if a["asset_id"] == "rs-002"]
            answer = await api.post(f"/api/alerts/{alert['id']}/acknowledge", json={"comment": "on it"},
                                    headers=bearer(DISPATCHER))
            assert answer.status_code == 200, answer.text

            def page_of_second():
                with service.parts.sessions() as session:
                    return session.scalar(select(PageRow).where(PageRow.ticket_id == ticket["id"]))

            async def acknowledged():
                page = page_of_second()
                return page is not None and page.acknowledged_at is not None

            await wait_until(acknowledged, timeout_s=10)  # the planner took the acknowledgement
            assert page_of_second().level == 1, "acknowledged before its level 2 was due: it never escalates"

            health = (await api.get("/healthz")).json()
            assert {"paging-plan", "paging-send"} <= set(health["loops"]), health["loops"]
            assert health["inputs"]["paging"]["delivered"] >= 3
            assert [d["kind"] for d in (await api.get(f"/api/tickets/{ticket['id']}/notifications")).json()
                    ] == ["opened", "opened"], "the second fault's messages: the on-call person and the group"
