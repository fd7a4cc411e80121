"""What to simulate: the broker to publish to and the hosts, as a frozen config."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

LOOPBACK = "127.0.0.1"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class HostSpec(_Frozen):
    host_id: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    zones: int = Field(default=8, ge=1, le=999)
    heartbeat_s: float = Field(default=30.0, gt=0)
    battery_v: float = Field(default=13.6, ge=0, le=60)  # healthy 12 V lead-acid on float charge, V


class FleetConfig(_Frozen):
    broker_host: str = LOOPBACK
    broker_port: int = Field(default=1883, ge=1, le=65535)
    topic_prefix: str = "sitewatch/alarmhost"
    # Goes into client ids and event ids: two runs with different run ids never collide on
    # a shared broker, and one run's event ids are the same every time (host, run_id, seq).
    run_id: str = Field(default="run0", pattern=r"^[A-Za-z0-9_-]+$")
    hosts: tuple[HostSpec, ...] = Field(min_length=1)


def make_host_specs(count: int, *, zones: int = 8, heartbeat_s: float = 30.0) -> tuple[HostSpec, ...]:
    return tuple(HostSpec(host_id=f"ah-{i:03d}", zones=zones, heartbeat_s=heartbeat_s) for i in range(1, count + 1))
