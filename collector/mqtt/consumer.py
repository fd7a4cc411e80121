"""Alarm-host messages in, Samples out: validation, deduplication and per-host health.

Anyone who can reach the broker can publish on our topics, so no message may stop the
consumer. A bad payload is counted against its host (or as an unknown host) and kept, with
the error, among the last few set aside for inspection; so is one that trips a bug of ours,
which is also logged with its traceback. Every message lands in exactly one of
``counters()``. Messages wait for their turn in a bounded queue: a flood beyond
``max_queued_messages`` is dropped and counted as ``overflow``, never held without limit.

At least once, end to end: a message is acknowledged to the broker only when its samples
are stored (written to the store or committed to its on-disk buffer: the sink calls the
receipt published with them), in the order messages came (acks.py); a message with nothing
to store (bad, a duplicate, an overflow) is acknowledged in its turn. A crash before that
loses nothing: the broker delivers the message again. Redeliveries are dropped by (host,
event_id) within a bounded window, which starts with ``stored_events``: the events the
previous process stored (kept in the buffer file), so an event stored just before a crash
is not stored, nor judged, twice.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, Protocol

from sitewatch.collector.errors import DecodeError, TimestampOutOfRange
from sitewatch.collector.mqtt.acks import Delivery, InOrderAcks
from sitewatch.collector.mqtt.client import MqttClient, MqttMessage
from sitewatch.collector.mqtt.config import MqttSettings
from sitewatch.collector.mqtt.decode import (
    AlarmEvent,
    HostStatus,
    TimestampPolicy,
    decode_message,
    host_of,
    subscriptions,
    to_samples,
)
from sitewatch.collector.timestamps import TimestampWindow
from sitewatch.config.models import Config
from sitewatch.domain.samples import Sample
from sitewatch.domain.time import Clock, SystemClock

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class HostHealth:
    host_id: str
    asset_id: str
    online: bool | None = None  # None until a status or heartbeat arrived
    last_message_at: datetime | None = None  # arrival time of the last valid message
    events: int = 0  # distinct valid events
    malformed: int = 0
    bad_timestamps: int = 0  # refused: outside the window around their arrival
    duplicates_dropped: int = 0  # QoS 1 redeliveries and the retained status sent again
    last_error: str | None = None


# The keys of ``AlarmHostConsumer.counters()``: each message received adds one to exactly one.
COUNTER_KEYS = ("accepted", "malformed", "bad_timestamp", "unknown_host", "internal_error", "duplicates", "overflow")


def timestamp_policy(config: Config) -> TimestampPolicy:
    """The window of ``[collector]`` and the hosts whose ``alarm_host.timestamps`` is "arrival"."""
    return TimestampPolicy(
        window=TimestampWindow.of(config.collector),
        arrival_hosts=frozenset(
            a.alarm_host.host_id for a in config.assets if a.alarm_host is not None and a.alarm_host.timestamps == "arrival"
        ),
    )


def host_zones(config: Config) -> dict[str, int]:
    """host_id -> its configured zone count (``alarm_host.zones``), for ``zones``."""
    return {a.alarm_host.host_id: a.alarm_host.zones for a in config.assets if a.alarm_host is not None}


class ReceiptSink(Protocol):
    """Where the samples go (the bus): ``receipt.stored()`` once they are durable."""

    async def publish(self, samples: Sequence[Sample], *, receipt: Delivery) -> None: ...


_ANY_TIME = TimestampPolicy()


class SetAside(NamedTuple):
    """A payload that failed validation (or tripped a bug of ours), kept verbatim for whoever investigates."""

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
        sink: ReceiptSink,
        clock: Clock | None = None,
        timestamps: TimestampPolicy = _ANY_TIME,
        zones: Mapping[str, int] | None = None,
        stored_events: Iterable[tuple[str, str]] = (),
        topics: Sequence[str] | None = None,
    ) -> None:
        """``zones``: host_id -> zone count (``host_zones(config)``); an event for a zone above
        it is malformed. Left out, any zone up to 999 is taken. ``stored_events``: (host_id,
        event_id) already stored, oldest first (the buffer's ``recent_events``). ``topics``:
        what to subscribe to, by default every host's (``subscriptions``); a worker holding one
        shard of the fleet names its own hosts' (``host_subscriptions``)."""
        self._settings = settings
        self._hosts = dict(hosts)  # host_id -> asset_id
        self._zones = dict(zones) if zones is not None else None
        self._sink = sink
        self._clock = clock or SystemClock()
        self._timestamps = timestamps
        self._health = {h: HostHealth(host_id=h, asset_id=a) for h, a in self._hosts.items()}
        # (host_id, event_id) -> the delivery that carried it, None once stored by an earlier process.
        self._seen: OrderedDict[tuple[str, str], Delivery | None] = OrderedDict()
        for key in stored_events:
            self._remember(key, None)
        self._last_status: dict[str, HostStatus] = {}
        self._set_aside: deque[SetAside] = deque(maxlen=settings.bad_payloads_kept)
        # What no host's health counts; malformed, bad_timestamp and duplicates are summed from it.
        self._counts = dict.fromkeys(("accepted", "unknown_host", "internal_error", "overflow"), 0)
        self._bugs_logged: set[str] = set()
        self._queue: asyncio.Queue[Delivery] = asyncio.Queue(maxsize=settings.max_queued_messages)
        self._overflowing = False  # in a burst of dropped messages, which is logged once
        self._client = MqttClient(settings=settings, topics=topics or subscriptions(settings.topic_prefix),
                                  on_message=self._enqueue)
        self._acks = InOrderAcks(self._client.ack)

    @property
    def client(self) -> MqttClient:
        """Connection state, last connection error and subscription count."""
        return self._client

    def counters(self) -> dict[str, int]:
        """Totals across hosts since start, keyed by ``COUNTER_KEYS``; one per message received.

        ``unknown_host`` also counts messages on topics outside the scheme; ``overflow``
        counts those dropped unread because the queue was full."""
        hosts = self._health.values()
        totals = self._counts | {
            "malformed": sum(h.malformed for h in hosts),
            "bad_timestamp": sum(h.bad_timestamps for h in hosts),
            "duplicates": sum(h.duplicates_dropped for h in hosts),
        }
        return {key: totals[key] for key in COUNTER_KEYS}

    @property
    def unacknowledged(self) -> int:
        """Messages received and not yet acknowledged to the broker (most wait for the store)."""
        return self._acks.waiting

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

    def _enqueue(self, message: MqttMessage) -> None:
        """Queue a message for ``run``, or drop and count it when the queue is full.

        Runs in the event loop's thread (MqttClient hands paho's messages over with
        call_soon_threadsafe), so the counters need no lock; paho's thread never waits here.
        The first drop of a burst is logged; the burst ends once the queue has drained to half,
        so a flood that keeps it at the brim logs once, not at every message let in. A dropped
        message is acknowledged in its turn: the broker's in-flight window holds the flood back
        only until then.
        """
        delivery = self._acks.receive(message)
        if self._queue.full():
            self._acks.settle(delivery)
            self._count("overflow")
            if not self._overflowing:
                self._overflowing = True
                log.warning(
                    "alarm-host messages arrive faster than they are handled: the queue holds %d; dropping the "
                    "newest until it drains to half (counted as overflow)", self._queue.maxsize,
                )
            return
        if self._overflowing and self._queue.qsize() <= self._queue.maxsize // 2:
            self._overflowing = False
        self._queue.put_nowait(delivery)

    async def handle(self, delivery: Delivery) -> None:
        """Validate, deduplicate and publish one message. Never raises: whatever a message
        holds, the consumer goes on with the next one. One not published is acknowledged
        in its turn; one published, once the sink says it is stored."""
        message = delivery.message
        received_at = self._clock.now()
        try:
            await self._accept(delivery, received_at=received_at)
        except DecodeError as exc:
            self._reject(message, exc, received_at=received_at)
            self._acks.settle(delivery)
        except Exception as exc:  # noqa: BLE001 (the one top-level guard: a bug must not stop the consumer)
            self._internal_error(message, exc, received_at=received_at)
            self._acks.settle(delivery)

    async def _accept(self, delivery: Delivery, *, received_at: datetime) -> None:
        message = delivery.message
        decoded = decode_message(
            topic=message.topic,
            payload=message.payload,
            prefix=self._settings.topic_prefix,
            hosts=self._hosts,
            received_at=received_at,
            timestamps=self._timestamps,
            zones=self._zones,
        )
        if self._is_repeat(decoded, delivery):
            health = self._health[decoded.host_id]
            self._health[decoded.host_id] = dataclasses.replace(health, duplicates_dropped=health.duplicates_dropped + 1)
            return
        samples = to_samples(decoded)
        health = self._health[decoded.host_id]
        changes: dict[str, object] = {"last_message_at": received_at}
        if isinstance(decoded, HostStatus):
            changes["online"] = decoded.online
        else:
            delivery.events = ((decoded.host_id, decoded.event_id),)
            changes["events"] = health.events + 1
            if decoded.type == "heartbeat":
                changes["online"] = True
        await self._sink.publish(samples, receipt=delivery)
        # Counted once published: a failure above is counted as what it is, not twice. Nothing
        # below can fail, so a published message is never acknowledged by the guard in handle.
        self._health[decoded.host_id] = dataclasses.replace(health, **changes)
        self._count("accepted")

    def _is_repeat(self, decoded: AlarmEvent | HostStatus, delivery: Delivery) -> bool:
        """A repeat is acknowledged here: at once, or when the event it repeats is stored."""
        if isinstance(decoded, HostStatus):
            # The retained status comes again on every reconnect: the same one adds nothing.
            last = self._last_status.get(decoded.host_id)
            if last is not None and last.online == decoded.online and (
                # Under "arrival" every copy is stamped anew: only the value tells.
                decoded.host_id in self._timestamps.arrival_hosts
                or last.ts == decoded.ts
                or last.from_will and decoded.from_will
            ):
                self._acks.settle(delivery)
                return True
            self._last_status[decoded.host_id] = decoded
            return False
        key = (decoded.host_id, decoded.event_id)
        if key in self._seen:
            self._seen.move_to_end(key)
            self._acks.settle_with(delivery, self._seen[key])
            return True
        self._remember(key, delivery)
        return False

    def _remember(self, key: tuple[str, str], delivery: Delivery | None) -> None:
        self._seen[key] = delivery
        if len(self._seen) > self._settings.dedup_window:
            self._seen.popitem(last=False)

    def _reject(self, message: MqttMessage, error: DecodeError, *, received_at: datetime) -> None:
        self._set_aside.append(SetAside(received_at, message.topic, message.payload, str(error)))
        health = self._host_health(message.topic)
        if health is None:
            self._count("unknown_host")
            log.warning("alarm host message set aside: %s", error)
            return
        if isinstance(error, TimestampOutOfRange):
            if health.bad_timestamps == 0:
                log.warning("alarm host %s: clock out of range (further ones are counted): %s", health.host_id, error)
            changes = {"bad_timestamps": health.bad_timestamps + 1}
        else:
            if health.malformed == 0:
                log.warning("alarm host %s sent a malformed payload (further ones are counted): %s", health.host_id, error)
            changes = {"malformed": health.malformed + 1}
        self._health[health.host_id] = dataclasses.replace(health, **changes, last_error=str(error))

    def _internal_error(self, message: MqttMessage, error: Exception, *, received_at: datetime) -> None:
        """A bug of ours met this message: counted and set aside; each kind is logged once, with its traceback."""
        self._count("internal_error")
        text = f"internal error: {error!r}"[:300]  # the repr may quote a whole payload
        self._set_aside.append(SetAside(received_at, message.topic, message.payload, text))
        kind = type(error).__qualname__
        if kind not in self._bugs_logged:
            self._bugs_logged.add(kind)
            log.exception("alarm host message %s tripped a bug (further %s are counted)", message.topic, kind)
        health = self._host_health(message.topic)
        if health is not None:
            self._health[health.host_id] = dataclasses.replace(health, last_error=text)

    def _host_health(self, topic: str) -> HostHealth | None:
        parsed = host_of(topic, prefix=self._settings.topic_prefix)
        return self._health.get(parsed[0]) if parsed else None

    def _count(self, key: str) -> None:
        self._counts[key] += 1
