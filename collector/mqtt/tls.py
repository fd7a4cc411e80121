"""The TLS side of the broker connection: the context paho connects with, and its failures as
``sitewatch.collector.errors`` errors.

paho reports a failed TLS connection without its reason: a handshake error reaches
``on_connect_fail`` with no argument, and with TLS 1.3 a broker refusing our certificate
(or its absence) says so in an alert read *after* the handshake, which paho logs and turns
into a bare "connection lost". The reason is taken where it happens instead: the context's
sockets (``SSLContext.sslsocket_class``, a documented hook) hand every TLS error to the
client before paho sees it.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Any

from sitewatch.collector.errors import AuthFailed, CollectorError, DeviceUnreachable
from sitewatch.collector.mqtt.config import MqttSettings
from sitewatch.config.tls import load_ca, load_pair

# OpenSSL's reasons for an alert from a broker that will not take our certificate (TLS 1.2
# sends them during the handshake, 1.3 after it).
_CERTIFICATE_REFUSED = frozenset({
    "TLSV13_ALERT_CERTIFICATE_REQUIRED", "SSLV3_ALERT_BAD_CERTIFICATE", "TLSV1_ALERT_UNKNOWN_CA",
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN", "SSLV3_ALERT_CERTIFICATE_EXPIRED", "SSLV3_ALERT_CERTIFICATE_REVOKED",
    "SSLV3_ALERT_HANDSHAKE_FAILURE", "TLSV1_ALERT_ACCESS_DENIED",
})


class _BrokerContext(ssl.SSLContext):
    """Checks the broker's certificate for ``server_name`` rather than the address dialled."""

    server_name: str | None = None

    def wrap_socket(self, sock: Any, *args: Any, server_hostname: str | None = None, **kwargs: Any) -> ssl.SSLSocket:
        return super().wrap_socket(sock, *args, server_hostname=self.server_name or server_hostname, **kwargs)


def broker_context(settings: MqttSettings, on_error: Callable[[ssl.SSLError], None]) -> ssl.SSLContext:
    """A client context for ``settings`` (which must name ``tls_ca_file``); ``on_error`` gets
    each TLS error of its connections, in paho's thread, before paho handles it."""
    assert settings.tls_ca_file is not None
    context = _BrokerContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the certificate and the name
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.server_name = settings.tls_server_name
    load_ca(context, settings.tls_ca_file)
    if settings.tls_cert_file is not None and settings.tls_key_file is not None:
        load_pair(context, settings.tls_cert_file, settings.tls_key_file)
    context.sslsocket_class = _reporting_socket(on_error)
    return context


def tls_failure(exc: ssl.SSLError, *, where: str, settings: MqttSettings) -> CollectorError:
    """What a TLS error means for the operator: whose certificate was refused, and by whom."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return AuthFailed(device_id=where, where=f"tls_ca_file={settings.tls_ca_file}",
                          message=f"TLS: the broker's certificate is not trusted: {exc.verify_message}")
    if exc.reason in _CERTIFICATE_REFUSED:
        ours = f"tls_cert_file={settings.tls_cert_file}" if settings.tls_cert_file else "no tls_cert_file configured"
        return AuthFailed(device_id=where, where=ours,
                          message=f"TLS: the broker refused our client certificate ({exc.reason})")
    return DeviceUnreachable(device_id=where, message=f"TLS: {exc.reason or exc}")


def _reporting_socket(on_error: Callable[[ssl.SSLError], None]) -> type[ssl.SSLSocket]:
    class ReportingSocket(ssl.SSLSocket):
        def do_handshake(self, *args: Any, **kwargs: Any) -> None:
            try:
                super().do_handshake(*args, **kwargs)
            except ssl.SSLError as exc:
                on_error(exc)
                raise

        def recv(self, *args: Any, **kwargs: Any) -> bytes:
            try:
                return super().recv(*args, **kwargs)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                raise  # non-blocking socket, nothing to read yet: not a failure
            except ssl.SSLError as exc:
                on_error(exc)
                raise

    return ReportingSocket
