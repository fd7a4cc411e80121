"""Brokers, a recording sink, a stepping clock and a running consumer for the MQTT tests."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from sitewatch.broker import MosquittoBroker, find_mosquitto, mosquitto_broker
from sitewatch.collector.mqtt.acks import Delivery
from sitewatch.collector.mqtt.config import MqttSettings
from sitewatch.collector.mqtt.consumer import AlarmHostConsumer
from sitewatch.domain.samples import Sample

MACHINE_BROKER = ("127.0.0.1", 1883)  # the system Mosquitto this machine runs
WAIT_S = 20.0


class RecordingSink:
    """Keeps what it is given and says so at once, as a store that never fails would."""

    def __init__(self) -> None:
        self.samples: list[Sample] = []
        self._changed = asyncio.Event()

    async def publish(self, samples: Sequence[Sample], *, receipt: Delivery | None = None) -> None:
        self.samples.extend(samples)
        if receipt is not None:
            receipt.stored()
        self._changed.set()

    def channel(self, channel: str) -> list[Sample]:
        return [s for s in self.samples if s.channel == channel]

    async def wait_for(self, what: str, predicate: Callable[[], bool], *, timeout_s: float = WAIT_S) -> None:
        try:
            async with asyncio.timeout(timeout_s):
                while not predicate():
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}; samples: {self.samples[-10:]}")


class SteppingClock:
    """Each reading is one second after the last: every event gets a distinct timestamp.

    Shared by a simulated host and the consumer, it keeps the hosts' times just before their
    arrival, inside the consumer's timestamp window.
    """

    def __init__(self) -> None:
        self._now = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
        self._lock = threading.Lock()  # the simulator reads it from paho's thread too

    def now(self) -> datetime:
        with self._lock:
            self._now += timedelta(seconds=1)
            return self._now

    def monotonic(self) -> float:
        return 0.0


def unique_prefix() -> str:
    return f"sw-test-{uuid.uuid4().hex[:10]}/alarmhost"


def settings_for(host: str, port: int, *, prefix: str, max_queued_messages: int = 10_000) -> MqttSettings:
    return MqttSettings(
        host=host,
        port=port,
        client_id=f"c-{uuid.uuid4().hex[:12]}",
        topic_prefix=prefix,
        reconnect_min_delay_s=1,
        reconnect_max_delay_s=2,
        max_queued_messages=max_queued_messages,
    )


async def mosquitto_pub(topic: str, payload: bytes, *, retain: bool = False, port: int = MACHINE_BROKER[1]) -> None:
    """Publish at QoS 1 with Mosquitto's own client; returns once the broker acknowledged it."""
    args = ["-h", MACHINE_BROKER[0], "-p", str(port), "-q", "1", "-t", topic]
    args += ["-r"] if retain else []
    args += ["-n"] if not payload else ["-s"]
    process = await asyncio.create_subprocess_exec(
        "mosquitto_pub", *args, stdin=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await asyncio.wait_for(process.communicate(payload), timeout=10)
    assert process.returncode == 0, f"mosquitto_pub failed: {stderr.decode()}"


@contextlib.asynccontextmanager
async def running(consumer: AlarmHostConsumer) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(consumer.run(), name="consumer")
    try:
        async with asyncio.timeout(WAIT_S):
            await consumer.wait_subscribed()
        yield task
    finally:
        task.cancel()
        await asyncio.wait((task,))
    assert task.cancelled(), f"consumer stopped on its own: {task.exception()!r}"


@pytest.fixture
async def private_mosquitto() -> AsyncIterator[MosquittoBroker]:
    executable = find_mosquitto()
    if executable is None:
        pytest.fail("mosquitto is not installed (apt-get install mosquitto)", pytrace=False)
    async with mosquitto_broker(executable=executable) as broker:
        yield broker
