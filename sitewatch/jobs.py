"""The poll jobs the collector's scheduler runs: one per Modbus station and gateway, one or
two per camera (its main poll, and its events when they have their own interval)."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
from collections import Counter
from collections.abc import Collection
from datetime import datetime

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from sitewatch.collector.admission import Headroom
from sitewatch.collector.errors import CollectorError
from sitewatch.collector.modbus.client import Link, ModbusClient, ModbusConnections
from sitewatch.collector.modbus.gateway import GatewayPoller
from sitewatch.collector.modbus.poller import ModbusPoller
from sitewatch.collector.onvif.client import OnvifClients
from sitewatch.collector.onvif.events import EVENT_CHANNELS
from sitewatch.collector.onvif.poller import OnvifPoller
from sitewatch.collector.results import PollResult
from sitewatch.collector.scheduler import PollJob
from sitewatch.collector.timestamps import TimestampWindow
from sitewatch.config.models import Asset, Config
from sitewatch.domain.time import Clock
from sitewatch.storage.database import first_line
from sitewatch.storage.repository import record_reported_facts
from sitewatch.storage.snapshots import SnapshotKeeper, snapshot_folder
from sitewatch.vault.cache import CachedCredential
from sitewatch.vault.store import Vault

log = logging.getLogger(__name__)


def modbus_jobs(config: Config, *, facts: ReportedFacts | None = None,
                assets: Collection[str] | None = None) -> list[PollJob]:
    """One job per station and one per gateway (of ``assets`` only, if given: a worker's
    shards, which keep a gateway and its stations together). Stations behind one gateway (or
    one address) share its connection, one request at a time; the strings a station reports
    (firmware, serial number) go to ``facts``."""
    chosen = [a for a in config.assets if assets is None or a.id in assets]
    connections = ModbusConnections()
    links = {asset.id: _link(config, asset) for asset in chosen if asset.modbus is not None}
    sharing = Counter(links.values())
    jobs = []
    for asset in chosen:
        if asset.modbus is None:
            continue
        link = links[asset.id]
        connection = connections.get(link, name=asset.modbus.gateway or asset.id)
        poller = ModbusPoller(asset_id=asset.id, endpoint=asset.modbus, profile=config.profile(asset.modbus.profile),
                              client=ModbusClient(endpoint=asset.modbus, asset_id=asset.id, connection=connection))
        # Every read may take its full timeout, plus one connect; on a shared connection it
        # may also wait for every other station's poll to do the same.
        own_s = asset.modbus.timeout_s * (poller.reads_per_poll + 1) + link.pause_s * poller.reads_per_poll
        poll = poller.poll if facts is None else functools.partial(_poll_station, poller, facts)
        jobs.append(PollJob(device_id=asset.id, interval_s=asset.poll_interval_s, timeout_s=own_s * sharing[link],
                            poll=poll, channels=poller.channels, close=poller.close, upstream=asset.modbus.gateway))
    for gateway in chosen:
        if gateway.modbus_gateway is None:
            continue
        gateway_id, stations = gateway.id, config.behind(gateway.id)
        link = Link.of_gateway(gateway.modbus_gateway)
        slowest_s = max((s.poll_interval_s for s in stations), default=gateway.poll_interval_s)
        poller = GatewayPoller(asset_id=gateway_id, connection=connections.get(link, name=gateway_id),
                               device_ids=[s.modbus.device_id for s in stations if s.modbus is not None],
                               window_s=2 * slowest_s + gateway.poll_interval_s)
        # Asyncio's lock is first come, first served: the gateway's connect waits for at most
        # one request of each station.
        queue_s = sum(s.modbus.timeout_s + link.pause_s for s in stations if s.modbus is not None)
        jobs.append(PollJob(device_id=gateway_id, interval_s=gateway.poll_interval_s,
                            timeout_s=gateway.modbus_gateway.timeout_s + queue_s,
                            poll=poller.poll, channels=poller.channels, close=_nothing_to_close))
    return jobs


def _link(config: Config, station: Asset) -> Link:
    assert station.modbus is not None
    if station.modbus.gateway is None:
        return Link.of_endpoint(station.modbus)
    gateway = config.asset(station.modbus.gateway).modbus_gateway
    assert gateway is not None  # the config checks a station's gateway is a modbus_gateway
    return Link.of_gateway(gateway)


async def _poll_station(poller: ModbusPoller, facts: ReportedFacts, ts: datetime) -> PollResult:
    result = await poller.poll(ts)
    if poller.reported:
        await facts.record(poller.asset_id, poller.reported)
    return result


class ReportedFacts:
    """Writes what cameras report about themselves to the inventory, only when it changed."""

    def __init__(self, sessions: sessionmaker[Session], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock
        self._last: dict[str, dict] = {}

    async def record(self, asset_id: str, facts: dict) -> None:
        if self._last.get(asset_id) == facts:
            return
        try:
            await asyncio.to_thread(self._write, asset_id, facts)
        except SQLAlchemyError as exc:  # the poll stands; the facts are written at a later poll
            log.info("%s: reported facts not written (database unavailable): %s", asset_id,
                     first_line(exc))
            return
        self._last[asset_id] = facts

    def _write(self, asset_id: str, facts: dict) -> None:
        with self._sessions() as session:
            record_reported_facts(session, asset_id, facts, actor="collector", now=self._clock.now())
            session.commit()


def camera_jobs(
    config: Config, *, clients: OnvifClients, vault: Vault, clock: Clock, facts: ReportedFacts,
    headroom: Headroom, assets: Collection[str] | None = None,
) -> list[PollJob]:
    """One job per camera (of ``assets`` only, if given), and one for its events if it pulls them.

    ``headroom``: the event loop's, shared by every camera job on it, whatever shard (each
    shard's own would each take their slots from the same loop)."""
    jobs = []
    # Camera event times outside this window are refused (or, for cameras with a known bad
    # clock, replaced by the arrival time): the same window as the alarm hosts'.
    window = TimestampWindow.of(config.collector)
    snapshots = SnapshotKeeper(snapshot_folder(config.storage.data_dir))  # for the asset page
    for asset in config.assets:
        if asset.onvif is None or (assets is not None and asset.id not in assets):
            continue
        credentials = CachedCredential(vault, asset.onvif.credential, purpose=f"onvif {asset.id}",
                                       actor="collector", clock=clock)
        poller = OnvifPoller(asset_id=asset.id, endpoint=asset.onvif, credentials=credentials,
                             clients=clients, clock=clock, window=window, snapshots=snapshots)
        # clock, inventory (first poll), snapshot URI and fetch, events pull
        budget_s = asset.onvif.timeout_s * 6 + asset.onvif.events_pull_timeout_s
        jobs.append(
            PollJob(
                device_id=asset.id,
                interval_s=asset.poll_interval_s,
                timeout_s=budget_s,
                poll=functools.partial(_poll_camera, poller, facts, credentials, budget_s),
                channels=poller.channels,
                close=poller.close,
                admission=headroom,
            )
        )
        if asset.onvif.events and asset.onvif.events_interval_s is not None:
            events_budget_s = asset.onvif.timeout_s + asset.onvif.events_pull_timeout_s
            jobs.append(
                PollJob(
                    # A health record of its own: "cam-001/events" failing while "cam-001"
                    # answers means the event service is the problem.
                    device_id=f"{asset.id}/events",
                    interval_s=asset.onvif.events_interval_s,
                    timeout_s=events_budget_s,
                    poll=functools.partial(_pull_camera_events, poller, credentials, events_budget_s),
                    channels=EVENT_CHANNELS,
                    close=_nothing_to_close,  # the camera's main job closes the subscription
                    admission=headroom,
                )
            )
    return jobs


