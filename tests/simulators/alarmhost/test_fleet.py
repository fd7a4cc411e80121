"""The fleet and its control API against a private Mosquitto, checked by the collector's decoder."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime, timezone

import httpx
import pytest

from sitewatch.broker import demo_broker
from sitewatch.collector.mqtt.decode import decode_message, to_samples
from sitewatch.simulators.alarmhost.control import ControlServer
from sitewatch.simulators.alarmhost.fleet import AlarmHostFleet, build


@pytest.fixture
async def fleet() -> AsyncIterator[AlarmHostFleet]:
    async with demo_broker(prefer="mosquitto") as (host, port):
        config = {
            "broker_host": host,
            "broker_port": port,
            "run_id": "t",
            "hosts": [{"host_id": "ah-001", "zones": 2, "heartbeat_s": 0.05}, {"host_id": "ah-002"}],
        }
        async with build(config) as running:
            yield running


async def test_every_action_publishes_a_payload_the_collector_accepts(fleet: AlarmHostFleet) -> None:
    hosts = {"ah-002": "asset-2"}
    actions = [
        ("zone_alarm", 1), ("zone_restore", 1), ("zone_fault", 2), ("zone_fault_restore", 2),
        ("tamper", None), ("tamper_restore", None), ("disarm", None), ("arm", None), ("mains_loss", None),
        ("mains_restore", None), ("battery_low", None), ("battery_ok", None), ("heartbeat", None),
    ]  # fmt: skip
    channels = []
    for number, (action, zone) in enumerate(actions, start=1):
        payload = await fleet.act("ah-002", action, zone=zone)
        assert payload is not None and payload["event_id"] == f"t-{number:06d}", "event ids must be deterministic"
        decoded = decode_message(
            topic="sitewatch/alarmhost/ah-002/event", payload=json.dumps(payload).encode(),
            prefix="sitewatch/alarmhost", hosts=hosts, received_at=datetime.now(timezone.utc),
        )  # fmt: skip
        channels.append([(s.channel, s.value) for s in to_samples(decoded)])
    assert channels[0] == [("zone_01_alarm", 1.0)] and channels[2] == [("zone_02_fault", 1.0)]
    assert channels[10] == [("battery_low", 1.0), ("battery_v", 11.2)]
    assert channels[12] == [("online", 1.0), ("battery_v", 13.6)]
    await fleet.host("ah-002").flush(timeout_s=10)


async def test_control_api_refuses_what_it_cannot_do(fleet: AlarmHostFleet) -> None:
    control = ControlServer(fleet)
    await control.start()
    try:
        async with httpx.AsyncClient(base_url=control.url) as http:
            listed = (await http.get("/hosts")).json()
            assert [(h["host_id"], h["online"]) for h in listed] == [("ah-001", True), ("ah-002", True)]
            assert (await http.post("/hosts/ah-404/actions", json={"action": "tamper"})).status_code == 404
            missing_zone = await http.post("/hosts/ah-001/actions", json={"action": "zone_alarm"})
            assert missing_zone.status_code == 422 and "needs a zone" in missing_zone.text
            out_of_range = await http.post("/hosts/ah-001/actions", json={"action": "zone_alarm", "zone": 3})
            assert out_of_range.status_code == 422
            garbage = await http.post("/hosts/ah-001/actions", json={"action": "garbage"})
            assert garbage.status_code == 201 and garbage.json()["event"] is None
            assert (await http.post("/hosts/ah-001/actions", json={"action": "offline"})).status_code == 201
            assert (await http.get("/hosts/ah-001")).json()["online"] is False
            offline = await http.post("/hosts/ah-001/actions", json={"action": "tamper"})
            assert offline.status_code == 409, offline.text
            assert (await http.post("/hosts/ah-001/actions", json={"action": "online"})).status_code == 201
            back = await http.post("/hosts/ah-001/actions", json={"action": "tamper"})
            assert back.status_code == 201 and back.json()["event"]["type"] == "tamper"
    finally:
        await control.stop()


async def test_heartbeats_keep_coming(fleet: AlarmHostFleet) -> None:
    config = fleet.config
    subscriber = await asyncio.create_subprocess_exec(
        "mosquitto_sub", "-h", config.broker_host, "-p", str(config.broker_port), "-C", "3", "-W", "10",
        "-t", f"{config.topic_prefix}/ah-001/event", stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await subscriber.communicate()
    beats = [json.loads(line) for line in out.splitlines()]
    assert [b["type"] for b in beats] == ["heartbeat"] * 3, out
    assert all(b["battery_v"] == 13.6 for b in beats)
