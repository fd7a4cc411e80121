"""Station and fleet specifications: frozen pydantic models, units in the names."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sitewatch.config.types import TimeZoneName

LOOPBACK = "127.0.0.1"
_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StationSpec(_Frozen):
    """One simulated regulator station and the RTU that answers for it."""

    station_id: str = Field(pattern=_ID_PATTERN)
    device_id: int = Field(default=1, ge=1, le=247)
    seed: int = 0
    port: int = Field(default=0, ge=0, le=65535, description="0 = ephemeral, chosen at start")
    gateway: str | None = Field(
        default=None, description="the gateway it answers behind, at device_id (no port of its own)"
    )
    # Pressures of the running regulator path (DOMAIN.md: operating < lock-up < relief < slam-shut).
    set_point_kpa: float = Field(default=2.5, gt=0)
    lock_up_kpa: float = Field(default=2.75, gt=0)
    relief_kpa: float = Field(default=3.0, gt=0)
    slam_shut_kpa: float = Field(default=3.5, gt=0)
    inlet_mpa: float = Field(default=0.3, gt=0)
    nominal_flow_nm3h: float = Field(default=800.0, gt=0, description="flow at peak demand")
    time_zone: TimeZoneName = "Asia/Shanghai"  # the daily demand and temperature cycles run on local time

    @model_validator(mode="after")
    def _pressures_ordered(self) -> StationSpec:
        order = (self.set_point_kpa, self.lock_up_kpa, self.relief_kpa, self.slam_shut_kpa)
        if not order[0] < order[1] < order[2] < order[3]:
            raise ValueError(
                "pressures must rise: set_point_kpa < lock_up_kpa < relief_kpa < slam_shut_kpa, "
                f"got {order}"
            )
        return self


class GatewaySpec(_Frozen):
    """A serial-to-Ethernet converter (DTU) carrying RTU frames over TCP: the stations that
    name it answer at their device ids behind its one port."""

    gateway_id: str = Field(pattern=_ID_PATTERN)
    port: int = Field(default=0, ge=0, le=65535, description="0 = ephemeral, chosen at start")


class FleetConfig(_Frozen):
    stations: tuple[StationSpec, ...] = Field(min_length=1)
    gateways: tuple[GatewaySpec, ...] = ()
    host: str = LOOPBACK

    @model_validator(mode="after")
    def _unique(self) -> FleetConfig:
        ids = [s.station_id for s in self.stations]
        if len(set(ids)) != len(ids):
            raise ValueError("station_id values must be unique")
        gateway_ids = [g.gateway_id for g in self.gateways]
        if len(set(gateway_ids)) != len(gateway_ids):
            raise ValueError("gateway_id values must be unique")
        ports = [s.port for s in self.stations if s.port] + [g.port for g in self.gateways if g.port]
        if len(set(ports)) != len(ports):
            raise ValueError("fixed ports must be unique (use 0 for ephemeral ports)")
        behind: set[tuple[str, int]] = set()
        for s in self.stations:
            if s.gateway is None:
                continue
            if s.gateway not in gateway_ids:
                raise ValueError(f"station {s.station_id!r}: no gateway {s.gateway!r} (gateways: {gateway_ids})")
            if s.port:
                raise ValueError(f"station {s.station_id!r} answers on its gateway's port: leave its port 0")
            if (s.gateway, s.device_id) in behind:
                raise ValueError(f"two stations behind gateway {s.gateway!r} have device_id {s.device_id}")
            behind.add((s.gateway, s.device_id))
        return self


def make_station_specs(count: int, *, base_port: int = 0, seed: int = 0) -> tuple[StationSpec, ...]:
    """`count` stations rs-001, rs-002 ...; ports base_port+i (ephemeral when 0); seeds seed+i."""
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    if base_port and base_port + count - 1 > 65535:
        raise ValueError(f"base_port {base_port} + {count} stations runs past port 65535")
    width = max(3, len(str(count)))
    return tuple(
        StationSpec(
            station_id=f"rs-{i + 1:0{width}d}",
            seed=seed + i,
            port=base_port + i if base_port else 0,
        )
        for i in range(count)
    )


def make_gateway_station_specs(
    count: int, *, gateway_id: str = "gw-01", seed: int = 0
) -> tuple[StationSpec, ...]:
    """`count` stations behind `gateway_id` at device ids 1..count: {gateway_id}-rs-001 ...;
    seeds seed+i."""
    if not 1 <= count <= 247:
        raise ValueError(f"a gateway has device ids 1-247: count must be 1..247, got {count}")
    return tuple(
        StationSpec(station_id=f"{gateway_id}-rs-{i + 1:03d}", device_id=i + 1, seed=seed + i, gateway=gateway_id)
        for i in range(count)
    )
