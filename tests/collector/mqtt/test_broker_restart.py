"""A private Mosquitto restarted mid-stream: no QoS 1 event lost, none duplicated downstream."""

from __future__ import annotations

import asyncio

from sitewatch.broker import MosquittoBroker
from sitewatch.collector.mqtt.consumer import AlarmHostConsumer
from sitewatch.simulators.alarmhost.fleet import build

from .conftest import RecordingSink, SteppingClock, running, settings_for, unique_prefix

EVENTS_BEFORE, EVENTS_WHILE_DOWN, EVENTS_AFTER = 40, 20, 40


async def test_restart_mid_stream_loses_and_duplicates_nothing(private_mosquitto: MosquittoBroker) -> None:
    broker = private_mosquitto
    prefix = unique_prefix()
    sink = RecordingSink()
    clock = SteppingClock()  # shared: the hosts' times are always just before their arrival
    consumer = AlarmHostConsumer(
        settings_for(broker.host, broker.port, prefix=prefix), hosts={"ah-001": "alarm-1"}, sink=sink, clock=clock
    )
    fleet = build(
        {
            "broker_host": broker.host,
            "broker_port": broker.port,
            "topic_prefix": prefix,
            "run_id": "restart",
            "hosts": [{"host_id": "ah-001", "zones": 1, "heartbeat_s": 3600}],
        },
        clock=clock,
    )
    host = fleet.host("ah-001")
    published = []

    def stream(count: int) -> None:
        for _ in range(count):
            action = "zone_alarm" if len(published) % 2 == 0 else "zone_restore"
            published.append(host.act(action, zone=1))

    async with running(consumer):
        subscribed_before = await consumer.wait_subscribed()
        async with fleet:
            stream(EVENTS_BEFORE)
            await asyncio.sleep(0)  # let paho's thread start sending before the broker goes
            await broker.stop()  # SIGTERM: Mosquitto saves sessions and queued messages
            stream(EVENTS_WHILE_DOWN)  # held by the simulator's paho client until reconnect
            await broker.start()  # same port, same persistence folder
            async with asyncio.timeout(30):
                await consumer.wait_subscribed(after=subscribed_before)
            stream(EVENTS_AFTER)
            await host.flush(timeout_s=30)

            expected = sorted(p["ts"] for p in published)
            await sink.wait_for(
                f"{len(expected)} zone events", lambda: len(sink.channel("zone_01_alarm")) >= len(expected)
            )
            await asyncio.sleep(0.5)  # a late duplicate would show up here; nothing else to await

    got = sorted(s.ts.isoformat() for s in sink.channel("zone_01_alarm"))
    assert len(got) == len(set(got)), f"duplicates downstream: {len(got) - len(set(got))}"
    assert got == expected, f"lost: {sorted(set(expected) - set(got))}"
    values = [s.value for s in sorted(sink.channel("zone_01_alarm"), key=lambda s: s.ts)]
    assert values == [1.0, 0.0] * ((EVENTS_BEFORE + EVENTS_WHILE_DOWN + EVENTS_AFTER) // 2)
    assert consumer.client.subscribe_count >= 2, "the consumer did not resubscribe after the restart"
    health = consumer.health("ah-001")
    assert health.events == len(expected) and health.malformed == 0
