"""HTTP for every camera of the process: a FIFO of requests, a pool per camera, capped replies.

Used by ``client.py`` (zeep's transport and the snapshot GET go through one
``httpx.AsyncClient`` over ``PerCameraTransport``); nothing here knows ONVIF. README:
Connections, Bounds, HTTPS cameras.
"""

from __future__ import annotations

import asyncio
import contextvars
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from sitewatch.config.tls import load_ca

# Every camera reply is capped while it streams in, so a camera sending without end costs at
# most the cap (README: Hostile replies). SOAP: the largest real reply is an NVR's GetProfiles,
# some 100 KB per channel. Snapshots: the endpoint's max_snapshot_bytes, given per request.
SOAP_REPLY_MAX_BYTES = 2 << 20
REPLY_CAP = "sitewatch.max_reply_bytes"  # the request extension giving a request its own cap, bytes


@dataclass(frozen=True, slots=True)
class Trust:
    """Whom an https request trusts: the certificates of ``ca_file`` (None: the system's CA
    bundle), and whether the certificate must also name the host dialled."""

    ca_file: Path | None = None
    check_hostname: bool = True


# The calling task's Trust, set by CameraClient around each request (None: Trust(), the system's
# bundle): zeep's post, which sends the SOAP calls, takes no request extensions, and a context
# variable reaches through it.
TRUST: contextvars.ContextVar[Trust | None] = contextvars.ContextVar("sitewatch_tls_trust", default=None)


class TlsRefused(Exception):
    """No TLS session with the server: its certificate is not trusted or is for another name,
    the handshake failed otherwise, or the trusted certificates cannot be loaded; the message
    says which, and what in the camera's trust to change. CameraClient makes it a TlsFailed."""


class ReplyTooLarge(Exception):
    """A reply longer than its cap; the connection is closed unread (CameraClient makes it a DecodeError)."""

    def __init__(self, *, limit: int, announced: int | None) -> None:
        super().__init__(f"reply over {limit} bytes")
        self.limit = limit
        self.announced = announced  # its Content-Length, when that already said so

    def describe(self, what: str) -> str:
        if self.announced is not None:
            return f"{what} of {_size(self.announced)} (Content-Length) larger than {_size(self.limit)}: refused unread"
        return f"{what} larger than {_size(self.limit)}: refused after {_size(self.limit)}"


def _size(n: int) -> str:
    return f"{n / (1 << 20):.4g} MiB" if n >= 1 << 20 else f"{n / 1024:.4g} KiB"


# OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_EMAIL_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH.
_NAME_MISMATCH = frozenset({62, 63, 64})


