"""The only module that imports paho-mqtt: one persistent-session subscriber connection.

What this adds on top of paho-mqtt 2.2, and why:

- A persistent session (MQTT 3.1.1 ``clean_session=False``) under the configured, stable
  client id: the broker keeps our subscriptions and queues QoS 1 messages while we are away.
- Subscribing in ``on_connect``, every time: paho reconnects by itself but never
  resubscribes, and a broker restarted without persistence has forgotten the session.
- paho runs its own network thread; its callbacks never touch our state. They hand
  everything to the asyncio loop with ``call_soon_threadsafe``.
- paho's failures arrive as callbacks in its thread, not exceptions; the last one is kept
  as a ``sitewatch.collector.errors`` error in ``last_error`` for health reporting.
- Manual acknowledgement (paho's ``manual_ack=True``): a QoS 1 message is acknowledged by
  ``ack`` once its samples are stored, so a crash before that loses nothing: the broker
  delivers it again. paho sends each PUBACK at once, in whatever order ``ack`` is called;
  MQTT 3.1.1 wants them in the order the messages came [MQTT-4.6.0-2], which acks.py keeps.
  A message carries the number of the connection it came on: after a reconnect its packet
  id may name another message, so an acknowledgement for an earlier connection is not sent
  (the broker delivers the message again, and the consumer drops it as a duplicate).
- Un-acknowledged messages count against the broker's in-flight window (Mosquitto's
  ``max_inflight_messages``, 20 by default): at most that many wait for the store at a time.
- TLS through our own context (tls.py), whose sockets report each TLS error with its reason:
  paho's callbacks would only say the connection failed. Each new kind of failure is logged
  once, and the recovery once.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

from sitewatch.collector.errors import AuthFailed, CollectorError, DeviceUnreachable
from sitewatch.collector.mqtt.config import MqttSettings
from sitewatch.collector.mqtt.tls import broker_context, tls_failure
from sitewatch.domain.threads import call_in_own_thread

log = logging.getLogger(__name__)

QOS_AT_LEAST_ONCE = 1

# CONNACK return codes of MQTT 3.1.1 (section 3.2.2.3) that mean our credentials were refused.
_BAD_CREDENTIALS = frozenset({"Bad user name or password", "Not authorized"})


class MqttMessage(NamedTuple):
    topic: str
    payload: bytes
    retained: bool
    duplicate: bool  # the broker's DUP flag: a QoS 1 redelivery (not always set; dedup by id)
    mid: int = 0  # the packet id, for the acknowledgement
    qos: int = 0  # 0: nothing to acknowledge
    connection: int = 0  # which connection of this client it came on (see ``MqttClient.ack``)


class MqttClient:
    """Subscribes to ``topics`` at QoS 1 and calls ``on_message`` in the event loop's thread.

    Construction does no I/O. ``start`` returns at once; paho connects, and reconnects with
    back-off, in its network thread until ``stop``.
    """

    def __init__(
        self, *, settings: MqttSettings, topics: Sequence[str], on_message: Callable[[MqttMessage], None]
    ) -> None:
        self._settings = settings
        self._topics = tuple(topics)
        self._on_message = on_message
        self._loop: asyncio.AbstractEventLoop | None = None
        self._paho: paho.Client | None = None
        self._subscription_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._subscribe_count = 0
        # Bumped (in paho's thread) at every connect and disconnect, under the lock ``ack``
        # takes: an acknowledgement never leaves on a connection its message did not come on.
        self._connection = 0
        self._ack_lock = threading.Lock()
        # The TLS error of the connection attempt in progress (paho's thread): its callbacks
        # report that attempt's failure with it rather than without a reason.
        self._tls_error: ssl.SSLError | None = None
        self._refused = False  # the broker refused the connection in progress (CONNACK): paho's thread
        self.connected = False
        self.last_error: CollectorError | None = None
        self._failing: str | None = None  # the failure logged last, until connected again

    @property
    def client_id(self) -> str:
        return self._settings.client_id

    @property
    def topics(self) -> tuple[str, ...]:
        return self._topics

    @property
    def subscribe_count(self) -> int:
        """Subscriptions the broker has acknowledged: one per successful connection."""
        return self._subscribe_count

    async def start(self) -> None:
        if self._paho is not None:
            raise RuntimeError("MQTT client already started")
        self._loop = asyncio.get_running_loop()
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self._settings.client_id,
            clean_session=False,
            protocol=MQTTProtocolVersion.MQTTv311,
            manual_ack=True,
        )
        if self._settings.username is not None:
            password = self._settings.password.get_secret_value() if self._settings.password else None
            client.username_pw_set(self._settings.username, password)
        if self._settings.tls_ca_file is not None:
            try:
                client.tls_set_context(broker_context(self._settings, self._paho_tls_error))
            except (OSError, ValueError) as exc:  # the files changed since the configuration was loaded
                raise CollectorError(device_id=self._where(), message=f"cannot load the TLS files: {exc}") from exc
        client.reconnect_delay_set(self._settings.reconnect_min_delay_s, self._settings.reconnect_max_delay_s)
        client.on_connect = self._paho_connected
        client.on_connect_fail = self._paho_connect_failed
        client.on_disconnect = self._paho_disconnected
        client.on_subscribe = self._paho_subscribed
        client.on_message = self._paho_message
        self._paho = client
        # Non-blocking: the network thread connects, and keeps retrying a broker that is down.
        client.connect_async(self._settings.host, self._settings.port, keepalive=self._settings.keepalive_s)
        client.loop_start()

    async def wait_subscribed(self, *, after: int = 0) -> int:
        """Wait until more than ``after`` subscriptions were acknowledged; return the count."""
        if self._subscribe_count <= after:
            waiter = asyncio.get_running_loop().create_future()
            self._subscription_waiters.append((after, waiter))
            await waiter
        return self._subscribe_count

    def ack(self, message: MqttMessage) -> None:
        """Acknowledge ``message`` to the broker (any thread). Nothing is sent for QoS 0, after
        ``stop``, or when the message came on an earlier connection."""
        with self._ack_lock:
            client = self._paho
            if message.qos and client is not None and message.connection == self._connection:
                client.ack(message.mid, message.qos)

    async def stop(self) -> None:
        """Disconnect cleanly (the session stays on the broker) and end paho's thread."""
        with self._ack_lock:
            client, self._paho = self._paho, None
        if client is None:
            return
        client.disconnect()
        # loop_stop joins paho's thread, which can sit in a 1 s select or back-off sleep:
        # join it from a short-lived thread rather than blocking the event loop.
        await call_in_own_thread(client.loop_stop, name=f"mqtt-stop-{self._settings.client_id}")
        self.connected = False

    def _where(self) -> str:
        scheme = "mqtts" if self._settings.tls_ca_file is not None else "mqtt"
        return f"{scheme}://{self._settings.host}:{self._settings.port}"

    # --- paho's network thread: hand over to the event loop, touch nothing else ---

    def _to_loop(self, callback: Callable[..., None], *args: Any) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(callback, *args)

    def _paho_connected(
        self, client: paho.Client, _userdata: Any, _flags: Any, reason: ReasonCode, _props: Any
    ) -> None:
        if reason.is_failure:
            self._refused = True
            self._to_loop(self._record_refusal, str(reason))
            return
        self._tls_error = None
        self._new_connection()
        client.subscribe([(topic, QOS_AT_LEAST_ONCE) for topic in self._topics])
        self._to_loop(self._set_connected, True)

    def _paho_tls_error(self, exc: ssl.SSLError) -> None:
        self._tls_error = exc

    def _paho_connect_failed(self, _client: paho.Client, _userdata: Any) -> None:
        self._to_loop(self._record, self._failure("cannot connect to the broker"))

    def _paho_disconnected(
        self, _client: paho.Client, _userdata: Any, _flags: Any, reason: ReasonCode, _props: Any
    ) -> None:
        self._new_connection()
        self._to_loop(self._set_connected, False)
        # paho closes a refused connection as "Unspecified error": the refusal said why.
        refused, self._refused = self._refused, False
        if reason.is_failure and not refused:
            self._to_loop(self._record, self._failure(f"connection lost: {reason}"))

    def _paho_subscribed(
        self, _client: paho.Client, _userdata: Any, _mid: int, reasons: list[ReasonCode], _props: Any
    ) -> None:
        refused = [str(r) for r in reasons if r.is_failure]
        if refused:
            # A broker ACL can refuse a topic filter: connected but deaf, which must show.
            error = AuthFailed(
                device_id=self._where(), message=f"subscription refused: {', '.join(refused)}", where=", ".join(self._topics)
            )
            self._to_loop(self._record, error)
            return
        self._to_loop(self._count_subscription)

    def _paho_message(self, _client: paho.Client, _userdata: Any, message: paho.MQTTMessage) -> None:
        self._to_loop(self._on_message, MqttMessage(message.topic, bytes(message.payload), message.retain, message.dup,
                                                    message.mid, message.qos, self._connection))

    def _new_connection(self) -> None:
        with self._ack_lock:
            self._connection += 1

    def _failure(self, message: str) -> CollectorError:
        """The error for a failed or lost connection: its TLS reason when there was one."""
        tls_error, self._tls_error = self._tls_error, None
        if tls_error is not None:
            return tls_failure(tls_error, where=self._where(), settings=self._settings)
        return DeviceUnreachable(device_id=self._where(), message=message)

    # --- the event loop's thread ---

    def _set_connected(self, connected: bool) -> None:
        if connected and self._failing is not None:
            log.info("%s: connected again", self._where())
            self._failing = None
        self.connected = connected

    def _record(self, error: CollectorError) -> None:
        # paho retries every few seconds: say a failure once, not at every attempt.
        if str(error) != self._failing:
            log.warning("%s", error)
            self._failing = str(error)
        self.last_error = error

    def _record_refusal(self, reason: str) -> None:
        kind = AuthFailed if reason in _BAD_CREDENTIALS else DeviceUnreachable
        self._record(kind(device_id=self._where(), message=f"broker refused the connection: {reason}"))

    def _count_subscription(self) -> None:
        self._subscribe_count += 1
        waiting = []
        for after, waiter in self._subscription_waiters:
            if self._subscribe_count > after:
                if not waiter.done():
                    waiter.set_result(None)
            else:
                waiting.append((after, waiter))
        self._subscription_waiters = waiting
