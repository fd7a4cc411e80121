"""Issue 9: hostile MQTT payloads sent to a whole running service through the machine's Mosquitto.

Every payload that used to end the process (2,000 nested "[", a status dated year 1 at
+05:00, an event dated 9999) plus the generated corpus of tests/collector/mqtt/hostile.py is
published while a real alarm-zone fault is being played. The service must keep running, the
API must answer, the fault must still open its ticket, and each bad message must be counted
exactly once, by kind.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import datetime

from sitewatch.domain.time import UTC
from tests.collector.mqtt.conftest import mosquitto_pub
from tests.collector.mqtt.hostile import Hostile, hostile_cases
from tests.sitewatch.service import wait_until

# The alarm-host service of the end-to-end tests: one host (ah-north-01, 4 zones), the
# threshold rules, and the simulated fleet on a topic prefix of its own.
from tests.sitewatch.test_alarm_hosts import setup  # noqa: F401  (a fixture)

HOST = "ah-north-01"
WAIT_S = 20.0


def _issue_payloads() -> list[Hostile]:
    """The three payloads of the issue, as they were reported."""
    event = {"event_id": "issue-9", "ts": "9999-12-31T20:00:00Z", "type": "zone_alarm", "zone": 1}
    return [
        Hostile("issue: 2,000 nested [", "event", b"[" * 2000, "malformed", "nested"),
        Hostile("issue: status in year 1", "status", json.dumps({"online": True, "ts": "0001-01-01T00:00:00+05:00"}).encode(),
                "malformed", "cannot be represented"),
        Hostile("issue: event in 9999", "event", json.dumps(event).encode(), "bad_timestamp", "max_timestamp_lead_s"),
    ]


async def test_hostile_payloads_are_counted_once_and_the_real_fault_still_opens_its_ticket(setup):
    fleet, api, service, prefix = setup
    consumer = service.parts_consumer()
    bad = _issue_payloads() + hostile_cases(datetime.now(UTC))
    unknown = [
        (f"{prefix}/ah-404/event", json.dumps({"event_id": "u-1", "ts": datetime.now(UTC).isoformat(), "type": "tamper"}).encode()),
        (f"{prefix}/ah-404/status", b"[" * 2000),  # an unknown host is counted as such, whatever it sends
    ]

    await fleet.act(HOST, "zone_fault", zone=3)  # the real fault, played while the garbage arrives
    for case in bad:
        await mosquitto_pub(f"{prefix}/{HOST}/{case.leaf}", case.payload)
    for topic, payload in unknown:
        await mosquitto_pub(topic, payload)
    # Published after every bad message, by another connection: once it is in, all of them are.
    await fleet.act(HOST, "tamper")

    async def tickets():
        response = await api.get("/api/tickets")
        assert response.status_code == 200
        found = {t["rule_id"] for t in response.json()}
        return found if {"zone-fault", "tamper"} <= found else None

    await wait_until(tickets, timeout_s=WAIT_S)
    counters = consumer.counters()
    expected = Counter(case.kind for case in bad) | Counter(unknown_host=len(unknown))
    assert {k: counters[k] for k in ("malformed", "bad_timestamp", "unknown_host", "internal_error")} == {
        "malformed": expected["malformed"],
        "bad_timestamp": expected["bad_timestamp"],
        "unknown_host": expected["unknown_host"],
        "internal_error": 0,
    }, f"{len(bad) + len(unknown)} bad messages published"
    assert counters["accepted"] >= 3  # the retained online status, the zone fault, the tamper
    health = consumer.health(HOST)
    assert (health.malformed, health.bad_timestamps) == (expected["malformed"], expected["bad_timestamp"])

    [pipeline] = [t for t in asyncio.all_tasks() if t.get_name() == "pipeline"]
    assert not pipeline.done(), "the service stopped"
    healthz = await api.get("/healthz")
    assert healthz.status_code == 200, healthz.text
    samples = await api.get(f"/api/assets/{service.parts.config.assets[0].id}")
    assert samples.status_code == 200, samples.text
