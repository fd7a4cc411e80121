"""open_timeseries: the configured backend, with the server's credentials from the vault."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from sitewatch.config.storage import StorageSettings
from sitewatch.domain.samples import Sample
from sitewatch.domain.time import UTC
from sitewatch.storage.duckdb_store import DuckDBStore
from sitewatch.storage.influx import InfluxStore
from sitewatch.storage.open import open_timeseries
from sitewatch.storage.timeseries import TimeSeriesError
from tests.servers import VictoriaMetrics, stub_http
from tests.storage.backends import measurement_for

T0 = datetime(2026, 3, 1, tzinfo=UTC)
SAMPLE = Sample("rs-1", "outlet_kpa", T0, 2.5, "kPa")
# latest() looks back the raw retention: far enough for data of March 2026.
RETENTION = {"raw_days": 3650, "minute_days": 3650, "hour_days": 3650}


def influx_settings(url: str, tmp_path: Path, **influx: object) -> StorageSettings:
    return StorageSettings(timeseries="influx", retention=RETENTION,
                           influx={"url": url, "reader": "victoriametrics", "measurement": measurement_for(tmp_path),
                                   **influx})


def test_duckdb_is_the_file_under_the_data_folder(tmp_path: Path):
    store = open_timeseries(StorageSettings(timeseries_path="ts.duckdb"), data_dir=tmp_path, site_of={}, secret=None)
    assert isinstance(store, DuckDBStore)
    store.write([SAMPLE])
    store.close()
    assert (tmp_path / "ts.duckdb").exists()


def test_the_servers_credentials_come_from_the_vault_and_a_wrong_one_is_an_outage(tmp_path: Path):
    asked: list[str] = []

    def vault(right: bool):
        def secret(name: str) -> tuple[str, str]:
            asked.append(name)
            return ("sitewatch", "s3cret" if right else "wrong")
        return secret

    with VictoriaMetrics(tmp_path / "vm", basic_auth=("sitewatch", "s3cret")) as server:
        settings = influx_settings(server.url, tmp_path, credential="tsdb")
        store = open_timeseries(settings, data_dir=tmp_path, site_of={"rs-1": "north"}, secret=vault(True))
        assert isinstance(store, InfluxStore) and asked == ["tsdb"]
        store.write([SAMPLE])
        server.force_flush()
        assert store.latest() == [SAMPLE]
        store.close()

        refused = open_timeseries(settings, data_dir=tmp_path, site_of={}, secret=vault(False))
        # 401 is the server refusing us, not the samples: the buffer keeps them (never set aside).
        with pytest.raises(TimeSeriesError, match="401"):
            refused.write([SAMPLE])
        with pytest.raises(TimeSeriesError, match="401"):
            refused.aggregate(start=T0, end=T0 + timedelta(hours=1))
        refused.close()


def test_a_credential_without_a_vault_is_refused_at_open(tmp_path: Path):
    with pytest.raises(ValueError, match="'tsdb' needs the vault"):
        open_timeseries(influx_settings("http://127.0.0.1:1", tmp_path, credential="tsdb"), data_dir=tmp_path,
                        site_of={}, secret=None)


class _Recorder(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.seen.append((self.path.split("?")[0], self.headers.get("Authorization")))  # type: ignore[attr-defined]
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[ThreadingHTTPServer]:
    with stub_http(_Recorder) as server:
        server.seen = []  # type: ignore[attr-defined]
        yield server


@pytest.mark.parametrize(("write_api", "path"), [("v2", "/api/v2/write"), ("v1", "/write")])
def test_an_empty_username_makes_the_password_a_token(recorder: ThreadingHTTPServer, write_api: str, path: str,
                                                     tmp_path: Path):
    url = f"http://127.0.0.1:{recorder.server_address[1]}"
    store = open_timeseries(influx_settings(url, tmp_path, credential="tsdb", write_api=write_api),
                            data_dir=tmp_path, site_of={}, secret=lambda _name: ("", "tok-123"))
    store.write([SAMPLE])
    store.close()
    assert recorder.seen == [(path, "Token tok-123")]  # type: ignore[attr-defined]
