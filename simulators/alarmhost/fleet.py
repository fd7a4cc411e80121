"""Many simulated alarm hosts in one process, one MQTT connection each."""

from __future__ import annotations

from asyncio import timeout as asyncio_timeout
from collections.abc import Mapping
from typing import Any

from sitewatch.domain.time import Clock, SystemClock
from sitewatch.simulators.alarmhost.errors import BrokerUnreachable, UnknownHost
from sitewatch.simulators.alarmhost.host import EVENT_ACTIONS, SimulatedHost
from sitewatch.simulators.alarmhost.spec import FleetConfig, HostSpec

CONNECT_TIMEOUT_S = 10.0
ACTIONS = (*EVENT_ACTIONS, "offline", "online")


class AlarmHostFleet:
    def __init__(self, config: FleetConfig, *, clock: Clock | None = None) -> None:
        self._config = config
        clock = clock or SystemClock()
        self._hosts = {s.host_id: SimulatedHost(s, config=config, clock=clock) for s in config.hosts}

    @property
    def config(self) -> FleetConfig:
        return self._config

    @property
    def hosts(self) -> tuple[HostSpec, ...]:
        return self._config.hosts

    def host(self, host_id: str) -> SimulatedHost:
        try:
            return self._hosts[host_id]
        except KeyError:
            raise UnknownHost(host_id, known=tuple(self._hosts)) from None

    async def start(self) -> None:
        """Connect every host; on a failure the ones already connected are stopped."""
        try:
            for host in self._hosts.values():
                try:
                    async with asyncio_timeout(CONNECT_TIMEOUT_S):
                        await host.connect()
                except TimeoutError:
                    raise BrokerUnreachable(
                        f"host {host.spec.host_id}: no CONNACK from "
                        f"{self._config.broker_host}:{self._config.broker_port} within {CONNECT_TIMEOUT_S} s"
                    ) from None
        except BaseException:  # cleanup only: nothing half-started is left connected
            await self.stop()
            raise

    async def stop(self) -> None:
        for host in self._hosts.values():
            await host.stop()

    async def __aenter__(self) -> AlarmHostFleet:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def act(self, host_id: str, action: str, *, zone: int | None = None) -> dict[str, Any] | None:
        """Run ``action`` on a host; returns the event payload it published, if any."""
        host = self.host(host_id)
        if action == "offline":
            await host.go_offline()
            return None
        if action == "online":
            await host.connect()
            return None
        return host.act(action, zone=zone)


def build(config: FleetConfig | Mapping[str, object], *, clock: Clock | None = None) -> AlarmHostFleet:
    """A fleet from its config (a FleetConfig or the equivalent mapping), not yet started."""
    if not isinstance(config, FleetConfig):
        config = FleetConfig.model_validate(config)
    return AlarmHostFleet(config, clock=clock)
