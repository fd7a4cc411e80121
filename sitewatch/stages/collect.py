"""The collect stage: the scheduler polling Modbus stations, gateways and cameras, and the
alarm-host consumer, both publishing onto the process's sample bus."""

from __future__ import annotations

from collections.abc import Coroutine, Sequence
from typing import Any

from collector.mqtt.consumer import AlarmHostConsumer, host_zones, timestamp_policy
from collector.onvif.client import OnvifClients
from collector.scheduler import PollJob, Scheduler
from sitewatch.bus import SampleBus
from sitewatch.components import Components
from sitewatch.jobs import ReportedFacts, camera_jobs, modbus_jobs
from sitewatch.supervise import Supervisor


class CollectStage:
    def __init__(self, parts: Components, bus: SampleBus, *, jobs: Sequence[PollJob] | None = None) -> None:
        self.parts = parts
        self.bus = bus
        self._onvif: OnvifClients | None = None
        if jobs is not None:
            self.jobs = list(jobs)
        else:
            facts = ReportedFacts(parts.sessions, parts.clock)  # what devices say of themselves
            self.jobs = modbus_jobs(parts.config, facts=facts)
            if any(a.onvif is not None for a in parts.config.assets):
                # One set of parsed WSDLs and HTTP pools for every camera of the process.
                self._onvif = OnvifClients(clock=parts.clock)
                self.jobs += camera_jobs(parts.config, clients=self._onvif, vault=parts.vault, clock=parts.clock,
                                         facts=facts)
        hosts = {a.alarm_host.host_id: a.id for a in parts.config.assets if a.alarm_host is not None}
        mqtt = parts.config.mqtt
        self.alarm_hosts = (
            # Events stored before a restart are known as such: their redelivery is dropped.
            AlarmHostConsumer(mqtt, hosts=hosts, sink=bus, clock=parts.clock,
                              timestamps=timestamp_policy(parts.config), zones=host_zones(parts.config),
                              stored_events=parts.spool.recent_events(mqtt.dedup_window))
            if hosts and mqtt is not None
            else None
        )
        if self.alarm_hosts is not None:
            parts.service.count_input("alarm_hosts", self.alarm_hosts.counters)

    def loops(self, supervisor: Supervisor) -> list[tuple[str, Coroutine[Any, Any, None]]]:
        scheduler = Scheduler(jobs=self.jobs, sink=self.bus, health=self.parts.health,
                              settings=self.parts.config.collector, clock=self.parts.clock)
        out = []
        if self.jobs:  # a scheduler with nothing to poll would end at once
            out.append(("collector", supervisor.keep_running("collector", scheduler.run)))
        if self.alarm_hosts is not None:
            out.append(("alarm-hosts", supervisor.keep_running("alarm-hosts", self.alarm_hosts.run)))
        return out

    async def aclose(self) -> None:
        if self._onvif is not None:
            await self._onvif.aclose()
