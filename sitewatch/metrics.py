"""Prometheus metrics, read from the records the process already keeps.

Nothing on the polling path counts anything for Prometheus: a scrape walks the device
health records, the supervisor's loop records and the buffers' states once and reports
them (a prometheus_client custom collector). Devices are summed per asset kind, not listed
one by one: 20,000 cameras would be 20,000 series per metric, and the asset pages already
say which device is down.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from sitewatch.config.models import Config
from sitewatch.domain.health import DeviceHealth
from sitewatch.supervise import LoopState, ServiceHealth


class HealthReader(Protocol):
    def all(self) -> list[DeviceHealth]: ...


class ProcessMetrics(Collector):
    """What one Sitewatch process reports at /metrics."""

    def __init__(self, *, health: HealthReader, service: ServiceHealth, kind_of: Mapping[str, str],
                 extra: Callable[[], Iterable[Metric]] | None = None) -> None:
        self._health = health
        self._service = service
        # Device id -> asset kind; a camera's separate events job ("cam-1/events") counts
        # under its camera's kind.
        self._kind_of = kind_of
        self._extra = extra

    def collect(self) -> Iterable[Metric]:
        yield from self._devices()
        yield from self._loops()
        yield from self._buffers()
        set_aside = GaugeMetricFamily("sitewatch_set_aside", "Inputs set aside as unusable (kept for a person to "
                                      "look at), by kind", labels=["kind"])
        for kind, count in self._service.set_aside().items():
            set_aside.add_metric([kind], count)
        yield set_aside
        inputs = CounterMetricFamily("sitewatch_input_events", "Counters of the pushed inputs (alarm hosts, "
                                     "paging), by input and counter", labels=["input", "counter"])
        for name, counters in self._service.inputs().items():
            for counter, value in counters.items():
                inputs.add_metric([name, counter], value)
        yield inputs
        yield from self._service.metrics()  # the stages' own (store, rules, shards)
        if self._extra is not None:
            yield from self._extra()

    def _devices(self) -> Iterable[Metric]:
        polls = CounterMetricFamily("sitewatch_polls", "Polls of devices, by asset kind and outcome",
                                    labels=["kind", "outcome"])
        errors = CounterMetricFamily("sitewatch_poll_errors", "Poll errors of devices, by asset kind and type",
                                     labels=["kind", "error"])
        states = GaugeMetricFamily("sitewatch_devices", "Polled devices by asset kind and connection state",
                                   labels=["kind", "state"])
        ok: Counter[str] = Counter()
        failed: Counter[str] = Counter()
        error_counts: Counter[tuple[str, str]] = Counter()
        state_counts: Counter[tuple[str, str]] = Counter()
        for record in self._health.all():
            kind = self._kind_of.get(record.device_id.split("/", 1)[0], "unknown")
            ok[kind] += record.polls_ok
            failed[kind] += record.polls_failed
            error_counts[(kind, "timeout")] += record.timeouts
            error_counts[(kind, "exception_response")] += record.exception_responses
            error_counts[(kind, "malformed_reply")] += record.malformed_replies
            state_counts[(kind, record.state.value)] += 1
        for kind in sorted(set(ok) | set(failed)):
            polls.add_metric([kind, "ok"], ok[kind])
            polls.add_metric([kind, "failed"], failed[kind])
        for (kind, error), count in sorted(error_counts.items()):
            errors.add_metric([kind, error], count)
        for (kind, state), count in sorted(state_counts.items()):
            states.add_metric([kind, state], count)
        return polls, errors, states

    def _loops(self) -> Iterable[Metric]:
        running = GaugeMetricFamily("sitewatch_loop_running", "1 while a supervised loop runs, 0 while it waits "
                                    "to be restarted after failing", labels=["loop"])
        restarts = CounterMetricFamily("sitewatch_loop_restarts", "Times a loop was started again", labels=["loop"])
        errors = CounterMetricFamily("sitewatch_loop_errors", "Unexpected errors in a loop", labels=["loop"])
        for name, loop in sorted(self._service.loops().items()):
            running.add_metric([name], 1 if loop.state is LoopState.RUNNING else 0)
            restarts.add_metric([name], loop.restarts)
            errors.add_metric([name], loop.errors)
        return running, restarts, errors

    def _buffers(self) -> Iterable[Metric]:
        waiting = GaugeMetricFamily("sitewatch_buffer_samples", "Samples waiting in a store-and-forward buffer",
                                    labels=["buffer"])
        capacity = GaugeMetricFamily("sitewatch_buffer_capacity_samples", "Samples a buffer holds before it "
                                     "drops the oldest", labels=["buffer"])
        moved = CounterMetricFamily("sitewatch_buffer_samples_moved", "Samples put into, replayed from and "
                                    "dropped from a buffer", labels=["buffer", "way"])
        for name, state in sorted(self._service.buffers().items()):
            waiting.add_metric([name], state.samples)
            capacity.add_metric([name], state.max_samples)
            moved.add_metric([name, "spooled"], state.spooled)
            moved.add_metric([name, "replayed"], state.replayed)
            moved.add_metric([name, "dropped"], state.dropped)
        return waiting, capacity, moved


def registry_for(collector: ProcessMetrics) -> CollectorRegistry:
    """A registry of its own: prometheus_client's global one would also export whatever
    libraries register there, and two app instances in one test process would clash."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


def exposition(config: Config, *, health: HealthReader, service: ServiceHealth) -> Callable[[], bytes]:
    """The process's Prometheus text, made per scrape, with devices counted from ``health``."""
    metrics = ProcessMetrics(health=health, service=service, kind_of={a.id: a.kind for a in config.assets})
    return functools.partial(generate_latest, registry_for(metrics))
