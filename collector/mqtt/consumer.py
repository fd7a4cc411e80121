"""Alarm-host messages in, Samples out: validation, deduplication and per-host health.

A bad payload is never fatal: it is counted against its host (or as an unknown host) and
kept, with the error, among the last few set aside for inspection. QoS 1 means "at least
once": redeliveries are dropped by (host, event_id) within a bounded window.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from collector.errors import DecodeError
from collector.mqtt.client import MqttClient, MqttMessage
from collector.mqtt.config import MqttSettings
from collector.mqtt.decode import AlarmEvent, HostStatus, decode_message, host_of, subscriptions, to_samples
from collector.scheduler import SampleSink
from domain.time import Clock, SystemClock

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class HostHealth:
    host_id: str
    asset_id: str
    online: bool | None = None  # None until a status or heartbeat arrived
    last_message_at: datetime | None = None  # arrival time of the last valid message
    events: int = 0  # distinct valid events
    malformed: int = 0
    duplicates_dropped: int = 0
    last_error: str | None = None


class SetAside(NamedTuple):
    """A payload that failed validation, kept verbatim for whoever investigates."""

    received_at: datetime
    topic: str
    payload: bytes
    error: str


class AlarmHostConsumer:
    """Subscribes to every host's status and event topics and publishes Samples to ``sink``."""

    def __init__(
        self,
        settings: MqttSettings,
        *,
        hosts: Mapping[str, str],
        sink: SampleSink,
        clock: Clock | None = None,
    ) -> None:
        self._settings = settings
        self._hosts = dict(hosts)  # host_id -> asset_id
        self._sink = sink
        self._clock = clock or SystemClock()
        self._health = {h: HostHealth(host_id=h, asset_id=a) for h, a in self._hosts.items()}
        self._seen: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._last_status: dict[str, HostStatus] = {}
        self._set_aside: deque[SetAside] = deque(maxlen=settings.bad_payloads_kept)
        self._unknown_host_messages = 0
        self._queue: asyncio.Queue[MqttMessage] = asyncio.Queue()
        self._client = MqttClient(
            settings=settings, topics=subscriptions(settings.topic_prefix), on_message=self._queue.put_nowait
        )

    @property
    def client(self) -> MqttClient:
        """Connection state, last connection error and subscription count."""
        return self._client

    @property
    def unknown_host_messages(self) -> int:
        """Messages on our topics from hosts not configured, or on topics outside the scheme."""
        return self._unknown_host_messages

    def health(self, host_id: str) -> HostHealth:
        return self._health[host_id]

    def all_health(self) -> dict[str, HostHealth]:
        return dict(self._health)

    def set_aside(self) -> tuple[SetAside, ...]:
        """The last ``settings.bad_payloads_kept`` bad payloads, oldest first."""
        return tuple(self._set_aside)

    async def wait_subscribed(self, *, after: int = 0) -> int:
        return await self._client.wait_subscribed(after=after)

    async def run(self) -> None:
        """Consume until cancelled; disconnects cleanly on the way out."""
        await self._client.start()
        try:
            while True:
                await self.handle(await self._queue.get())
        finally:
            await self._client.stop()

    async def handle(self, message: MqttMessage) -> None:
        """Validate, deduplicate and publish one message; bad ones are counted, never raised."""
        received_at = self._clock.now()
        try:
            decoded = decode_message(
                topic=message.topic,
                payload=message.payload,
                prefix=self._settings.topic_prefix,
                hosts=self._hosts,
                received_at=received_at,
            )
        except DecodeError as exc:
            self._reject(message, exc, received_at=received_at)
            return
        if self._is_repeat(decoded):
            return
        health = self._health[decoded.host_id]
        changes: dict[str, object] = {"last_message_at": received_at}
        if isinstance(decoded, HostStatus):
            changes["online"] = decoded.online
        else:
            changes["events"] = health.events + 1
            if decoded.type == "heartbeat":
                changes["online"] = True
        self._health[decoded.host_id] = dataclasses.replace(health, **changes)
        await self._sink.publish(to_samples(decoded))

    def _is_repeat(self, decoded: AlarmEvent | HostStatus) -> bool:
        if isinstance(decoded, HostStatus):
            # The retained status comes again on every reconnect: the same one adds nothing.
            last = self._last_status.get(decoded.host_id)
            if last is not None and last.online == decoded.online and (last.ts == decoded.ts or last.from_will and decoded.from_will):
                return True
            self._last_status[decoded.host_id] = decoded
            return False
        key = (decoded.host_id, decoded.event_id)
        if key in self._seen:
            self._seen.move_to_end(key)
            health = self._health[decoded.host_id]
            self._health[decoded.host_id] = dataclasses.replace(health, duplicates_dropped=health.duplicates_dropped + 1)
            return True
        self._seen[key] = None
        if len(self._seen) > self._settings.dedup_window:
            self._seen.popitem(last=False)
        return False

    def _reject(self, message: MqttMessage, error: DecodeError, *, received_at: datetime) -> None:
        self._set_aside.append(SetAside(received_at, message.topic, message.payload, str(error)))
        parsed = host_of(message.topic, prefix=self._settings.topic_prefix)
        health = self._health.get(parsed[0]) if parsed else None
        if health is None:
            self._unknown_host_messages += 1
            log.warning("alarm host message set aside: %s", error)
            return
        if health.malformed == 0:
            log.warning("alarm host %s sent a malformed payload (further ones are counted): %s", health.host_id, error)
        self._health[health.host_id] = dataclasses.replace(health, malformed=health.malformed + 1, last_error=str(error))
