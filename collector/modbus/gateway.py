"""A gateway's own poll: is the connection its stations share up, and how many answer.

A gateway (Modbus TCP gateway, serial-to-Ethernet converter, DTU, RS-485 line) is an asset
of its own so that its death is one root cause: its ``connected`` channel drives a rule
marked ``offline``, and its stations, which depend on it, are held under it instead of
opening a ticket each (tickets/holds.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from datetime import datetime
from types import MappingProxyType

from sitewatch.collector.modbus.client import ModbusConnection
from sitewatch.collector.results import PollResult
from sitewatch.domain.samples import Quality, Sample

# The channels a gateway reports: 1 while its connection opens, and how many of its device
# ids replied within the last ``window_s`` — of those asked: none asked (just started, or its
# stations backing off after an outage), no figure; 0 of those asked: the line behind is dead.
GATEWAY_CHANNELS: Mapping[str, str] = MappingProxyType({"connected": "state", "stations_answering": "count"})


class GatewayPoller:
    def __init__(self, *, asset_id: str, connection: ModbusConnection, device_ids: Iterable[int],
                 window_s: float) -> None:
        self.asset_id = asset_id
        self._connection = connection
        self._device_ids = frozenset(device_ids)
        self._window_s = window_s  # about two poll intervals of its slowest station

    @property
    def channels(self) -> Mapping[str, str]:
        return GATEWAY_CHANNELS

    async def poll(self, ts: datetime) -> PollResult:
        """Open the shared connection unless it is open; raises DeviceUnreachable or
        DeviceTimeout when it cannot (the scheduler then marks the gateway down)."""
        await self._connection.open(asset_id=self.asset_id)
        since = asyncio.get_running_loop().time() - self._window_s
        connected = Sample(self.asset_id, "connected", ts, 1.0, "state", Quality.GOOD)
        if not any(at >= since for device_id, at in self._connection.asked.items() if device_id in self._device_ids):
            return PollResult(samples=(connected,))
        answering = sum(1 for device_id, at in self._connection.answered.items()
                        if at >= since and device_id in self._device_ids)
        return PollResult(samples=(
            connected, Sample(self.asset_id, "stations_answering", ts, float(answering), "count", Quality.GOOD)))
