"""Modbus register profiles, endpoints and gateways, as written in the deployment's TOML file."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# The four Modbus data tables: coils (FC1, read/write bits), discrete inputs (FC2, read-only
# bits), input registers (FC4) and holding registers (FC3).
Table = Literal["coil", "discrete", "input", "holding"]
BIT_TABLES: frozenset[str] = frozenset({"coil", "discrete"})

RegisterType = Literal[
    "bool",  # one coil or discrete input: 0/1
    "int8_high", "int8_low", "uint8_high", "uint8_low",  # one byte of a register
    "int16", "uint16", "int32", "uint32", "float32", "int64", "uint64", "float64",
    "string",  # ASCII text over length_registers registers: goes to the asset's inventory
]
ByteOrder = Literal["big", "little"]
Framing = Literal["tcp", "rtu_over_tcp", "rtu"]

# Registers (or, for "bool", bits) each fixed-width type occupies on the wire.
REGISTER_WIDTH: dict[str, int] = {
    "bool": 1, "int8_high": 1, "int8_low": 1, "uint8_high": 1, "uint8_low": 1,
    "int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "float32": 2,
    "int64": 4, "uint64": 4, "float64": 4,
}
_BYTE_TYPES = frozenset({"int8_high", "int8_low", "uint8_high", "uint8_low"})


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class RegisterSpec(_Frozen):
    """One channel: where it is, how it is encoded, and what unit it comes out in.

    Numbers come out as ``raw * scale + offset``. A status word gives several channels: each
    takes one ``bit`` (0 = least significant) or the bits of a ``mask`` (shifted down by
    ``shift``, by default the mask's lowest set bit) of the same 16-bit register.
    """

    channel: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    address: int = Field(ge=0, le=65535, description="wire address, 0-based")
    table: Table | None = None  # None: the profile's ``function``
    type: RegisterType
    unit: str | None = Field(default=None, min_length=1,
                             description='e.g. "kPa", "MPa", "Nm3/h", "degC", "state"; none for strings')
    scale: float = 1.0  # engineering value = raw * scale + offset
    offset: float = 0.0
    word_order: ByteOrder | None = None  # overrides the profile's, for 32- and 64-bit types
    byte_order: ByteOrder | None = None  # overrides the profile's; "little" swaps a string's pairs
    bit: int | None = Field(default=None, ge=0, le=15)
    mask: int | None = Field(default=None, ge=1, le=0xFFFF)
    shift: int | None = Field(default=None, ge=0, le=15)
    invert: bool = False  # active-low contacts: 1 becomes 0 and 0 becomes 1
    length_registers: int | None = Field(default=None, ge=1, le=125)  # strings: 2 characters each

    @model_validator(mode="after")
    def _consistent(self) -> RegisterSpec:
        name = self.channel
        if self.type == "string":
            if self.length_registers is None:
                raise ValueError(f"{name!r}: a string needs length_registers")
            if self.unit is not None or self.scale != 1.0 or self.offset != 0.0:
                raise ValueError(f"{name!r}: a string has no unit, scale or offset (it goes to the inventory)")
        else:
            if self.length_registers is not None:
                raise ValueError(f"{name!r}: length_registers is for strings")
            if self.unit is None:
                raise ValueError(f"{name!r}: a {self.type} channel needs a unit")
        if self.table in BIT_TABLES and self.type != "bool":
            raise ValueError(f"{name!r}: a {self.table} is one bit: its type is \"bool\"")
        if self.type == "bool" and self.table not in BIT_TABLES:
            raise ValueError(f"{name!r}: \"bool\" is for coils and discrete inputs (table = \"coil\" or "
                             "\"discrete\"); one bit of a register is bit = N on a uint16")
        if self.bit is not None or self.mask is not None or self.shift is not None:
            if self.type not in ("uint16", "int16"):
                raise ValueError(f"{name!r}: bit, mask and shift take bits of one 16-bit register (uint16)")
            if self.bit is not None and (self.mask is not None or self.shift is not None):
                raise ValueError(f"{name!r}: give either bit or mask (with an optional shift), not both")
            if self.shift is not None and self.mask is None:
                raise ValueError(f"{name!r}: shift goes with a mask")
            if self.shift is not None and self.mask is not None and self.mask >> self.shift << self.shift != self.mask:
                raise ValueError(f"{name!r}: a shift of {self.shift} drops bits of mask {self.mask:#06x}")
            if self.shift is not None and self.invert:
                raise ValueError(f"{name!r}: an inverted bit reads 0/1: leave shift to its default")
        if self.invert and not self.single_bit:
            raise ValueError(f"{name!r}: invert is for one bit (a coil, a discrete input, bit = N, "
                             "or a one-bit mask)")
        if self.word_order is not None and (self.type in ("bool", "string") or self.type in _BYTE_TYPES
                                            or self.is_bit_field):
            # (Allowed, and meaningless, on whole 16-bit registers: profiles that set one
            # order on every register, as earlier versions let them, still load.)
            raise ValueError(f"{name!r}: word_order is for numbers of several registers")
        if self.byte_order is not None and (self.type == "bool" or self.type in _BYTE_TYPES or self.is_bit_field):
            raise ValueError(f"{name!r}: byte_order means nothing for {self.type}"
                             f"{' bits' if self.is_bit_field else ''}")
        return self

    @property
    def width(self) -> int:
        """Registers (bits, in the bit tables) this channel occupies."""
        if self.type == "string":
            assert self.length_registers is not None
            return self.length_registers
        return REGISTER_WIDTH[self.type]

    @property
    def is_bit_field(self) -> bool:
        return self.bit is not None or self.mask is not None

    @property
    def single_bit(self) -> bool:
        return (self.type == "bool" or self.bit is not None
                or (self.mask is not None and self.mask & (self.mask - 1) == 0))

    @property
    def bit_mask(self) -> int:
        """The register bits this field takes (bit fields only)."""
        return 1 << self.bit if self.bit is not None else (self.mask or 0)

    @property
    def part_mask(self) -> int:
        """The bits of its register a channel takes when it takes only part of one (bit
        fields, bytes); 0 for channels that take whole registers."""
        if self.is_bit_field:
            return self.bit_mask
        return {"int8_high": 0xFF00, "uint8_high": 0xFF00, "int8_low": 0x00FF, "uint8_low": 0x00FF}.get(self.type, 0)

    @property
    def bit_shift(self) -> int:
        if self.bit is not None:
            return self.bit
        if self.shift is not None:
            return self.shift
        return ((self.mask or 1) & -(self.mask or 1)).bit_length() - 1


class ModbusWorkarounds(_Frozen):
    """Device quirks, kept apart so the normal path stays plain."""

    # Some RTUs answer reads longer than this with exception 3 (illegal data value).
    max_registers_per_read: int = Field(default=120, ge=1, le=125)
    # The same for coils and discrete inputs (the protocol allows 2000 a read).
    max_bits_per_read: int = Field(default=2000, ge=1, le=2000)
    # Reading a few unused registers (or bits) is cheaper than another round trip; RTUs that
    # reject reads across holes need 0 here.
    max_gap_registers: int = Field(default=8, ge=0, le=100)


class ModbusProfile(_Frozen):
    name: str
    # The table of registers that do not name one: input registers (FC4) or holding (FC3).
    function: Literal["holding", "input"] = "holding"
    byte_order: ByteOrder = "big"
    word_order: ByteOrder = "big"  # "big": high word first (pymodbus' and most RTUs' default)
    registers: tuple[RegisterSpec, ...] = Field(min_length=1)
    workarounds: ModbusWorkarounds = ModbusWorkarounds()
    # Strings (firmware version, serial number) change rarely: read at the first poll, then
    # this often, and written to the asset's inventory when they change.
    inventory_interval_s: float = Field(default=3600.0, gt=0)

    @model_validator(mode="after")
    def _no_overlap(self) -> ModbusProfile:
        channels = [r.channel for r in self.registers]
        if len(set(channels)) != len(channels):
            raise ValueError("channel names must be unique within a profile")
        # (table, address) -> the channels on it so far, and the bits they take (0: all of it).
        taken: dict[tuple[str, int], tuple[list[str], int]] = {}
        for reg in self.registers:
            table = self.table_of(reg)
            for addr in range(reg.address, reg.address + reg.width):
                names, bits = taken.get((table, addr), ([], 0))
                if names and not (bits and reg.part_mask):
                    # Bit fields and bytes share their register; anything else sharing one is a typo.
                    raise ValueError(f"{table} register {addr} is used by both {names[0]!r} and {reg.channel!r}")
                if bits & reg.part_mask:
                    raise ValueError(f"{table} register {addr}: {reg.channel!r} takes bits {', '.join(names)} "
                                     "already take")
                taken[(table, addr)] = ([*names, reg.channel], bits | reg.part_mask)
            if reg.address + reg.width > 65536:
                raise ValueError(f"{reg.channel!r} runs past the last address 65535")
        return self

    def table_of(self, reg: RegisterSpec) -> Table:
        return reg.table if reg.table is not None else self.function

    @property
    def channels(self) -> dict[str, str]:
        """Channel -> unit of what goes to the time series (strings go to the inventory)."""
        return {r.channel: r.unit for r in self.registers if r.unit is not None}


class SerialLine(_Frozen):
    """An RS-485 (or RS-232) line on this machine; the devices on it share it."""

    device: str = Field(min_length=1, description='e.g. "/dev/ttyUSB0"')
    baudrate: int = Field(default=9600, ge=300, le=921600)
    bytesize: Literal[7, 8] = 8
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1


class ModbusGateway(_Frozen):
    """One connection several stations are reached through: a Modbus TCP gateway, a
    serial-to-Ethernet converter or DTU passing RTU frames over TCP, or a serial line.

    Its devices are polled one request at a time on one connection: converters answer one
    request at a time and garble overlapping ones.
    """

    framing: Framing = "tcp"
    host: str | None = None  # tcp and rtu_over_tcp
    port: int = Field(default=502, ge=1, le=65535)
    serial: SerialLine | None = None  # rtu
    timeout_s: float = Field(default=2.0, gt=0, le=60)  # to connect (or open the line)
    # Quiet time after each reply before the next request: slow converters and RTUs on
    # RS-485 need a few ms to turn the line around.
    pause_between_requests_ms: float = Field(default=0.0, ge=0, le=10000)

    @model_validator(mode="after")
    def _reachable(self) -> ModbusGateway:
        if self.framing == "rtu":
            if self.serial is None or self.host is not None or "port" in self.model_fields_set:
                raise ValueError('framing = "rtu" is a serial line: give serial = { device = ... }, not host or port')
        elif self.host is None or self.serial is not None:
            raise ValueError(f'framing = "{self.framing}" needs host (and port), not serial')
        return self


class ModbusEndpoint(_Frozen):
    """Where one station's RTU answers: its own address, or a device id behind a gateway."""

    host: str | None = None
    port: int = Field(default=502, ge=1, le=65535)
    framing: Literal["tcp", "rtu_over_tcp"] = "tcp"  # a DTU carrying RTU frames for this one station
    gateway: str | None = None  # the id of a modbus_gateway asset; then no host, port or framing
    device_id: int = Field(default=1, ge=0, le=255)
    profile: str
    timeout_s: float = Field(default=2.0, gt=0, le=60)  # for each reply

    @model_validator(mode="after")
    def _one_way_in(self) -> ModbusEndpoint:
        if (self.host is None) == (self.gateway is None):
            raise ValueError("a Modbus endpoint needs either host (and port) or gateway")
        if self.gateway is not None and ("port" in self.model_fields_set or "framing" in self.model_fields_set):
            raise ValueError(f"a station behind gateway {self.gateway!r} takes its port and framing from the gateway")
        return self
