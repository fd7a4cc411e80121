"""One poll of one Modbus station: read every planned block, decode, return samples.

The poller never sleeps, loops, retries or starts anything: the scheduler calls ``poll``
with the time it wants stamped on the samples and decides what to do with failures.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType

from collector.errors import CollectorError, DecodeError, DeviceRejected
from collector.modbus.client import ModbusClient
from collector.modbus.config import ModbusEndpoint, ModbusProfile
from collector.modbus.decode import decode_block, plan_reads
from collector.results import PollResult
from domain.samples import Quality, Sample
from domain.time import UTC, require_utc


class ModbusPoller:
    """Polls one asset over one connection, block after block."""

    def __init__(
        self,
        *,
        asset_id: str,
        endpoint: ModbusEndpoint,
        profile: ModbusProfile,
        client: ModbusClient | None = None,
    ) -> None:
        if endpoint.profile != profile.name:
            raise ValueError(
                f"asset {asset_id!r}: endpoint uses profile {endpoint.profile!r}, given {profile.name!r}"
            )
        self._asset_id = asset_id
        self._blocks = plan_reads(profile)
        self._client = client if client is not None else ModbusClient(endpoint=endpoint, asset_id=asset_id)
        self._channels = MappingProxyType({reg.channel: reg.unit for reg in profile.registers})

    @property
    def channels(self) -> Mapping[str, str]:
        """Channel -> unit, for the scheduler's COMM_ERROR samples when a whole poll fails."""
        return self._channels

    @property
    def reads_per_poll(self) -> int:
        """Requests one poll makes: the scheduler's timeout budget grows with it."""
        return len(self._blocks)

    async def poll(self, ts: datetime) -> PollResult:
        """Read and decode every block; ``ts`` (timezone-aware) stamps every sample.

        A block the device rejects (DeviceRejected) or answers unusably (DecodeError) gives
        its channels as COMM_ERROR/NaN samples and its error in ``errors``; the other blocks
        still report. DeviceUnreachable, DeviceTimeout and DeviceBusy concern the whole
        device and are raised: the scheduler owns retries and health.
        """
        if ts.tzinfo is not UTC:
            ts = require_utc(ts)  # refuses naive times, converts other zones (rare: skip the call)
        samples: list[Sample] = []
        errors: list[CollectorError] = []
        for block in self._blocks:
            try:
                registers = await self._client.read_registers(
                    function=block.function, address=block.address, count=block.count
                )
                decoded = decode_block(block, registers, device_id=self._asset_id)
            except (DeviceRejected, DecodeError) as error:
                errors.append(error)
                samples.extend(
                    Sample(self._asset_id, reg.channel, ts, math.nan, reg.unit, Quality.COMM_ERROR)
                    for reg in block.registers
                )
                continue
            asset_id, good = self._asset_id, Quality.GOOD
            samples += [Sample(asset_id, reg.channel, ts, value, reg.unit, good) for reg, value in decoded]
        return PollResult(samples=tuple(samples), errors=tuple(errors))

    async def close(self) -> None:
        await self._client.close()
