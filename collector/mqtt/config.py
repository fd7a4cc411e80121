"""How the collector reaches the MQTT broker its alarm hosts publish to."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr

DEFAULT_TOPIC_PREFIX = "sitewatch/alarmhost"


class MqttSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str
    port: int = Field(default=1883, ge=1, le=65535)
    # Stable across restarts: the broker keeps our persistent session (subscriptions and
    # QoS 1 messages queued while we were away) under this id.
    client_id: str = Field(min_length=1, max_length=23, pattern=r"^[A-Za-z0-9_-]+$")
    topic_prefix: str = Field(default=DEFAULT_TOPIC_PREFIX, pattern=r"^[A-Za-z0-9_/-]+[A-Za-z0-9_-]$")
    username: str | None = None
    password: SecretStr | None = None
    tls_ca_file: Path | None = None  # set = TLS, verifying the broker against this CA bundle
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
