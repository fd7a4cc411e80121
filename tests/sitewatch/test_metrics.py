"""/metrics content: read from the health registry, the supervisor's loops and the buffers,
summed per asset kind, parsed back with prometheus_client's own text parser."""

from __future__ import annotations

from datetime import datetime

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from sitewatch.collector.errors import DeviceTimeout
from sitewatch.collector.health import HealthRegistry
from sitewatch.domain.time import UTC
from sitewatch.metrics import ProcessMetrics, registry_for
from sitewatch.supervise import BufferState, LoopState, ServiceHealth

NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_polls_devices_loops_and_buffers_are_reported_per_kind() -> None:
    health = HealthRegistry(offline_after_failures=2)
    for device in ("rs-1", "rs-2", "cam-1", "cam-1/events"):
        health.register(device)
    health.record_success("rs-1", at=NOW)
    health.record_success("rs-1", at=NOW)
    health.record_success("rs-2", at=NOW)
    for _ in range(2):
        health.record_failure("cam-1", at=NOW, error=DeviceTimeout(device_id="cam-1", message="no reply"))
    health.record_success("cam-1/events", at=NOW)
    service = ServiceHealth()
    service.update("rules", errors=3, restarts=1, state=LoopState.RESTARTING)
    service.update("store-writer")
    service.watch_buffer("store", lambda: BufferState(samples=120, max_samples=1000, warn_at=800, spooled=500,
                                                      replayed=380, dropped=0))
    service.count_set_aside("samples", lambda: 2)
    service.count_input("alarm_hosts", lambda: {"received": 40, "rejected": 1})
    metrics = ProcessMetrics(health=health, service=service,
                             kind_of={"rs-1": "regulator_station", "rs-2": "regulator_station", "cam-1": "camera"})
    got = _samples(generate_latest(registry_for(metrics)).decode())

    assert got[("sitewatch_polls_total", (("kind", "regulator_station"), ("outcome", "ok")))] == 3
    assert got[("sitewatch_polls_total", (("kind", "camera"), ("outcome", "failed")))] == 2
    assert got[("sitewatch_polls_total", (("kind", "camera"), ("outcome", "ok")))] == 1  # its events job
    assert got[("sitewatch_poll_errors_total", (("error", "timeout"), ("kind", "camera")))] == 2
    assert got[("sitewatch_devices", (("kind", "camera"), ("state", "offline")))] == 1
    assert got[("sitewatch_devices", (("kind", "regulator_station"), ("state", "online")))] == 2
    assert got[("sitewatch_loop_running", (("loop", "rules"),))] == 0
    assert got[("sitewatch_loop_running", (("loop", "store-writer"),))] == 1
    assert got[("sitewatch_loop_errors_total", (("loop", "rules"),))] == 3
    assert got[("sitewatch_buffer_samples", (("buffer", "store"),))] == 120
    assert got[("sitewatch_buffer_samples_moved_total", (("buffer", "store"), ("way", "replayed")))] == 380
    assert got[("sitewatch_set_aside", (("kind", "samples"),))] == 2
    assert got[("sitewatch_input_events_total", (("counter", "rejected"), ("input", "alarm_hosts")))] == 1
    # One series per kind, never one per device.
    assert not any(("device", d) in labels for _, labels in got for d in ("rs-1", "cam-1"))


def test_a_scrape_reads_the_records_as_they_are_now() -> None:
    health = HealthRegistry(offline_after_failures=3)
    health.register("rs-1")
    registry = registry_for(ProcessMetrics(health=health, service=ServiceHealth(), kind_of={"rs-1": "regulator_box"}))
    key = ("sitewatch_polls_total", (("kind", "regulator_box"), ("outcome", "ok")))
    assert _samples(generate_latest(registry).decode())[key] == 0
    health.record_success("rs-1", at=NOW)
    assert _samples(generate_latest(registry).decode())[key] == 1
