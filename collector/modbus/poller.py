"""One poll of one Modbus station: read every planned block, decode, return samples.

The poller never sleeps, loops, retries or starts anything: the scheduler calls ``poll``
with the time it wants stamped on the samples and decides what to do with failures.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from types import MappingProxyType

from collector.errors import CollectorError, DecodeError, DeviceRejected
from collector.modbus.client import ModbusClient
from collector.modbus.config import ModbusEndpoint, ModbusProfile
from collector.modbus.decode import ReadBlock, decode_block, decode_values, plan_reads
from collector.results import PollResult
from domain.samples import Quality, Sample
from domain.time import UTC, require_utc

# Sample's own constructor is a Python function filling in defaults; building the tuple
# directly halves the cost of the ~12 samples of every poll (same object, same fields).
_sample = tuple.__new__


class ModbusPoller:
    """Polls one asset, block after block, through its (possibly shared) connection."""

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
        # (channel, unit) of each block's registers, in order: looked up once, not per sample.
        self._labels = tuple(tuple((reg.channel, reg.unit) for reg in block.registers) for block in self._blocks)
        self._string_blocks = plan_reads(profile, strings=True)
        self._inventory_every = timedelta(seconds=profile.inventory_interval_s)
        self._inventory_due: datetime | None = None  # None: at the next poll
        self._client = client if client is not None else ModbusClient(endpoint=endpoint, asset_id=asset_id)
        self._channels = MappingProxyType(profile.channels)
        self.reported: dict[str, str] | None = None  # the strings, once read (the asset's inventory)

    @property
    def asset_id(self) -> str:
        return self._asset_id

    @property
    def channels(self) -> Mapping[str, str]:
        """Channel -> unit, for the scheduler's COMM_ERROR samples when a whole poll fails."""
        return self._channels

    @property
    def reads_per_poll(self) -> int:
        """Requests one poll makes (strings aside): the scheduler's timeout budget grows with it."""
        return len(self._blocks) + len(self._string_blocks)

    async def poll(self, ts: datetime) -> PollResult:
        """Read and decode every block; ``ts`` (timezone-aware) stamps every sample.

        A block the device rejects (DeviceRejected) or answers unusably (DecodeError) gives
        its channels as COMM_ERROR/NaN samples and its error in ``errors``; the other blocks
        still report. DeviceUnreachable, DeviceTimeout and DeviceBusy concern the whole
        device and are raised: the scheduler owns retries and health. Strings are read at
        the first poll and then every ``inventory_interval_s``, into ``reported``.
        """
        if ts.tzinfo is not UTC:
            ts = require_utc(ts)  # refuses naive times, converts other zones (rare: skip the call)
        samples: list[Sample] = []
        errors: list[CollectorError] = []
        asset_id, read = self._asset_id, self._client.read
        for block, labels in zip(self._blocks, self._labels):
            try:
                words = await read(table=block.table, address=block.address, count=block.count)
                values = decode_values(block, words, device_id=asset_id)
            except (DeviceRejected, DecodeError) as error:
                errors.append(error)
                samples += [_sample(Sample, (asset_id, channel, ts, math.nan, unit, Quality.COMM_ERROR))
                            for channel, unit in labels]
                continue
            good = Quality.GOOD
            samples += [_sample(Sample, (asset_id, channel, ts, value, unit, good))
                        for (channel, unit), value in zip(labels, values)]
        if self._string_blocks and (self._inventory_due is None or ts >= self._inventory_due):
            errors += await self._read_strings(ts)
        return PollResult(samples=tuple(samples), errors=tuple(errors))

    async def _read(self, block: ReadBlock) -> list[tuple]:
        words = await self._client.read(table=block.table, address=block.address, count=block.count)
        return decode_block(block, words, device_id=self._asset_id)

    async def _read_strings(self, ts: datetime) -> list[CollectorError]:
        # A refused string block keeps the strings last read: firmware versions do not vanish.
        strings = dict(self.reported or {})
        errors: list[CollectorError] = []
        for block in self._string_blocks:
            try:
                strings.update((reg.channel, str(value)) for reg, value in await self._read(block))
            except (DeviceRejected, DecodeError) as error:
                errors.append(error)
        self.reported = strings
        self._inventory_due = ts + self._inventory_every
        return errors

    async def close(self) -> None:
        await self._client.close()
