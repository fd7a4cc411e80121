"""One simulated alarm host: its state, and a paho client with a last will.

The payloads are written here by hand, not with the collector's models, so that a test of
the two together catches either side drifting from the documented schema.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from sitewatch.domain.threads import call_in_own_thread
from sitewatch.domain.time import Clock
from sitewatch.simulators.alarmhost.errors import HostOffline, InvalidAction
from sitewatch.simulators.alarmhost.spec import FleetConfig, HostSpec

QOS = 1
LOW_BATTERY_V = 11.2  # below ~11.5 V a 12 V lead-acid battery is nearly flat

# Action -> (event type, state key, new value); zone actions carry the zone separately.
_STATE_ACTIONS: dict[str, tuple[str, str, bool]] = {
    "tamper": ("tamper", "tamper", True),
    "tamper_restore": ("tamper_restore", "tamper", False),
    "arm": ("armed", "armed", True),
    "disarm": ("disarmed", "armed", False),
    "mains_loss": ("mains_lost", "mains_ok", False),
    "mains_restore": ("mains_restored", "mains_ok", True),
    "battery_low": ("battery_low", "battery_low", True),
    "battery_ok": ("battery_ok", "battery_low", False),
}
_ZONE_ACTIONS: dict[str, tuple[str, str, bool]] = {
    "zone_alarm": ("zone_alarm", "alarm", True),
    "zone_restore": ("zone_restore", "alarm", False),
    "zone_fault": ("zone_fault", "fault", True),
    "zone_fault_restore": ("zone_fault_restore", "fault", False),
}
EVENT_ACTIONS = (*_ZONE_ACTIONS, *_STATE_ACTIONS, "heartbeat", "garbage")
GARBAGE = b'{"event_id": "garbage", "ts": not json'


class SimulatedHost:
    def __init__(self, spec: HostSpec, *, config: FleetConfig, clock: Clock) -> None:
        self.spec = spec
        self._config = config
        self._clock = clock
        self.state: dict[str, bool] = {"armed": True, "tamper": False, "mains_ok": True, "battery_low": False}
        self.zones: dict[int, dict[str, bool]] = {z: {"alarm": False, "fault": False} for z in range(1, spec.zones + 1)}
        self._seq = 0
        self._client: paho.Client | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connected: asyncio.Future[None] | None = None
        self._pending: dict[int, asyncio.Future[None]] = {}  # mid -> PUBACK received
        self._heartbeat: asyncio.Task[None] | None = None

    @property
    def online(self) -> bool:
        return self._client is not None

    @property
    def prefix(self) -> str:
        return f"{self._config.topic_prefix}/{self.spec.host_id}"

    async def connect(self) -> None:
        """Connect with the last will set; returns once the broker accepted us."""
        if self._client is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._connected = self._loop.create_future()
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"sim-{self._config.run_id}-{self.spec.host_id}",
            clean_session=False,  # QoS 1 events queued while the broker was away are resent
            protocol=MQTTProtocolVersion.MQTTv311,
        )
        client.max_queued_messages_set(0)  # 0 = unlimited: keep every event until the broker is back
        client.reconnect_delay_set(1, 5)
        client.will_set(f"{self.prefix}/status", json.dumps({"online": False}), qos=QOS, retain=True)
        client.on_connect = self._paho_connected
        client.on_publish = self._paho_published
        self._client = client
        client.connect_async(self._config.broker_host, self._config.broker_port, keepalive=30)
        client.loop_start()
        try:
            await self._connected
        except BaseException:  # timed out or cancelled: end paho's thread, it would retry forever
            await self._detach()
            client.disconnect()
            await call_in_own_thread(client.loop_stop, name=f"sim-abort-{self.spec.host_id}")
            raise
        self._heartbeat = asyncio.create_task(self._beat(), name=f"heartbeat:{self.spec.host_id}")

    async def go_offline(self) -> None:
        """Vanish without a DISCONNECT packet, as a host losing power does: the broker sends the will."""
        client = await self._detach()
        if client is None:
            return
        sock = client.socket()
        if isinstance(sock, socket.socket):
            sock.shutdown(socket.SHUT_RDWR)  # FIN now; nothing more reaches the broker
        client.disconnect()  # only stops paho's thread reconnecting: the socket is already shut
        await call_in_own_thread(client.loop_stop, name=f"sim-offline-{self.spec.host_id}")

    async def stop(self, *, flush_timeout_s: float = 5.0) -> None:
        """Say goodbye properly: a retained offline status, then a clean disconnect (no will)."""
        if self._client is None:
            return
        self._publish_raw("status", json.dumps({"online": False, "ts": self._now()}).encode(), retain=True)
        await self.flush(timeout_s=flush_timeout_s)
        client = await self._detach()
        if client is not None:
            client.disconnect()
            await call_in_own_thread(client.loop_stop, name=f"sim-stop-{self.spec.host_id}")

    async def flush(self, *, timeout_s: float) -> None:
        """Wait until the broker has acknowledged every QoS 1 message published so far."""
        pending = list(self._pending.values())
        if pending:
            async with asyncio.timeout(timeout_s):
                await asyncio.gather(*pending)

    def act(self, action: str, *, zone: int | None = None) -> dict[str, Any] | None:
        """Apply ``action`` and publish its event; returns the payload (None for garbage)."""
        if self._client is None:
            raise HostOffline(self.spec.host_id)
        if action == "garbage":
            self._publish_raw("event", GARBAGE)
            return None
        if action == "heartbeat":
            return self._event("heartbeat", battery_v=self._battery_v())
        if action in _ZONE_ACTIONS:
            if zone is None or zone not in self.zones:
                raise InvalidAction(f"{action} needs a zone of host {self.spec.host_id} (1..{self.spec.zones})")
            event_type, key, value = _ZONE_ACTIONS[action]
            self.zones[zone][key] = value
            return self._event(event_type, zone=zone)
        if action in _STATE_ACTIONS:
            if zone is not None:
                raise InvalidAction(f"{action} takes no zone")
            event_type, key, value = _STATE_ACTIONS[action]
            self.state[key] = value
            battery_v = self._battery_v() if key == "battery_low" else None
            return self._event(event_type, battery_v=battery_v)
        raise InvalidAction(f"unknown action {action!r}; known: {', '.join(EVENT_ACTIONS)}")

    def _event(self, event_type: str, *, zone: int | None = None, battery_v: float | None = None) -> dict[str, Any]:
        self._seq += 1
        payload: dict[str, Any] = {
            "event_id": f"{self._config.run_id}-{self._seq:06d}",
            "ts": self._now(),
            "type": event_type,
        }
        if zone is not None:
            payload["zone"] = zone
        if battery_v is not None:
            payload["battery_v"] = battery_v
        self._publish_raw("event", json.dumps(payload).encode())
        return payload

    def _battery_v(self) -> float:
        return LOW_BATTERY_V if self.state["battery_low"] else self.spec.battery_v

    def _now(self) -> str:
        return self._clock.now().isoformat()

    def _publish_raw(self, leaf: str, payload: bytes, *, retain: bool = False) -> None:
        if self._client is None or self._loop is None:
            raise HostOffline(self.spec.host_id)
        info = self._client.publish(f"{self.prefix}/{leaf}", payload, qos=QOS, retain=retain)
        # on_publish for this mid is scheduled onto this thread, so it cannot run before this line.
        self._pending[info.mid] = self._loop.create_future()

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.spec.heartbeat_s)
            self.act("heartbeat")

    async def _detach(self) -> paho.Client | None:
        client, self._client = self._client, None
        heartbeat, self._heartbeat = self._heartbeat, None
        if heartbeat is not None:
            heartbeat.cancel()
            await asyncio.wait((heartbeat,))
        for waiter in self._pending.values():
            waiter.cancel()
        self._pending.clear()
        return client

    # --- paho's network thread ---

    def _paho_connected(self, client: paho.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            return  # paho retries; the fleet's start times out and says so
        online = json.dumps({"online": True, "ts": self._now()})
        client.publish(f"{self.prefix}/status", online, qos=QOS, retain=True)
        self._to_loop(self._mark_connected)

    def _paho_published(self, _c: paho.Client, _u: Any, mid: int, _r: Any, _p: Any) -> None:
        self._to_loop(self._acked, mid)

    def _to_loop(self, callback: Callable[..., None], *args: Any) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(callback, *args)

    def _mark_connected(self) -> None:
        if self._connected is not None and not self._connected.done():
            self._connected.set_result(None)

    def _acked(self, mid: int) -> None:
        waiter = self._pending.pop(mid, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
