"""A measured value with its unit, time and quality."""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, overload


class Quality(enum.IntEnum):
    """Stored as a small integer; the names are what the API shows."""

    GOOD = 0
    COMM_ERROR = 1  # the poll failed: value is NaN, kept so gaps are visible
    STALE = 2  # the last good value, older than the asset's poll interval allows
    # The collector held the poll back (its process short of CPU: collector/admission.py), so
    # nothing is known of the device: value NaN. The rules do not count it as the device's
    # silence (no no-data alert for a device nobody asked), and the gap shows why it is there.
    NOT_POLLED = 3


class Sample(NamedTuple):
    """Immutable. A NamedTuple rather than a frozen dataclass: built ~12 times per poll of
    every station, and half the cost matters at hundreds of polls per second; storage also
    transposes batches with ``zip(*samples)``."""

    asset_id: str
    channel: str  # carries its unit as a suffix by convention: outlet_kpa, inlet_mpa
    ts: datetime  # UTC, timezone-aware
    value: float
    unit: str  # "kPa", "MPa", "Nm3/h", "degC", "%LEL", "V", "state"
    quality: Quality = Quality.GOOD

    @property
    def is_good(self) -> bool:
        return self.quality is Quality.GOOD and not math.isnan(self.value)


class SampleBlock(Sequence[Sample]):
    """One poll of one asset, columnar: one asset and time, and per channel its name, value,
    unit and quality. A poller hands its block over as it is (the channel and unit tuples are
    the poller's own, shared by every poll), the bus carries it whole, and the store and the
    rules read its columns; anything else may treat it as the Samples it stands for."""

    __slots__ = ("asset_id", "channels", "qualities", "ts", "units", "values")

    def __init__(self, asset_id: str, ts: datetime, channels: tuple[str, ...], values: Sequence[float],
                 units: tuple[str, ...], qualities: tuple[Quality, ...]) -> None:
        self.asset_id = asset_id
        self.ts = ts  # UTC, timezone-aware
        self.channels = channels
        self.values = values  # NaN where the quality is not GOOD
        self.units = units
        self.qualities = qualities

    def __len__(self) -> int:
        return len(self.channels)

    @overload
    def __getitem__(self, index: int) -> Sample: ...
    @overload
    def __getitem__(self, index: slice) -> list[Sample]: ...
    def __getitem__(self, index: int | slice) -> Sample | list[Sample]:
        if isinstance(index, slice):
            return self.samples()[index]
        return Sample(self.asset_id, self.channels[index], self.ts, self.values[index], self.units[index],
                      self.qualities[index])

    def __iter__(self) -> Iterator[Sample]:
        return iter(self.samples())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SampleBlock):
            return NotImplemented
        return self.samples() == other.samples()

    __hash__ = None  # type: ignore[assignment]  # values may be a list

    def __repr__(self) -> str:
        return f"SampleBlock({self.asset_id!r}, {self.ts.isoformat()}, {len(self.channels)} channels)"

    def samples(self) -> list[Sample]:
        asset_id, ts = self.asset_id, self.ts
        return [Sample(asset_id, channel, ts, value, unit, quality)
                for channel, value, unit, quality in zip(self.channels, self.values, self.units, self.qualities)]


class SampleList(Sequence[Sample]):
    """Samples kept as they came: Modbus polls as whole SampleBlocks among loose Samples (what
    the bus drains). To anyone it is the Samples it stands for, in order; the store and the
    rules read ``items`` instead and take each block's columns as they are."""

    __slots__ = ("_samples", "items")

    def __init__(self, items: list[Sample | SampleBlock]) -> None:
        self.items = items
        self._samples: list[Sample] | None = None  # expanded on first use, by a reader that needs Samples

    def __bool__(self) -> bool:
        return bool(self.items)

    def __len__(self) -> int:
        return sum(len(item.channels) if type(item) is SampleBlock else 1 for item in self.items)

    @overload
    def __getitem__(self, index: int) -> Sample: ...
    @overload
    def __getitem__(self, index: slice) -> list[Sample]: ...
    def __getitem__(self, index: int | slice) -> Sample | list[Sample]:
        return self.samples()[index]

    def __iter__(self) -> Iterator[Sample]:
        return iter(self.samples())

    def __repr__(self) -> str:
        return f"SampleList({len(self.items)} items, {len(self)} samples)"

    def samples(self) -> list[Sample]:
        if self._samples is None:
            out: list[Sample] = []
            for item in self.items:
                if type(item) is SampleBlock:
                    out += item.samples()
                else:
                    out.append(item)  # type: ignore[arg-type]
            self._samples = out
        return self._samples


def items_of(samples: Iterable[Sample] | SampleList) -> Iterable[Sample | SampleBlock]:
    """What to read columns from: a SampleList's blocks and loose Samples, else the Samples."""
    return samples.items if type(samples) is SampleList else samples


@dataclass(frozen=True, slots=True)
class ChannelStats:
    """Aggregate of one channel of one asset over a time window."""

    asset_id: str
    channel: str
    unit: str
    count: int  # good samples only
    min: float
    max: float
    mean: float
    last: float
    last_ts: datetime | None
