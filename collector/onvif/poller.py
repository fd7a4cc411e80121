"""One poll of one camera: clock and reachability, inventory, snapshot picture check, events.

The poller never sleeps, loops, retries or starts anything: the scheduler calls ``poll``
with the time it wants stamped on the samples and decides what to do with failures. Only the
picture check leaves the event loop, for the loop's default executor (``asyncio.to_thread``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Protocol

from sitewatch.collector.errors import AuthFailed, CollectorError, DecodeError
from sitewatch.collector.onvif.client import CameraClient, CameraFault, Credentials, OnvifClients
from sitewatch.collector.onvif.config import OnvifEndpoint
from sitewatch.collector.onvif.decode import (
    DeviceInfo,
    MediaProfile,
    ServiceAddresses,
    camera_utc,
    clock_offset_s,
    device_info,
    media_profiles,
    service_addresses,
)
from sitewatch.collector.onvif.events import EVENT_CHANNELS, PullPointSession
from sitewatch.collector.onvif.picture import PICTURE_CHANNELS, PictureChecker
from sitewatch.collector.results import PollResult
from sitewatch.collector.timestamps import TimestampWindow
from sitewatch.domain.samples import Sample
from sitewatch.domain.time import UTC, Clock, require_utc

# Channels of every poll (the picture check adds its own picture_* samples).
BASE_CHANNELS: dict[str, str] = {"reachable": "state", "clock_offset_s": "s"}
SNAPSHOT_CHANNELS: dict[str, str] = {"snapshot_ok": "state"}


class SnapshotSink(Protocol):
    """Where a judged snapshot goes to be shown (storage/snapshots.py); keeping it never
    fails a poll, so it answers whether it kept the snapshot rather than raising."""

    async def keep(self, asset_id: str, jpeg: bytes, *, taken_at: datetime) -> bool: ...


def camera_channels(endpoint: OnvifEndpoint) -> dict[str, str]:
    """Every channel a camera polled through ``endpoint`` reports, with its unit."""
    channels = dict(BASE_CHANNELS)
    if endpoint.snapshot:
        channels |= SNAPSHOT_CHANNELS | PICTURE_CHANNELS
    if endpoint.events:
        channels |= EVENT_CHANNELS
    return channels


class OnvifPoller:
    """Polls one camera. Construction does no I/O."""

    def __init__(
        self,
        *,
        asset_id: str,
        endpoint: OnvifEndpoint,
        credentials: Credentials,
        clients: OnvifClients,
        clock: Clock | None = None,
        window: TimestampWindow = TimestampWindow(),
        snapshots: SnapshotSink | None = None,
    ) -> None:
        """``window``: how far event times may stray from the pull, from ``[collector]``'s
        ``max_timestamp_age_s`` / ``max_timestamp_lead_s``; unused when the endpoint says
        ``timestamps = "arrival"``. The default is those settings' defaults.
        ``snapshots``: keeps each judged snapshot, stamped with the poll's time; None: none kept."""
        self._asset_id = asset_id
        self._endpoint = endpoint
        self._camera = CameraClient(asset_id=asset_id, endpoint=endpoint, credentials=credentials, clients=clients)
        self._pictures = (
            PictureChecker(asset_id=asset_id, max_pixels=endpoint.max_snapshot_pixels) if endpoint.snapshot else None
        )
        self._snapshots = snapshots
        self._events = (
            PullPointSession(asset_id=asset_id, endpoint=endpoint, camera=self._camera, clock=clock, window=window)
            if endpoint.events
            else None
        )
        self._channels = MappingProxyType(camera_channels(endpoint))
        self._info: DeviceInfo | None = None
        self._addresses: ServiceAddresses | None = None
        self._profile: MediaProfile | None = None
        self._stream_uri: str | None = None
        self._snapshot_uri: str | None = None

    @property
    def asset_id(self) -> str:
        return self._asset_id

    @property
    def channels(self) -> Mapping[str, str]:
        """Channel -> unit, for the scheduler's COMM_ERROR samples when a whole poll fails."""
        return self._channels

    @property
    def device_info(self) -> DeviceInfo | None:
        """Manufacturer, model, firmware, serial for the inventory; None until first read."""
        return self._info

    @property
    def stream_uri(self) -> str | None:
        return self._stream_uri

    @property
    def events(self) -> PullPointSession | None:
        return self._events

    async def poll(self, ts: datetime) -> PollResult:
        """Read the camera's clock, then inventory, snapshot and events.

        The clock call proves the camera answers: when it fails (DeviceUnreachable,
        DeviceTimeout, AuthFailed, DecodeError) the poll raises, and so does AuthFailed from
        any later call (refused credentials concern the whole camera). Anything else failing
        after the clock call is a partial error in ``errors``; the samples made still report.
        """
        if ts.tzinfo is not UTC:
            ts = require_utc(ts)
        try:
            reply, sent, received = await self._camera.system_time()
            camera_now = camera_utc(reply, device_id=self._asset_id)
        except CollectorError:
            # Whatever comes back may be another camera, or new firmware: read it all again.
            self._forget()
            raise
        offset = clock_offset_s(camera_now, sent=sent, received=received)
        self._camera.clock_offset_s = offset
        samples = [
            Sample(self._asset_id, "reachable", ts, 1.0, "state"),
            Sample(self._asset_id, "clock_offset_s", ts, offset, "s"),
        ]
        errors: list[CollectorError] = []
        try:
            await self._discover()
        except AuthFailed:
            raise  # refused credentials concern the whole camera, not a part of it
        except CollectorError as error:
            return PollResult(samples=tuple(samples), errors=(error,))
        if self._pictures is not None:
            try:
                samples += await self._check_picture(ts)
            except AuthFailed:
                raise
            except CollectorError as error:
                self._snapshot_uri = None  # ask again next time: it may change after a reboot
                errors.append(error)
                samples.append(Sample(self._asset_id, "snapshot_ok", ts, 0.0, "state"))
        if self._events is not None and self._endpoint.events_interval_s is None:
            try:
                events, unreadable = await self._pull_events()
            except AuthFailed:
                raise
            except CollectorError as error:
                errors.append(error)
            else:
                samples += events
                errors += unreadable  # one unreadable message does not hide the others
        return PollResult(samples=tuple(samples), errors=tuple(errors))

    async def poll_events(self, ts: datetime) -> PollResult:
        """Only the PullPoint events, for their own faster job (``events_interval_s``).

        Until the main poll has found the camera's services there is nothing to pull; a
        camera that is down is the main poll's to report, so failures here are partial.
        """
        if self._events is None or self._addresses is None:
            return PollResult(samples=())
        try:
            events, unreadable = await self._pull_events()
        except AuthFailed:
            raise
        except CollectorError as error:
            return PollResult(samples=(), errors=(error,))
        return PollResult(samples=tuple(events), errors=tuple(unreadable))

    async def close(self) -> None:
        if self._events is not None:
            await self._events.close()

    def _forget(self) -> None:
        self._info = self._addresses = self._profile = None
        self._stream_uri = self._snapshot_uri = None

    async def _discover(self) -> None:
        """Inventory, service addresses and URIs: read once, again after the camera was down."""
        if self._info is None:
            self._info = device_info(await self._camera.device_information())
        if self._addresses is None:
            self._addresses = service_addresses(await self._camera.capabilities())
        if self._profile is None and self._addresses.media is not None:
            profiles = media_profiles(await self._camera.profiles(self._addresses.media), device_id=self._asset_id)
            if self._endpoint.profile >= len(profiles):
                raise DecodeError(
                    device_id=self._asset_id,
                    message=f"profile {self._endpoint.profile} configured, the camera has {len(profiles)}",
                )
            self._profile = profiles[self._endpoint.profile]
            self._stream_uri = await self._camera.stream_uri(self._addresses.media, self._profile.token)

    async def _check_picture(self, ts: datetime) -> list[Sample]:
        assert self._pictures is not None and self._addresses is not None
        if self._addresses.media is None or self._profile is None:
            raise CameraFault(device_id=self._asset_id, message="no media service: cannot take a snapshot")
        if self._snapshot_uri is None:
            self._snapshot_uri = await self._camera.snapshot_uri(self._addresses.media, self._profile.token)
        jpeg = await self._camera.fetch_snapshot(self._snapshot_uri)
        # Decoding and measuring take milliseconds of CPU per picture, more for large ones: in a
        # thread, not on the event loop that also polls stations and serves the API.
        samples = await asyncio.to_thread(self._pictures.check, jpeg, ts=ts)
        if self._snapshots is not None:
            # Only after the check: a snapshot kept is one that could be judged, shown beside its verdict.
            await self._snapshots.keep(self._asset_id, jpeg, taken_at=ts)
        return [Sample(self._asset_id, "snapshot_ok", ts, 1.0, "state"), *samples]

    async def _pull_events(self) -> tuple[list[Sample], list[DecodeError]]:
        assert self._events is not None and self._addresses is not None
        if self._addresses.events is None:
            raise CameraFault(device_id=self._asset_id, message="events configured, but the camera has no event service")
        return await self._events.pull(events_address=self._addresses.events)
