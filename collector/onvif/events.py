"""A camera's PullPoint subscription: create, pull, renew before expiry, re-create when lost.

Called by the poller within a poll; it never sleeps or loops. Expiry is tracked on our
monotonic clock from the lifetime the camera states (TerminationTime - CurrentTime on the
camera's own clock), so a camera whose clock is hours off still gets renewed in time.
Event times are moved onto our clock by the measured offset, then must fall in the
timestamp window around the pull (``TimestampOutOfRange`` otherwise, reported with the
unreadable messages), unless the endpoint says ``timestamps = "arrival"``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sitewatch.collector.errors import (
    AuthFailed,
    DecodeError,
    DeviceTimeout,
    DeviceUnreachable,
    TimestampOutOfRange,
)
from sitewatch.collector.onvif.client import CameraClient, CameraFault
from sitewatch.collector.onvif.config import OnvifEndpoint
from sitewatch.collector.onvif.decode import CameraEvent, camera_events
from sitewatch.collector.timestamps import TimestampWindow
from sitewatch.domain.samples import Sample
from sitewatch.domain.time import Clock, SystemClock

EVENT_CHANNELS: dict[str, str] = {
    "motion": "state",
    "tamper": "state",
    "video_loss": "state",
    "storage_failure": "state",
}

# A pull or renew failing with these means the camera no longer knows our subscription
# (it rebooted, or dropped it): make a new one. Losing the connection is not one of them:
# that is raised and the subscription is tried again at the next poll.
_SUBSCRIPTION_LOST = (CameraFault, DecodeError)


class PullPointSession:
    """One subscription to one camera's event service."""

    def __init__(
        self,
        *,
        asset_id: str,
        endpoint: OnvifEndpoint,
        camera: CameraClient,
        clock: Clock | None = None,
        window: TimestampWindow = TimestampWindow(),
    ) -> None:
        self._asset_id = asset_id
        self._endpoint = endpoint
        self._camera = camera
        self._clock = clock or SystemClock()
        self._window = window
        self._address: str | None = None
        self._expires_at = 0.0  # monotonic s
        self._renewed_at = 0.0  # monotonic s, of the last create or renew
        self.created = 0  # subscriptions made, for health and tests: >1 means re-created
        self.renewed = 0

    async def pull(self, *, events_address: str) -> tuple[list[Sample], list[DecodeError]]:
        """New events as samples (1.0 = active), and messages that could not be decoded.

        Raises DeviceUnreachable, DeviceTimeout, AuthFailed and faults of a fresh subscription.
        """
        work = self._endpoint.workarounds
        address = self._address
        if address is not None and self._clock.monotonic() >= self._expires_at:
            address = None  # expired while the camera was unreachable
        if address is None:
            address = await self._create(events_address)
        elif self._renew_due():
            try:
                lifetime = await self._camera.renew(address, lifetime_s=work.subscription_s)
            except _SUBSCRIPTION_LOST:
                address = await self._create(events_address)
            else:
                self.renewed += 1
                self._started(lifetime if lifetime is not None else work.subscription_s)
        timeout_s = self._endpoint.events_pull_timeout_s
        try:
            pulled = await self._camera.pull_messages(address, timeout_s=timeout_s)
        except _SUBSCRIPTION_LOST:
            address = await self._create(events_address)
            pulled = await self._camera.pull_messages(address, timeout_s=timeout_s)
        if pulled.lifetime_s is not None:
            # PullMessages extends the subscription on some cameras; trust what it says.
            self._expires_at = self._clock.monotonic() + pulled.lifetime_s
        events, errors = camera_events(pulled.notifications, device_id=self._asset_id)
        samples, refused = self._samples(events)
        return samples, errors + refused

    async def close(self) -> None:
        """Unsubscribe, unless the camera is known to cancel everyone's subscriptions then."""
        address, self._address = self._address, None
        if address is None or not self._endpoint.workarounds.unsubscribe_on_close:
            return
        try:
            await self._camera.unsubscribe(address)
        except (DeviceUnreachable, DeviceTimeout, AuthFailed, CameraFault, DecodeError):
            pass  # shutting down: the subscription expires on its own within subscription_s

    def _renew_due(self) -> bool:
        work = self._endpoint.workarounds
        now = self._clock.monotonic()
        return (
            self._expires_at - now <= work.renew_margin_s
            and now - self._renewed_at >= work.min_renew_interval_s
        )

    async def _create(self, events_address: str) -> str:
        self._address = None
        subscription = await self._camera.create_pullpoint(
            events_address, lifetime_s=self._endpoint.workarounds.subscription_s
        )
        self._address = subscription.address
        self.created += 1
        self._started(subscription.lifetime_s)
        return subscription.address

    def _started(self, lifetime_s: float) -> None:
        now = self._clock.monotonic()
        self._renewed_at = now
        self._expires_at = now + lifetime_s

    def _samples(self, events: list[CameraEvent]) -> tuple[list[Sample], list[DecodeError]]:
        received_at = self._clock.now()
        samples: list[Sample] = []
        refused: list[DecodeError] = []
        for event in events:
            try:
                at = received_at if self._endpoint.timestamps == "arrival" else self._our_time(event, received_at)
            except DecodeError as error:
                refused.append(error)
                continue
            samples.append(Sample(self._asset_id, event.kind, at, 1.0 if event.state else 0.0, "state"))
        return samples, refused

    def _our_time(self, event: CameraEvent, received_at: datetime) -> datetime:
        """The event's time on our clock, checked against the window."""
        offset_s = self._camera.clock_offset_s
        try:
            at = event.at - timedelta(seconds=offset_s)  # the camera's clock onto ours
        except OverflowError:
            raise DecodeError(
                device_id=self._asset_id,
                message=f"event time {event.at.isoformat()} less the clock offset {offset_s:g} s is outside the calendar",
            ) from None
        try:
            return self._window.check(at, received_at=received_at, device_id=self._asset_id, where=event.kind)
        except TimestampOutOfRange:
            if event.initialized and at < received_at:
                return received_at  # a state that began long ago and still holds: it holds now
            raise
