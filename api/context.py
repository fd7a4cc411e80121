"""What the API reads of the process that serves it: its own narrow interface, so ``api/``
does not import the process wiring (``sitewatch/``).

``create_app`` takes anything shaped like ``ApiContext``; today that is the process's
``sitewatch.components.Components``, which satisfies it structurally (tests/api/
test_no_sitewatch_imports.py checks both that and that no module under api/ imports
``sitewatch``). Members are read-only properties so a richer implementation (a concrete
store, the health registry) still fits. Only what some route, page or the live hub reads
is here: the rules engine, the vault, the database engine and the spool are not.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from sqlalchemy.orm import Session, sessionmaker

from sitewatch.config.models import Config
from sitewatch.domain.health import DeviceHealth
from sitewatch.domain.samples import Sample
from sitewatch.domain.time import Clock
from sitewatch.storage.timeseries import Bucket


@runtime_checkable
class SampleReader(Protocol):
    """The read side of the time-series store (sitewatch.storage.timeseries.TimeSeriesStore). The
    backup route also asks, by isinstance, whether the store is ``sitewatch.backup.timeseries.Exportable``."""

    def query(
        self, *, asset_id: str, start: datetime, end: datetime, channel: str | None = None, limit: int | None = None,
    ) -> list[Sample]: ...

    def latest(self, *, asset_ids: Sequence[str] | None = None) -> list[Sample]: ...

    def buckets(
        self, *, asset_id: str, channel: str, start: datetime, end: datetime, width_s: float,
    ) -> list[Bucket]: ...


@runtime_checkable
class DeviceHealthReader(Protocol):
    """Polled devices' health: sitewatch.collector.health.HealthRegistry in a process that polls them,
    sitewatch.storage.device_health.DatabaseHealth (what the collectors saved) in one that does not.
    ``get`` raises KeyError for a device without a record."""

    def get(self, device_id: str) -> DeviceHealth: ...

    def all(self) -> Sequence[DeviceHealth]: ...


@runtime_checkable
class ExpiringHealthReader(DeviceHealthReader, Protocol):
    """A reader that keeps what it read for a while (sitewatch.storage.device_health.DatabaseHealth):
    the live hub makes it read again when it hears that the device health changed."""

    def expire(self) -> None: ...


class LoopView(Protocol):
    """One supervised loop as /healthz shows it (sitewatch.supervise.LoopHealth)."""

    @property
    def state(self) -> str: ...  # "running" or "restarting"
    @property
    def restarts(self) -> int: ...
    @property
    def errors(self) -> int: ...
    @property
    def last_error(self) -> str | None: ...
    @property
    def last_error_at(self) -> datetime | None: ...


class BufferView(Protocol):
    """An on-disk buffer as /healthz and the control room show it (sitewatch.supervise.BufferState)."""

    @property
    def samples(self) -> int: ...
    @property
    def max_samples(self) -> int: ...
    @property
    def warn_at(self) -> int: ...
    @property
    def warning(self) -> bool: ...
    @property
    def spooled(self) -> int: ...
    @property
    def replayed(self) -> int: ...
    @property
    def dropped(self) -> int: ...


@runtime_checkable
class ServiceHealthReader(Protocol):
    """How the process itself is doing (sitewatch.supervise.ServiceHealth), read by /healthz
    and the control room's banner."""

    def loops(self) -> Mapping[str, LoopView]: ...

    def set_aside(self) -> dict[str, int]: ...

    def inputs(self) -> dict[str, dict[str, int]]: ...

    def buffers(self) -> Mapping[str, BufferView]: ...

    def degraded(self, *, now: datetime) -> bool: ...


@runtime_checkable
class ApiContext(Protocol):
    """Everything the API reads of a running process."""

    @property
    def config(self) -> Config: ...
    @property
    def store(self) -> SampleReader: ...
    @property
    def sessions(self) -> sessionmaker[Session]: ...  # the live hub also listens to its commits
    @property
    def health(self) -> DeviceHealthReader: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def service(self) -> ServiceHealthReader: ...
    @property
    def metrics(self) -> Callable[[], bytes]: ...  # the process's Prometheus text exposition, made per scrape