async def _nothing_to_close() -> None:
    return None


async def _fresh(device_id: str, credentials: CachedCredential, budget_s: float) -> None:
    # The signer reads the credential inside the poll, on the event loop; asking the database
    # there (every 30 s per camera: 333 queries a second for 10,000 cameras) stalled the loop
    # (bench_fleet: 10 % of station polls made, with the worker at 72 % of a core). So it is
    # asked here, in a thread, if it would be due at any time within the poll's budget.
    if credentials.due(within_s=budget_s):
        try:
            await asyncio.to_thread(functools.partial(credentials.refresh, within_s=budget_s))
        except SQLAlchemyError as exc:  # none read yet, and the database down: a failed poll, not a bug
            raise CollectorError(device_id=device_id, message="its credential cannot be read: the database is "
                                 f"unavailable ({first_line(exc)})") from None


async def _pull_camera_events(poller: OnvifPoller, credentials: CachedCredential, budget_s: float,
                              ts: datetime) -> PollResult:
    await _fresh(poller.asset_id, credentials, budget_s)
    return await poller.poll_events(ts)


async def _poll_camera(poller: OnvifPoller, facts: ReportedFacts, credentials: CachedCredential, budget_s: float,
                       ts: datetime) -> PollResult:
    await _fresh(poller.asset_id, credentials, budget_s)
    result = await poller.poll(ts)
    info = poller.device_info
    if info is not None:
        await facts.record(poller.asset_id, dataclasses.asdict(info))
    return result
