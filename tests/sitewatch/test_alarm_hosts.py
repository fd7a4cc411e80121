"""Alarm hosts end to end: simulator -> the machine's Mosquitto -> consumer -> rules -> tickets."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime

import pytest

from sitewatch.demo import example_config
from sitewatch.domain.time import UTC
from sitewatch.simulators.alarmhost.fleet import build
from sitewatch.simulators.alarmhost.spec import FleetConfig, HostSpec
from tests.sitewatch.service import Service, wait_until


@pytest.fixture
async def setup(tmp_path):
    run = uuid.uuid4().hex[:8]
    prefix = f"test-{run}/alarmhost"
    fleet = build(FleetConfig(topic_prefix=prefix, run_id=run, hosts=(HostSpec(host_id="ah-north-01", zones=4),)))
    raw = example_config()
    raw["storage"] = {"data_dir": str(tmp_path), "flush_interval_s": 0.2}
    raw["rules_engine"] = {"tick_s": 0.2}
    raw["mqtt"] = raw["mqtt"] | {"client_id": f"sw-{run}", "topic_prefix": prefix}
    raw["assets"] = [a for a in raw["assets"] if a["kind"] == "alarm_host"]
    raw["assets"][0]["alarm_host"]["zones"] = 4
    for rule in raw["rules"]:
        if rule["id"] == "mains-loss":
            rule["for_s"] = 1.0
    raw["rules"] = [r for r in raw["rules"] if r["kind"] == "threshold" and not r["channel"].endswith("_kpa")]
    async with Service(raw) as service:
        await service.parts_ready_for_mqtt()
        await fleet.start()
        try:
            async with service.client() as api:
                yield fleet, api, service, prefix
        finally:
            await fleet.stop()


async def test_tamper_mains_loss_and_a_zone_fault_each_open_one_ticket(setup):
    fleet, api, service, _prefix = setup

    async def tickets():
        return {t["rule_id"] + ":" + t["fingerprint"].split("/")[-1]: t for t in (await api.get("/api/tickets")).json()}

    await fleet.act("ah-north-01", "tamper")
    await fleet.act("ah-north-01", "zone_fault", zone=3)
    await fleet.act("ah-north-01", "garbage")  # set aside and counted, never fatal
    await fleet.act("ah-north-01", "mains_loss")  # reported once; the rule needs 1 s of it
    got = await wait_until(lambda: _when(tickets, 3), timeout_s=10)
    assert set(got) == {"tamper:tamper", "zone-fault:zone_03_fault", "mains-loss:mains_ok"}
    assert got["tamper:tamper"]["priority"] == 1 and got["tamper:tamper"]["site_id"] == "north"
    health = service.parts_consumer().health("ah-north-01")
    assert health.malformed == 1 and health.online


async def _when(tickets, count: int):
    found = await tickets()
    return found if len(found) >= count else None


async def test_a_hand_written_event_from_mosquitto_pub_raises_the_intrusion_alert(setup):
    _fleet, api, _service, prefix = setup
    event = ('{"event_id": "hand-1", "ts": "%s", "type": "zone_alarm", "zone": 2}'
             % datetime.now(UTC).isoformat())
    pub = await asyncio.create_subprocess_exec(
        "mosquitto_pub", "-h", "127.0.0.1", "-p", "1883", "-q", "1",
        "-t", f"{prefix}/ah-north-01/event", "-m", event,
    )
    assert await pub.wait() == 0, "mosquitto_pub failed"

    async def firing():
        alerts = (await api.get("/api/alerts", params={"state": "firing"})).json()
        return [a for a in alerts if a["rule_id"] == "intrusion"]

    [alert] = await wait_until(firing, timeout_s=10)
    assert alert["channel"] == "zone_02_alarm" and alert["severity"] == "major"
    assert alert["acknowledged_by"] is None, "waiting for the control room; escalates after 60 s"
