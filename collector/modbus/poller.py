"""One poll of one Modbus station: read every planned block, decode, return samples.

The poller never sleeps, loops, retries or starts anything: the scheduler calls ``poll``
with the time it wants stamped on the samples and decides what to do with failures.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from types import MappingProxyType

from sitewatch.collector.errors import CollectorError, DecodeError, DeviceRejected
from sitewatch.collector.modbus.client import ModbusClient
from sitewatch.collector.modbus.config import ModbusEndpoint, ModbusProfile
from sitewatch.collector.modbus.decode import ReadBlock, decode_block, decode_values, plan_reads
from sitewatch.collector.results import PollResult
from sitewatch.domain.samples import Quality, SampleBlock
from sitewatch.domain.time import UTC, require_utc


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
        # A poll is one SampleBlock over every block's registers, in order; its names, units
        # and (usually) qualities are these tuples, worked out once and shared by every poll.
        specs = [reg for block in self._blocks for reg in block.registers]
        self._names = tuple(reg.channel for reg in specs)
        self._units = tuple(reg.unit for reg in specs)
        self._all_good = (Quality.GOOD,) * len(specs)
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
        device and are raised: the scheduler owns retries and health. So is the first
        DecodeError when every block's reply was too broken to keep the connection (garbage,
        replies broken off): that device gives no data, and its poll failed. One that answers
        every block with exceptions or well-formed but unusable replies (too few registers,
        another function code) is alive, and says why: a partial failure. Strings are read at
        the first poll and then every ``inventory_interval_s``, into ``reported``.
        """
        if ts.tzinfo is not UTC:
            ts = require_utc(ts)  # refuses naive times, converts other zones (rare: skip the call)
        values: list[float] = []
        qualities: list[Quality] | None = None  # only once a block has failed
        errors: list[CollectorError] = []
        broken = 0  # blocks whose reply was so bad the client closed the connection
        asset_id, read = self._asset_id, self._client.read
        for block in self._blocks:
            try:
                words = await read(table=block.table, address=block.address, count=block.count)
                decoded = decode_values(block, words, device_id=asset_id)
            except (DeviceRejected, DecodeError) as error:
                errors.append(error)
                broken += not self._client.connected
                if qualities is None:
                    qualities = [Quality.GOOD] * len(values)
                values += [math.nan] * len(block.registers)
                qualities += [Quality.COMM_ERROR] * len(block.registers)
                continue
            values += decoded  # type: ignore[arg-type]  # numbers: strings are in _string_blocks
            if qualities is not None:
                qualities += [Quality.GOOD] * len(block.registers)
        if broken and broken == len(self._blocks):
            raise errors[0]
        if self._string_blocks and (self._inventory_due is None or ts >= self._inventory_due):
            errors += await self._read_strings(ts)
        samples = SampleBlock(asset_id, ts, self._names, values, self._units,
                              self._all_good if qualities is None else tuple(qualities))
        return PollResult(samples=samples, errors=tuple(errors))

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
