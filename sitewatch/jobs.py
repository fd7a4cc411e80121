"""The poll jobs the collector's scheduler runs: one per Modbus station, one or two per
camera (its main poll, and its events when they have their own interval)."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from collector.modbus.poller import ModbusPoller
from collector.onvif.client import OnvifClients
from collector.onvif.events import EVENT_CHANNELS
from collector.onvif.poller import OnvifPoller
from collector.results import PollResult
from collector.scheduler import PollJob
from collector.timestamps import TimestampWindow
from config.models import Config
from domain.time import Clock
from storage.repository import record_reported_facts
from storage.snapshots import SnapshotKeeper, snapshot_folder
from vault.cache import CachedCredential
from vault.store import Vault


def modbus_jobs(config: Config) -> list[PollJob]:
    jobs = []
    for asset in config.assets:
        if asset.modbus is None:
            continue
        profile = config.profile(asset.modbus.profile)
        poller = ModbusPoller(asset_id=asset.id, endpoint=asset.modbus, profile=profile)
        reads = poller.reads_per_poll
        jobs.append(
            PollJob(
                device_id=asset.id,
                interval_s=asset.poll_interval_s,
                # every read may take its full timeout, plus one connect
                timeout_s=asset.modbus.timeout_s * (reads + 1),
                poll=poller.poll,
                channels=poller.channels,
                close=poller.close,
            )
        )
    return jobs


class ReportedFacts:
    """Writes what cameras report about themselves to the inventory, only when it changed."""

    def __init__(self, sessions: sessionmaker[Session], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock
        self._last: dict[str, dict] = {}

    async def record(self, asset_id: str, facts: dict) -> None:
        if self._last.get(asset_id) == facts:
            return
        await asyncio.to_thread(self._write, asset_id, facts)
        self._last[asset_id] = facts

    def _write(self, asset_id: str, facts: dict) -> None:
        with self._sessions() as session:
            record_reported_facts(session, asset_id, facts, actor="collector", now=self._clock.now())
            session.commit()


def camera_jobs(
    config: Config, *, clients: OnvifClients, vault: Vault, clock: Clock, facts: ReportedFacts
) -> list[PollJob]:
    jobs = []
    # Camera event times outside this window are refused (or, for cameras with a known bad
    # clock, replaced by the arrival time): the same window as the alarm hosts'.
    window = TimestampWindow.of(config.collector)
    snapshots = SnapshotKeeper(snapshot_folder(config.storage.data_dir))  # for the asset page
    for asset in config.assets:
        if asset.onvif is None:
            continue
        credentials = CachedCredential(vault, asset.onvif.credential, purpose=f"onvif {asset.id}",
                                       actor="collector", clock=clock)
        poller = OnvifPoller(asset_id=asset.id, endpoint=asset.onvif, credentials=credentials,
                             clients=clients, clock=clock, window=window, snapshots=snapshots)
        jobs.append(
            PollJob(
                device_id=asset.id,
                interval_s=asset.poll_interval_s,
                # clock, inventory (first poll), snapshot URI and fetch, events pull
                timeout_s=asset.onvif.timeout_s * 6 + asset.onvif.events_pull_timeout_s,
                poll=functools.partial(_poll_camera, poller, facts),
                channels=poller.channels,
                close=poller.close,
            )
        )
        if asset.onvif.events and asset.onvif.events_interval_s is not None:
            jobs.append(
                PollJob(
                    # A health record of its own: "cam-001/events" failing while "cam-001"
                    # answers means the event service is the problem.
                    device_id=f"{asset.id}/events",
                    interval_s=asset.onvif.events_interval_s,
                    timeout_s=asset.onvif.timeout_s + asset.onvif.events_pull_timeout_s,
                    poll=poller.poll_events,
                    channels=EVENT_CHANNELS,
                    close=_nothing_to_close,  # the camera's main job closes the subscription
                )
            )
    return jobs


async def _nothing_to_close() -> None:
    return None


async def _poll_camera(poller: OnvifPoller, facts: ReportedFacts, ts: datetime) -> PollResult:
    result = await poller.poll(ts)
    info = poller.device_info
    if info is not None:
        await facts.record(poller.asset_id, dataclasses.asdict(info))
    return result