def _ssl_error(exc: BaseException) -> ssl.SSLError | None:
    """The TLS error under httpx's ConnectError (httpx's error wraps httpcore's, which wraps it)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _announced_length(headers: httpx.Headers) -> int | None:
    try:
        return int(headers["Content-Length"])
    except (KeyError, ValueError):
        return None


# Requests wait their turn in one plain FIFO semaphore shared by every camera of the process.
# Measured (bench/bench_fleet.py, 2,000 cameras): once requests queue inside httpcore's pool,
# assigning them to connections costs the square of the queue (95 % of the event loop's time at
# 10,000 cameras) and starves everything else. 200 in flight is ~2,000 requests a second on a LAN.
MAX_IN_FLIGHT = 200
# Then each camera (scheme, host, port) has a pool of its own: httpcore 1.0.9 walks every pooled
# connection at each request and release (encode/httpcore#1035), so one pool for the process
# cost 19 of a poll's 30 ms of CPU at 100 cameras, growing with the fleet (deploy/SIZING.md).
# A camera makes one call at a time, plus its events job; an NVR's channels share its host:port.
_CONNECTIONS_PER_CAMERA = 16
# A camera's pool is closed once unused this long: between polls (60 s), not between the calls
# of one poll nor, as when idle connections were capped in the shared pool, between those of a
# first-poll burst (which then reconnected for every call). Under the 5 s after which many
# cameras' web servers (and uvicorn, the simulator's) drop an idle connection: reusing one just
# as the camera closes it fails the call (ReadError, seen at 5 s). It also bounds the pools (and
# sockets) of cameras not polled lately, and of one sending ever new addresses.
_IDLE_POOL_S = 4.0
_SWEEP_S = 1.0


class _CameraPool:
    __slots__ = ("active", "last_used", "transport")

    def __init__(self, now: float, tls: ssl.SSLContext) -> None:
        limits = httpx.Limits(max_connections=_CONNECTIONS_PER_CAMERA, keepalive_expiry=_IDLE_POOL_S)
        self.transport = httpx.AsyncHTTPTransport(verify=tls, limits=limits)
        self.active = 0  # requests sent or waiting for a slot, and responses whose body is not yet read
        self.last_used = now


class _ReleasingStream(httpx.AsyncByteStream):
    """A response body, cut at ``limit`` bytes, that marks its camera's pool unused again once httpx closes it.

    Raising mid-body makes httpx close the response, and httpcore then drops the connection
    (its reply is unfinished) instead of reading the rest.
    """

    def __init__(self, stream: httpx.AsyncByteStream, pool: _CameraPool, limit: int) -> None:
        self._stream = stream
        self._pool = pool
        self._limit = limit

    async def __aiter__(self) -> AsyncIterator[bytes]:
        received = 0
        async for chunk in self._stream:
            received += len(chunk)
            if received > self._limit:
                raise ReplyTooLarge(limit=self._limit, announced=None)
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            self._pool.active -= 1
            self._pool.last_used = time.monotonic()


class PerCameraTransport(httpx.AsyncBaseTransport):
    """At most MAX_IN_FLIGHT requests sent at once, first come, first served; one pool per camera
    (and per Trust, for https); one TLS context per Trust."""

    def __init__(self) -> None:
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        self._pools: dict[tuple[bytes, bytes, int | None, Trust | None], _CameraPool] = {}
        self._swept_at = time.monotonic()
        # Shared by every pool of the same Trust: a context loads its CA file or the bundle, 54 ms
        # of CPU each (measured), so one per pool, or per poll, would cost more than the polls.
        self._contexts: dict[Trust, ssl.SSLContext] = {}
        self.contexts_made = 0  # for tests and the benchmark

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        now = time.monotonic()
        if now - self._swept_at >= _SWEEP_S:
            await self._close_idle(now)
        https = request.url.scheme == "https"
        trust = (TRUST.get() or Trust()) if https else None  # plain http pools are shared whatever the trust
        key = (request.url.raw_scheme, request.url.raw_host, request.url.port, trust)
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = _CameraPool(now, self._context(trust or Trust()))
        limit = request.extensions.get(REPLY_CAP, SOAP_REPLY_MAX_BYTES)
        pool.active += 1
        try:
            async with self._slots:
                try:
                    response = await pool.transport.handle_async_request(request)
                except httpx.ConnectError as exc:
                    refused = _ssl_error(exc) if trust is not None else None
                    if refused is None:
                        raise
                    raise await self._refusal(refused, request.url, trust) from exc
            announced = _announced_length(response.headers)
            if announced is not None and announced > limit:
                await response.aclose()  # unread: the connection is dropped, not drained
                raise ReplyTooLarge(limit=limit, announced=announced)
        except BaseException:
            pool.active -= 1
            pool.last_used = time.monotonic()
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        return httpx.Response(response.status_code, headers=response.headers,
                              stream=_ReleasingStream(response.stream, pool, limit), extensions=response.extensions)

    def _context(self, trust: Trust) -> ssl.SSLContext:
        """The client context for ``trust``, made at its first request; TlsRefused if its
        ca_file (checked at config load) can no longer be read."""
        context = self._contexts.get(trust)
        if context is None:
            if trust.ca_file is None:
                context = httpx.create_ssl_context()  # the public CA bundle, as httpx's own
            else:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the chain and the name
                try:
                    load_ca(context, trust.ca_file)
                except (OSError, ValueError) as exc:
                    raise TlsRefused(f"cannot load the certificates to trust: {exc}") from exc
                # A certificate of the file is a trust anchor whether or not it is a CA's: a
                # camera's own self-signed certificate, or a leaf, is trusted as it is.
                context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
            context.check_hostname = trust.check_hostname  # the chain is verified either way
            self._contexts[trust] = context
            self.contexts_made += 1
        return context

    async def _refusal(self, error: ssl.SSLError, url: httpx.URL, trust: Trust) -> TlsRefused:
        """What a failed handshake with ``url`` means, in words: whose certificate, which names,
        and what in ``trust`` it came from."""
        if not isinstance(error, ssl.SSLCertVerificationError):
            hint = " (does this port speak https?)" if error.reason == "WRONG_VERSION_NUMBER" else ""
            return TlsRefused(f"TLS handshake failed: {error.reason or error}{hint}")
        if error.verify_code not in _NAME_MISMATCH:
            trusted = f"ca_file = {str(trust.ca_file)!r}" if trust.ca_file else "the system's CA bundle: no ca_file set"
            return TlsRefused(f"certificate not trusted: {error.verify_message} (trusting {trusted})")
        names = await self._names_in_certificate(url, trust)
        return TlsRefused(f"certificate is for {names}, not {url.host} "
                          "(address the camera by a name its certificate carries, or set check_hostname = false)")

    async def _names_in_certificate(self, url: httpx.URL, trust: Trust) -> str:
        """The names of the certificate ``url``'s server shows, read from a second handshake
        that checks the chain only: OpenSSL ends the first one without handing the certificate
        over. Nothing is sent on that connection."""
        context = self._context(Trust(trust.ca_file, check_hostname=False))
        try:
            _, writer = await asyncio.open_connection(url.host, url.port or 443, ssl=context, server_hostname=url.host)
        except (OSError, ssl.SSLError):
            return "a name we could not read (the second handshake failed)"
        certificate = writer.get_extra_info("peercert") or {}
        writer.transport.abort()  # no close_notify exchange to wait for
        names = [value for _, value in certificate.get("subjectAltName", ())]
        names += [value for entry in certificate.get("subject", ()) for key, value in entry if key == "commonName"]
        return ", ".join(dict.fromkeys(names)) or "no name at all"

    async def _close_idle(self, now: float) -> None:
        self._swept_at = now
        idle = [key for key, pool in self._pools.items() if not pool.active and now - pool.last_used > _IDLE_POOL_S]
        # All out of the table before the first await: a request arriving meanwhile makes a new pool.
        closing = [self._pools.pop(key) for key in idle]
        for pool in closing:
            await pool.transport.aclose()

    async def aclose(self) -> None:
        pools, self._pools = self._pools, {}
        for pool in pools.values():
            await pool.transport.aclose()
