"""The station's holding-register map (profile `regulator-v1`) and encoding to wire registers.

Big-endian bytes, high word first. Must stay identical to the `regulator-v1` profile in
config/sitewatch.example.toml (a test compares them).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Literal

from sitewatch.simulators.regulator.model import Reading

RegisterType = Literal["int16", "uint16", "uint32", "float32"]


@dataclass(frozen=True, slots=True)
class Register:
    channel: str
    address: int  # 0-based wire address
    type: RegisterType
    unit: str
    scale: float = 1.0  # engineering value = raw * scale


REGISTER_MAP: tuple[Register, ...] = (
    Register("inlet_mpa", 0, "float32", "MPa"),
    Register("outlet_kpa", 2, "float32", "kPa"),
    Register("flow_nm3h", 4, "uint32", "Nm3/h", 0.01),
    Register("temperature_c", 6, "int16", "degC", 0.1),
    Register("filter_dp_kpa", 7, "uint16", "kPa", 0.01),
    Register("gas_lel_pct", 8, "uint16", "%LEL", 0.1),
    Register("slam_shut_closed", 9, "uint16", "state"),
    Register("relief_open", 10, "uint16", "state"),
    Register("door_open", 11, "uint16", "state"),
    Register("mains_ok", 12, "uint16", "state"),
    Register("battery_v", 13, "uint16", "V", 0.01),
    # 14-15 unused: they read 0
    Register("uptime_s", 16, "uint32", "s"),
)
REGISTER_COUNT = 18  # reads past this answer exception code 2

_RANGES: dict[str, tuple[int, int]] = {
    "int16": (-(2**15), 2**15 - 1),
    "uint16": (0, 2**16 - 1),
    "uint32": (0, 2**32 - 1),
}


def encode(reading: Reading) -> list[int]:
    """All REGISTER_COUNT registers for one reading; out-of-range values saturate, as RTUs do."""
    registers = [0] * REGISTER_COUNT
    for reg in REGISTER_MAP:
        value = float(getattr(reading, reg.channel))
        if reg.type == "float32":
            raw_bytes = struct.pack(">f", value)
        else:
            low, high = _RANGES[reg.type]
            raw = min(high, max(low, round(value / reg.scale)))
            fmt = {"int16": ">h", "uint16": ">H", "uint32": ">I"}[reg.type]
            raw_bytes = struct.pack(fmt, raw)
        words = struct.unpack(f">{len(raw_bytes) // 2}H", raw_bytes)
        registers[reg.address : reg.address + len(words)] = words
    return registers
