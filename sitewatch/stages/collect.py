"""The collect stage: the scheduler polling Modbus stations, gateways and cameras, and the
alarm-host consumer, both publishing onto the process's sample bus. One per held shard
(sitewatch/stages/shards.py): the whole fleet when there is one shard, else the shard's assets."""

from __future__ import annotations

from collections.abc import Collection, Coroutine, Sequence
from typing import Any

from sitewatch.bus import SampleBus
from sitewatch.collector.admission import Headroom
from sitewatch.collector.mqtt.consumer import AlarmHostConsumer, host_zones, timestamp_policy
from sitewatch.collector.mqtt.decode import host_subscriptions
from sitewatch.collector.onvif.client import OnvifClients
from sitewatch.collector.scheduler import PollJob, Scheduler
from sitewatch.components import Components
from sitewatch.jobs import ReportedFacts, camera_jobs, modbus_jobs
from sitewatch.supervise import Supervisor

MQTT_CLIENT_ID_MAX = 23  # MQTT 3.1.1 guarantees client ids of up to 23 characters


class CollectStage:
    def __init__(self, parts: Components, bus: SampleBus, *, jobs: Sequence[PollJob] | None = None,
                 assets: Collection[str] | None = None, onvif: OnvifClients | None = None,
                 headroom: Headroom | None = None, shard: tuple[int, int] | None = None) -> None:
        """``assets``: the ids this stage works on (None: every one); ``shard``: (shard, shards)
        when it is one of several, which names its loops and its MQTT session apart;
        ``onvif`` and ``headroom``: the process's, for its cameras."""
        self.parts = parts
        self.bus = bus
        config = parts.config
        self._suffix = "" if shard is None else f"/shard-{shard[0]}"
        if jobs is not None:
            self.jobs = list(jobs)
        else:
            facts = ReportedFacts(parts.sessions, parts.clock)  # what devices say of themselves
            # A gateway's stations share the gateway's connection: they are always in its shard
            # (sitewatch/shards.py).
            self.jobs = modbus_jobs(config, facts=facts, assets=assets)
            if onvif is not None:
                self.jobs += camera_jobs(config, clients=onvif, vault=parts.vault, clock=parts.clock, facts=facts,
                                         headroom=headroom or Headroom(), assets=assets)
        hosts = {a.alarm_host.host_id: a.id for a in config.assets
                 if a.alarm_host is not None and (assets is None or a.id in assets)}
        mqtt = config.mqtt
        self.alarm_hosts = None
        if hosts and mqtt is not None:
            topics = None
            if shard is not None:
                # Its own persistent session: the broker queues this shard's events for its next holder.
                tag = f"-{shard[0]}of{shard[1]}"
                mqtt = mqtt.model_copy(update={"client_id": mqtt.client_id[: MQTT_CLIENT_ID_MAX - len(tag)] + tag})
                topics = host_subscriptions(mqtt.topic_prefix, hosts)
            # Events stored before a restart are known as such: their redelivery is dropped.
            self.alarm_hosts = AlarmHostConsumer(
                mqtt, hosts=hosts, sink=bus, clock=parts.clock, timestamps=timestamp_policy(config),
                zones=host_zones(config), stored_events=parts.spool.recent_events(mqtt.dedup_window), topics=topics)
            parts.service.count_input("alarm_hosts" + self._suffix, self.alarm_hosts.counters)

    @property
    def names(self) -> tuple[str, str]:
        """Its loops' names, as /healthz shows them."""
        return "collector" + self._suffix, "alarm-hosts" + self._suffix

    def loops(self, supervisor: Supervisor) -> list[tuple[str, Coroutine[Any, Any, None]]]:
        scheduler = Scheduler(jobs=self.jobs, sink=self.bus, health=self.parts.health,
                              settings=self.parts.config.collector, clock=self.parts.clock)
        collector, alarm_hosts = self.names
        out = []
        if self.jobs:  # a scheduler with nothing to poll would end at once
            out.append((collector, supervisor.keep_running(collector, scheduler.run)))
        if self.alarm_hosts is not None:
            out.append((alarm_hosts, supervisor.keep_running(alarm_hosts, self.alarm_hosts.run)))
        return out

    def forget(self) -> None:
        """The shard has gone to another worker: its loops and counters leave /healthz and
        /metrics, its devices' health records leave this process."""
        self.parts.service.forget(*self.names, "alarm_hosts" + self._suffix)
        self.parts.health.forget(job.device_id for job in self.jobs)

