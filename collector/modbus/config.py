"""Modbus register profiles and endpoints, as written in the deployment's TOML file."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

RegisterType = Literal["int16", "uint16", "int32", "uint32", "float32"]
ByteOrder = Literal["big", "little"]

# Registers each type occupies on the wire.
REGISTER_WIDTH: dict[str, int] = {"int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "float32": 2}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RegisterSpec(_Frozen):
    """One channel: where it is, how it is encoded, and what unit it comes out in."""

    channel: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    address: int = Field(ge=0, le=65535, description="wire address, 0-based")
    type: RegisterType
    unit: str = Field(min_length=1, description='e.g. "kPa", "MPa", "Nm3/h", "degC", "state"')
    scale: float = 1.0  # engineering value = raw * scale + offset
    offset: float = 0.0
    word_order: ByteOrder | None = None  # overrides the profile's, for 32-bit types
    byte_order: ByteOrder | None = None

    @property
    def width(self) -> int:
        return REGISTER_WIDTH[self.type]


class ModbusWorkarounds(_Frozen):
    """Device quirks, kept apart so the normal path stays plain."""

    # Some RTUs answer reads longer than this with exception 3 (illegal data value).
    max_registers_per_read: int = Field(default=120, ge=1, le=125)
    # Reading a few unused registers is cheaper than another round trip; RTUs that
    # reject reads across holes need 0 here.
    max_gap_registers: int = Field(default=8, ge=0, le=100)


class ModbusProfile(_Frozen):
    name: str
    function: Literal["holding", "input"] = "holding"
    byte_order: ByteOrder = "big"
    word_order: ByteOrder = "big"  # "big": high word first (pymodbus' and most RTUs' default)
    registers: tuple[RegisterSpec, ...] = Field(min_length=1)
    workarounds: ModbusWorkarounds = ModbusWorkarounds()

    @model_validator(mode="after")
    def _no_overlap(self) -> "ModbusProfile":
        seen: dict[int, str] = {}
        for reg in self.registers:
            for addr in range(reg.address, reg.address + reg.width):
                if addr in seen:
                    raise ValueError(
                        f"register {addr} is used by both {seen[addr]!r} and {reg.channel!r}"
                    )
                seen[addr] = reg.channel
        channels = [r.channel for r in self.registers]
        if len(set(channels)) != len(channels):
            raise ValueError("channel names must be unique within a profile")
        return self


class ModbusEndpoint(_Frozen):
    """Where one station's RTU answers."""

    host: str
    port: int = Field(default=502, ge=1, le=65535)
    device_id: int = Field(default=1, ge=0, le=255)
    profile: str
    timeout_s: float = Field(default=2.0, gt=0, le=60)
