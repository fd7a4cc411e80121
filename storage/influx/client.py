"""HTTP to InfluxDB-protocol servers: the only module importing influxdb_client.

Two writers of ready-made line protocol, one ``write(lines)`` each:
- V2Writer: influxdb-client's write API (``/api/v2/write``), synchronous; InfluxDB 2.x/3.x,
  1.8+ and VictoriaMetrics. Batching is the caller's (storage/influx/store.py): the
  library's batching mode writes from a background thread and reports failures to a
  callback, after the caller has moved on.
- V1Writer: ``POST /write`` with httpx, for InfluxDB 1.x before 1.8 (no ``/api/v2``: 404).

Failures are translated here, once (sitewatch.storage.timeseries.TimeSeriesError is what the store
writer buffers on):
- connection refused, timeouts, 5xx and 429 after the retries, 401/403 (the server refuses
  *us*), 404 (no such bucket or database): TimeSeriesError. The samples are fine; they wait.
- 400, 413, 422 (the server refuses *this data*: a field type conflict, a point outside the
  retention, a batch too large): WriteRejected, which is not a TimeSeriesError, so the store
  writer bisects the batch to set the refused samples aside and writes the rest.

Credentials are (username, password) from the vault: an empty username means a token
(``Authorization: Token <password>``, InfluxDB 2.x/3.x); otherwise HTTP Basic (InfluxDB
1.x, VictoriaMetrics behind -httpAuth.* or a proxy, InfluxDB 2.x's v1 API).
"""

from __future__ import annotations

import gzip
import ssl
import time
from dataclasses import dataclass
from typing import Any

import httpx
import urllib3
from influxdb_client import InfluxDBClient, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException

from sitewatch.config.storage import InfluxSettings
from sitewatch.storage.timeseries import TimeSeriesError

Credentials = tuple[str, str]  # (username, password); username "" = a token

_TRANSIENT = frozenset({429, 500, 502, 503, 504})  # retried with back-off
_REFUSED_DATA = frozenset({400, 413, 422})


class WriteRejected(ValueError):
    """The server refused the data of a batch (not the connection): some sample in it is
    bad for this server. Deliberately not a TimeSeriesError (see the module docstring)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Tries per write for transient failures: the first retry at once (a dropped keep-alive
    connection is the usual cause), then waits doubling from ``backoff_s``. Short on
    purpose: a longer outage is the store-and-forward buffer's job, not a blocked flush's."""

    attempts: int = 3
    backoff_s: float = 0.25

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be >= 1, got {self.attempts}")

    def delays(self) -> list[float]:
        """Seconds to wait before each retry (attempts - 1 of them)."""
        return [0.0, *(self.backoff_s * 2**k for k in range(self.attempts - 2))][: self.attempts - 1]


DEFAULT_RETRY = RetryPolicy()


def _body(lines: str, *, gzipped: bool) -> bytes:
    # Level 1: line protocol is repetitive enough to shrink ~8x even so, at ~200 MB/s.
    return gzip.compress(lines.encode(), compresslevel=1) if gzipped else lines.encode()


def _error_for_status(status: int, message: str, url: str) -> Exception:
    if status in _REFUSED_DATA:
        return WriteRejected(status, message)
    return TimeSeriesError(f"{url}: HTTP {status}: {message}")


def _ssl_context(settings: InfluxSettings) -> ssl.SSLContext | bool:
    return ssl.create_default_context(cafile=str(settings.ca_file)) if settings.ca_file else True


def http_client(settings: InfluxSettings, credentials: Credentials | None) -> httpx.Client:
    """An httpx client for one server (readers and the v1 writer): its base URL, timeout,
    CA and authentication."""
    headers: dict[str, str] = {}
    auth = None
    if credentials is not None:
        username, password = credentials
        if username:
            auth = httpx.BasicAuth(username, password)
        else:
            headers["Authorization"] = f"Token {password}"
    return httpx.Client(base_url=settings.url, timeout=settings.timeout_s, verify=_ssl_context(settings),
                        auth=auth, headers=headers)


def post(http: httpx.Client, path: str, data: dict[str, object]) -> httpx.Response:
    """A read request: any failure (transport, closed client, HTTP error) is TimeSeriesError."""
    try:
        response = http.post(path, data=data)
    except (httpx.HTTPError, RuntimeError) as exc:  # RuntimeError: the client was closed
        raise TimeSeriesError(f"{http.base_url}{path}: {exc}") from exc
    if response.status_code >= 400:
        raise TimeSeriesError(f"{http.base_url}{path}: HTTP {response.status_code}: {response.text[:500]}")
    return response


