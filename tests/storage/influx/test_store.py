"""What the InfluxDB-protocol store adds to the contract: errors typed for the store writer
(down = TimeSeriesError, refused data = bisected and set aside), retries, re-sent batches
stored once, tags that need escaping, on the real servers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from sitewatch.domain.samples import Quality, Sample
from sitewatch.domain.time import UTC
from sitewatch.storage.influx import WriteRejected
from sitewatch.storage.spool import SampleSpool
from sitewatch.storage.timeseries import TimeSeriesError, TimeSeriesStore
from sitewatch.store_writer import StoreWriter
from tests.servers import InfluxDB, VictoriaMetrics, free_port, stub_http
from tests.storage.backends import (
    FlushingStore,
    influxql_settings,
    open_influx,
    victoria_settings,
)

T0 = datetime(2026, 3, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


def samples(n: int, *, asset: str = "rs-1", start: datetime = T0) -> list[Sample]:
    return [Sample(asset, "outlet_kpa", start + timedelta(seconds=k), 2.0 + k / 100, "kPa") for k in range(n)]


@pytest.fixture(params=["victoriametrics", "influxql"])
def server_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TimeSeriesStore]:
    if request.param == "victoriametrics":
        server: VictoriaMetrics = request.getfixturevalue("victoria_metrics")
        store: TimeSeriesStore = FlushingStore(open_influx(victoria_settings(server.url, tmp_path)),
                                               server.force_flush)
    else:
        store = open_influx(influxql_settings(request.getfixturevalue("influxdb").url, tmp_path))
    yield store
    store.close()


def test_a_batch_sent_twice_is_stored_once(server_store: TimeSeriesStore):
    # The store-and-forward buffer re-sends what it cannot know was stored.
    batch = samples(50) + [Sample("rs-1", "outlet_kpa", T0 + HOUR, 2.6, "kPa", Quality.STALE)]
    server_store.write(batch)
    server_store.write(batch)
    (stats,) = server_store.aggregate(start=T0, end=T0 + 2 * HOUR)
    assert stats.count == 50, "a re-sent sample must count once (VictoriaMetrics: -dedup.minScrapeInterval=1ms)"
    assert len(server_store.query(asset_id="rs-1", start=T0, end=T0 + 2 * HOUR)) == 51


def test_tags_that_need_escaping_come_back_as_written(server_store: TimeSeriesStore):
    odd = Sample("rs-1", "温度_c", T0, 21.5, "deg C, x=1")
    server_store.write([odd])
    assert server_store.query(asset_id="rs-1", start=T0, end=T0 + HOUR) == [odd]
    assert server_store.latest() == [odd]
    assert [(s.channel, s.unit) for s in server_store.aggregate(start=T0, end=T0 + HOUR)] == [("温度_c", "deg C, x=1")]


def test_a_sample_the_server_refuses_is_set_aside_and_the_rest_are_written(influxdb: InfluxDB, tmp_path: Path):
    settings = influxql_settings(influxdb.url, tmp_path)
    # Another writer's integer "value" in the shard of January 2020: a float there is a field
    # type conflict, which InfluxDB refuses with 400 (and writes the rest of the request).
    httpx.post(f"{influxdb.url}/write", params={"db": "sitewatch", "precision": "ms"},
               content=f"{settings.measurement},asset=other value=1i 1577836800000").raise_for_status()
    store = open_influx(settings)
    good = samples(20)
    batch = good[:7] + [Sample("rs-1", "outlet_kpa", datetime(2020, 1, 1, 0, 0, 1, tzinfo=UTC), 9.9, "kPa")] + good[7:]
    with pytest.raises(WriteRejected, match="HTTP 400.*field type conflict"):
        store.write(batch)
    spool = SampleSpool(tmp_path / "buffer.sqlite3", max_samples=1_000)
    writer = StoreWriter(store, spool)
    writer.flush(batch, last=True)  # the last flush bisects at once
    assert (writer.samples_written, writer.samples_set_aside, writer.buffered) == (20, 1, 0)
    assert store.query(asset_id="rs-1", start=T0, end=T0 + HOUR) == good
    spool.close()
    store.close()


def test_a_stopped_server_is_a_time_series_error_and_a_restarted_one_has_it_all(tmp_path: Path):
    with VictoriaMetrics(tmp_path / "vm") as server:
        store = FlushingStore(open_influx(victoria_settings(server.url, tmp_path)), server.force_flush)
        first, second = samples(10), samples(10, start=T0 + HOUR)
        store.write(first)
        server.stop()
        began = time.monotonic()
        with pytest.raises(TimeSeriesError, match="Connection refused|Max retries"):
            store.write(second)
        assert time.monotonic() - began < 2, "a refused connection must fail fast: the buffer takes over"
        with pytest.raises(TimeSeriesError):
            store.latest()
        server.start()  # same port, same data folder
        store.write(second)
        assert store.query(asset_id="rs-1", start=T0, end=T0 + 2 * HOUR) == first + second
        store.close()


@pytest.mark.parametrize("settings", [victoria_settings, influxql_settings], ids=["v2-write", "v1-write"])
def test_nobody_listening_is_a_time_series_error_for_writes_and_reads(settings, tmp_path: Path):
    store = open_influx(settings(f"http://127.0.0.1:{free_port()}", tmp_path))
    with pytest.raises(TimeSeriesError):
        store.write(samples(1))
    with pytest.raises(TimeSeriesError):
        store.aggregate(start=T0, end=T0 + HOUR)
    store.close()


class _Scripted(BaseHTTPRequestHandler):
    """Answers each write with the next status of the server's script (the last one repeats)."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        server = self.server
        status = server.script[min(server.requests, len(server.script) - 1)]  # type: ignore[attr-defined]
        server.requests += 1  # type: ignore[attr-defined]
        self.send_response(status)
        body = b'{"code":"invalid","message":"scripted refusal"}' if status >= 300 else b""
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def scripted() -> Iterator[ThreadingHTTPServer]:
    with stub_http(_Scripted) as server:
        server.script, server.requests = [204], 0  # type: ignore[attr-defined]
        yield server


@pytest.mark.parametrize("settings", [victoria_settings, influxql_settings], ids=["v2-write", "v1-write"])
@pytest.mark.parametrize(("script", "outcome", "requests"), [
    ([503, 204], None, 2),  # a passing glitch: retried, written
    ([503], TimeSeriesError, 2),  # still failing after the retries (2 tries in the tests' policy)
    ([401], TimeSeriesError, 1),  # the server refuses us, not the data: buffered, never set aside
    ([404], TimeSeriesError, 1),  # no such bucket or database: likewise
    ([400], WriteRejected, 1),  # the data is refused: the store writer bisects
])
def test_each_answer_of_the_server_becomes_the_right_outcome(settings, scripted: ThreadingHTTPServer, script,
                                                            outcome, requests, tmp_path: Path):
    scripted.script = script  # type: ignore[attr-defined]
    store = open_influx(settings(f"http://127.0.0.1:{scripted.server_address[1]}", tmp_path))
    if outcome is None:
        assert store.write(samples(3)) == 3
    else:
        with pytest.raises(outcome, match="401|404|400|503"):
            store.write(samples(3))
    assert scripted.requests == requests  # type: ignore[attr-defined]
    store.close()
