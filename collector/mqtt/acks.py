"""Acknowledging alarm-host messages once they are stored, in the order they came.

paho's manual acknowledgement sends a PUBACK the moment ``ack`` is called. MQTT 3.1.1 wants
PUBACKs in the order the PUBLISH packets were received [MQTT-4.6.0-2], and a message that
needs no storing (malformed, a duplicate, dropped by the flood guard) is done at once, ahead
of earlier ones still on their way to the store. So each message takes its place in a
queue as it arrives, and acknowledgements leave from the head of the queue only.

A duplicate of an event that is still on its way to the store is done when that event is
stored, not before: acknowledging the copy first would leave nothing on the broker if the
process died before the original was stored.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

from sitewatch.collector.mqtt.client import MqttMessage


class Delivery:
    """One message received: its place in the acknowledgement queue. The bus carries it as
    the receipt of the message's samples (sitewatch/bus.py): ``stored`` once they are durable."""

    __slots__ = ("_acks", "_followers", "done", "events", "message")

    def __init__(self, acks: InOrderAcks, message: MqttMessage) -> None:
        self._acks = acks
        self.message = message
        self.events: tuple[tuple[str, str], ...] = ()  # (host_id, event_id), set once decoded
        self.done = False
        self._followers: list[Delivery] = []  # duplicates received while this was on its way

    def stored(self) -> None:
        """Any thread (the store writer calls it from its worker)."""
        self._acks.settle(self)


class InOrderAcks:
    """Thread-safe: messages arrive in the event loop, are stored in a worker thread."""

    def __init__(self, send: Callable[[MqttMessage], None]) -> None:
        self._send = send
        self._lock = threading.Lock()
        self._queue: deque[Delivery] = deque()

    @property
    def waiting(self) -> int:
        """Messages received and not acknowledged yet."""
        return len(self._queue)

    def receive(self, message: MqttMessage) -> Delivery:
        delivery = Delivery(self, message)
        with self._lock:
            self._queue.append(delivery)
        return delivery

    def settle(self, delivery: Delivery) -> None:
        """``delivery`` is done with; acknowledge what is done at the head of the queue."""
        with self._lock:
            self._mark(delivery)
            self._send_ready()

    def settle_with(self, duplicate: Delivery, original: Delivery | None) -> None:
        """``duplicate`` is done when ``original`` is (at once when that is None: stored before)."""
        with self._lock:
            if original is None or original.done:
                self._mark(duplicate)
                self._send_ready()
            else:
                original._followers.append(duplicate)

    @staticmethod
    def _mark(delivery: Delivery) -> None:
        delivery.done = True
        for follower in delivery._followers:
            InOrderAcks._mark(follower)
        delivery._followers = []

    def _send_ready(self) -> None:
        # Sent under the lock: two threads settling at once must not overtake each other.
        queue = self._queue
        while queue and queue[0].done:
            self._send(queue.popleft().message)