def post_json(http: httpx.Client, path: str, data: dict[str, object]) -> Any:
    """post() and its JSON body; a body that is not JSON (a proxy's page) is TimeSeriesError too."""
    response = post(http, path, data)
    try:
        return response.json()
    except ValueError as exc:
        raise TimeSeriesError(f"{http.base_url}{path}: not JSON: {response.text[:200]!r}") from exc


class V2Writer:
    """Line protocol through influxdb-client's write API at millisecond precision."""

    def __init__(self, settings: InfluxSettings, credentials: Credentials | None, *,
                 retry: RetryPolicy = DEFAULT_RETRY) -> None:
        token, basic = None, False
        if credentials is not None:
            username, password = credentials
            # influxdb-client sends "user:password" base64-encoded when auth_basic is set.
            token, basic = (f"{username}:{password}", True) if username else (password, False)
        # The library's own per-request retry (urllib3): connection errors and 429/5xx.
        # WritesRetry is not used: its deadline is fixed when it is built, so as the client's
        # default it would stop retrying for good max_retry_time after start-up.
        retries = urllib3.Retry(total=retry.attempts - 1, read=0, backoff_factor=retry.backoff_s / 2,
                                status_forcelist=_TRANSIENT, allowed_methods=None, raise_on_status=False)
        self._url = settings.url
        self._bucket = settings.bucket
        self._client = InfluxDBClient(
            url=settings.url, token=token, auth_basic=basic, org=settings.org,  # "": VictoriaMetrics ignores it
            timeout=round(settings.timeout_s * 1000), ssl_ca_cert=str(settings.ca_file) if settings.ca_file else None,
            retries=retries,
        )
        # gzip is ours, not the library's enable_gzip: that compresses at level 9, ~10x the CPU
        # of level 1 for a body ~20 % smaller (187k lines, 18 MB: 0.73 s against 0.08 s, 1.76
        # against 2.15 MB). This client only ever writes, so the header can be a default one.
        self._gzip = settings.gzip
        if self._gzip:
            self._client.api_client.set_default_header("Content-Encoding", "gzip")
        self._api = self._client.write_api(write_options=SYNCHRONOUS)

    def write(self, lines: str) -> None:
        try:
            # One record of bytes, sent as it is: a list of lines costs ~1 us a line in the
            # library's serializer.
            self._api.write(bucket=self._bucket, record=_body(lines, gzipped=self._gzip),
                            write_precision=WritePrecision.MS)
        except ApiException as exc:
            if not exc.status:  # the library's wrapper for TLS and proxy failures
                raise TimeSeriesError(f"{self._url}: {exc.reason}") from exc
            raise _error_for_status(exc.status, exc.message or str(exc.reason), self._url) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise TimeSeriesError(f"{self._url}: {exc}") from exc

    def close(self) -> None:
        self._api.close()
        self._client.close()


class V1Writer:
    """Line protocol to InfluxDB 1.x's ``/write?db=&precision=ms`` with httpx."""

    def __init__(self, settings: InfluxSettings, credentials: Credentials | None, *,
                 retry: RetryPolicy = DEFAULT_RETRY) -> None:
        self._http = http_client(settings, credentials)
        self._params = {"db": settings.database, "precision": "ms"}
        self._gzip = settings.gzip
        self._retry = retry

    def write(self, lines: str) -> None:
        body = _body(lines, gzipped=self._gzip)
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        if self._gzip:
            headers["Content-Encoding"] = "gzip"
        where = f"{self._http.base_url}/write"
        failure = ""
        for delay in [*self._retry.delays(), None]:
            try:
                response = self._http.post("/write", params=self._params, content=body, headers=headers)
            except httpx.TransportError as exc:
                failure = f"{type(exc).__name__}: {exc}"
            except RuntimeError as exc:  # httpx: the client was closed
                raise TimeSeriesError(f"{where}: {exc}") from exc
            else:
                if response.status_code < 300:
                    return
                failure = f"HTTP {response.status_code}: {response.text[:500]}"
                if response.status_code not in _TRANSIENT:
                    raise _error_for_status(response.status_code, response.text[:500], where)
            if delay is None:
                break
            time.sleep(delay)  # a worker thread's flush; the retries are short (RetryPolicy)
        raise TimeSeriesError(f"{where}: {failure}")

    def close(self) -> None:
        self._http.close()
