"""What one Sitewatch process is built on, whichever stages it runs: the configuration, the
database, the time-series store and its on-disk buffer, the rules engine, the device health and
the vault. Built once per process; the stages (sitewatch/stages/) and the API share it.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from sitewatch.collector.health import HealthRegistry
from sitewatch.collector.modbus.gateway import GATEWAY_CHANNELS
from sitewatch.collector.mqtt.decode import host_channels
from sitewatch.collector.onvif.poller import camera_channels
from sitewatch.config.models import Config
from sitewatch.domain.time import Clock, SystemClock
from sitewatch.metrics import exposition
from sitewatch.paging.service import credential_names
from sitewatch.rules.engine import AssetChannels, RulesEngine
from sitewatch.rules.flapping import FlapGuard
from sitewatch.storage.database import make_engine, session_factory
from sitewatch.storage.open import open_timeseries
from sitewatch.storage.schema import upgrade_schema
from sitewatch.storage.spool import SampleSpool
from sitewatch.storage.timeseries import TimeSeriesStore
from sitewatch.supervise import ServiceHealth
from sitewatch.vault.keys import load_key
from sitewatch.vault.store import Vault


def tune_garbage_collector() -> None:
    """Process-wide GC settings for a long-running collector; call once at start-up.

    Every poll allocates a dozen short-lived samples. With CPython's default gen-0
    threshold (700) that is ~100 collections a second at 500 stations, and the frequent
    older-generation passes walk every live object: bench/bench_collector.py measured
    ~160 us of CPU per poll with the defaults and ~107 us with these settings. Samples
    form no reference cycles, so collecting less often costs no memory that matters.
    """
    gc.freeze()  # what start-up built (config, pymodbus, SQLAlchemy) is never garbage
    gc.set_threshold(100_000, 20, 100)


@dataclass
class Components:
    """What the API and the CLI need to see of a running process."""

    config: Config
    store: TimeSeriesStore
    database: Engine
    sessions: sessionmaker[Session]
    health: HealthRegistry
    engine: RulesEngine
    clock: Clock
    vault: Vault | None  # None when no asset needs credentials
    service: ServiceHealth  # the process's own loops, for /healthz
    spool: SampleSpool  # store-and-forward: what the store could not take yet
    metrics: Callable[[], bytes]  # Prometheus text exposition of this process (sitewatch/metrics.py)

    def close(self) -> None:
        self.store.close()
        self.spool.close()
        self.database.dispose()


def asset_channels(config: Config) -> list[AssetChannels]:
    out = []
    for asset in config.assets:
        if asset.modbus is not None:
            profile = config.profile(asset.modbus.profile)
            channels = profile.channels
        elif asset.modbus_gateway is not None:
            channels = dict(GATEWAY_CHANNELS)
        elif asset.alarm_host is not None:
            channels = host_channels(asset.alarm_host.zones)
        else:
            assert asset.onvif is not None
            channels = camera_channels(asset.onvif)
        # Regulator pressures by name, for rules written relative to them (relative_to);
        # the site's zone, for rules that learn per local hour of day (baseline).
        settings = asset.regulator.model_dump() if asset.regulator is not None else {}
        out.append(AssetChannels(asset.id, asset.kind, channels, asset.limits, settings=settings,
                                 time_zone=config.site(asset.site).time_zone))
    return out


def rules_engine(config: Config, *, started_at: datetime, assets: Collection[str] | None = None) -> RulesEngine:
    """The rules engine of ``assets`` (None: the whole fleet; a worker's shard otherwise)."""
    settings = config.rules_engine
    flapping = (FlapGuard(transitions=settings.flap_transitions, window_s=settings.flap_window_s)
                if settings.flap_transitions is not None else None)
    channels = [a for a in asset_channels(config) if assets is None or a.asset_id in assets]
    return RulesEngine(rules=config.rules, assets=channels, started_at=started_at, flapping=flapping)


def build_components(config: Config, *, clock: Clock | None = None) -> Components:
    clock = clock or SystemClock()
    data_dir = Path(config.storage.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    buffer = config.storage.buffer
    spool = SampleSpool(data_dir / buffer.path, max_samples=buffer.max_samples, warn_fraction=buffer.warn_fraction)
    db = make_engine(config.storage.database_url.format(data_dir=data_dir.as_posix()))
    upgrade_schema(db)
    sessions = session_factory(db)
    engine = rules_engine(config, started_at=clock.now())
    health = HealthRegistry(offline_after_failures=config.collector.offline_after_failures)
    # The key is needed only where credentials are; its absence then stops start-up with a
    # message naming SITEWATCH_VAULT_KEY and the key file (vault.errors.KeyConfigError).
    influx = config.storage.influx
    needs_vault = (any(a.onvif is not None for a in config.assets) or bool(credential_names(config))
                   or (influx is not None and influx.credential is not None))
    vault = Vault(sessions, load_key(key_file=config.vault.key_file)) if needs_vault else None
    store = open_timeseries(config.storage, data_dir=data_dir, site_of={a.id: a.site for a in config.assets},
                            secret=_vault_secret(vault, clock) if vault is not None else None, clock=clock)
    service = ServiceHealth()
    return Components(config, store, db, sessions, health, engine, clock, vault, service, spool,
                      exposition(config, health=health, service=service))


def _vault_secret(vault: Vault, clock: Clock) -> Callable[[str], tuple[str, str]]:
    """The time-series server's credential, read from the vault once, when the store opens."""

    def secret(name: str) -> tuple[str, str]:
        credential = vault.get(name, purpose="time-series store", actor="sitewatch", now=clock.now())
        return credential.username, credential.password.reveal()

    return secret
