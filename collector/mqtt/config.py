"""How the collector reaches the MQTT broker its alarm hosts publish to."""

from __future__ import annotations

import os
import ssl

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, model_validator

from sitewatch.config.secrets import EnvSecretName
from sitewatch.config.tls import PrivateKeyFile, ReadableFile, both_or_neither, load_ca, load_pair

DEFAULT_TOPIC_PREFIX = "sitewatch/alarmhost"


class MqttSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    host: str
    port: int = Field(default=1883, ge=1, le=65535)
    # Stable across restarts: the broker keeps our persistent session (subscriptions and
    # QoS 1 messages queued while we were away) under this id.
    client_id: str = Field(min_length=1, max_length=23, pattern=r"^[A-Za-z0-9_-]+$")
    topic_prefix: str = Field(default=DEFAULT_TOPIC_PREFIX, pattern=r"^[A-Za-z0-9_/-]+[A-Za-z0-9_-]$")
    username: str | None = None
    # The environment variable holding the password (never the password: config/secrets.py).
    password_env: EnvSecretName | None = None
    # Set = TLS (1.2 or later), the broker's certificate checked against this CA bundle (a
    # broker with a public certificate: the system's, /etc/ssl/certs/ca-certificates.crt).
    tls_ca_file: ReadableFile | None = None
    # Our client certificate (PEM, chain after it) and its key, for a broker that asks for one
    # (Mosquitto's require_certificate).
    tls_cert_file: ReadableFile | None = None
    tls_key_file: PrivateKeyFile | None = None
    # The name the broker's certificate must carry when ``host`` is not it (an IP address, an
    # alias); by default ``host``. The check itself cannot be turned off.
    tls_server_name: str | None = Field(default=None, min_length=1)
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    reconnect_min_delay_s: int = Field(default=1, ge=1, le=60)
    reconnect_max_delay_s: int = Field(default=30, ge=1, le=3600)
    # Recent (host, event_id) pairs remembered to drop QoS 1 redeliveries; at one event a
    # second per host, 4096 covers well over the minutes a redelivery can lag.
    dedup_window: int = Field(default=4096, ge=16, le=1_000_000)
    bad_payloads_kept: int = Field(default=20, ge=1, le=1000)
    # Messages received but not yet handled. paho's thread hands each one over at once (it must
    # never wait on us); past this many the newest are dropped and counted as "overflow", so
    # a flood costs at most this many messages of memory. At ~150 bytes an event, 10,000 is a
    # few MB and minutes of a whole site's normal traffic.
    max_queued_messages: int = Field(default=10_000, ge=1, le=1_000_000)
    _password: SecretStr | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _credentials_and_tls(self) -> MqttSettings:
        if self.password_env is not None:
            if self.username is None:
                raise ValueError("password_env needs a username")
            # Read once, at load: a variable unset later cannot stop a running client.
            self._password = SecretStr(os.environ[self.password_env])
        both_or_neither("mqtt", self.tls_cert_file, self.tls_key_file)
        if self.tls_ca_file is None and (self.tls_cert_file is not None or self.tls_server_name is not None):
            raise ValueError("tls_cert_file, tls_key_file and tls_server_name are for TLS: set tls_ca_file too")
        if self.tls_ca_file is not None:
            # Load them now, so a bad file is a configuration error, not a retrying connection.
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            load_ca(context, self.tls_ca_file)
            if self.tls_cert_file is not None and self.tls_key_file is not None:
                load_pair(context, self.tls_cert_file, self.tls_key_file)
        return self

    @property
    def password(self) -> SecretStr | None:
        """The password from ``password_env``, as it was when the configuration was loaded."""
        return self._password
