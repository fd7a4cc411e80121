"""`sitewatch modbus probe` and `sitewatch modbus scan` run as a user runs them: a real
process against Modbus servers we did not write.

- pyModbusTCP (Modbus TCP) answers any unit id: a scan of it lists every id as answering.
  That is what such a device does (many plain Modbus TCP devices ignore the unit id), not
  a fault of the scan.
- umodbus' RTU server on a virtual RS-485 line (socat) answers only the units it serves
  and stays silent for the others, as a device on a shared line does; the RtuBridge is a
  transparent serial-to-Ethernet converter in front of it (RTU over TCP).
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.collector.modbus.serial_line import (
    BridgeThread,
    pty_pair,
    umodbus_rtu_server,
)
from tests.collector.modbus.servers import encode, encode_string, pymodbustcp_server
from tests.servers import free_port

SITEWATCH = str(Path(sys.executable).with_name("sitewatch"))
EXAMPLE = Path(__file__).parents[2] / "config" / "sitewatch.example.toml"
TIMEOUT_S = "0.3"  # a reply on loopback or the pty takes milliseconds

PROFILE = """
[[modbus_profiles]]
name = "probe-test"
function = "holding"
registers = [
  { channel = "inlet_mpa",        address = 0,   type = "float32", unit = "MPa" },
  { channel = "temperature_c",    address = 2,   type = "int16",   unit = "degC", scale = 0.1 },
  { channel = "slam_shut_closed", address = 10,  type = "uint16",  bit = 0, unit = "state" },
  { channel = "door_open",        address = 10,  type = "uint16",  bit = 1, unit = "state" },
  { channel = "run_mode",         address = 10,  type = "uint16",  mask = 0x0F00, unit = "state" },
  { channel = "signal_csq",       address = 11,  type = "int8_low", unit = "CSQ" },
  { channel = "battery_pct",      address = 12,  type = "uint8_high", unit = "%" },
  { channel = "missing_kpa",      address = 300, type = "uint16",  unit = "kPa" },
  { channel = "firmware",         address = 100, type = "string",  length_registers = 4 },
  { channel = "valve_open",       address = 0,   table = "coil", type = "bool", unit = "state" },
]
"""
HOLDING = {
    **dict(enumerate(encode("float32", 1.23, byte_order="big", word_order="big"))),  # 0x3F9D 0x70A4
    2: 0xFF85,  # -123: -12.3 degC
    10: 0x0302,  # bit 0 = 0, bit 1 = 1, bits 8-11 = 3
    11: 0x5AE2,  # low byte 0xE2 = -30
    12: 0x5A00,  # high byte 90
    **{100 + i: word for i, word in enumerate(encode_string("V1.2.3", 4))},
}
# What the station's display would show, as the probe must print it; missing_kpa lies past
# the server's 200 registers, which answers exception 2.
EXPECTED = [
    ("valve_open", "coil", "0", "1", "1", "state"),
    ("inlet_mpa", "holding", "0-1", "0x3F9D 0x70A4", "1.23", "MPa"),
    ("temperature_c", "holding", "2", "0xFF85", "-12.3", "degC"),
    ("slam_shut_closed", "holding", "10 bit 0", "0x0302", "0", "state"),
    ("door_open", "holding", "10 bit 1", "0x0302", "1", "state"),
    ("run_mode", "holding", "10 mask 0x0F00", "0x0302", "3", "state"),
    ("signal_csq", "holding", "11 low byte", "0x5AE2", "-30", "CSQ"),
    ("battery_pct", "holding", "12 high byte", "0x5A00", "90", "%"),
    ("missing_kpa", "holding", "300", "-", "exception 2 (illegal data address)", "kPa"),
    ("firmware", "holding", "100-103", "0x5631 0x2E32 0x2E33 0x0000", "'V1.2.3'", ""),
]


def sitewatch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SITEWATCH, *args], check=False, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("modbus-cli") / "sitewatch.toml"
    path.write_text(EXAMPLE.read_text() + PROFILE)
    return str(path)


def table(stdout: str) -> list[tuple[str, ...]]:
    """The rows of the probe's table, cut at the header's columns: a cell that does not start
    at its column (a misaligned table) comes out wrong."""
    lines = stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("channel "))
    starts = [m.start() for m in re.finditer(r"\S+", lines[at])]
    assert lines[at].split() == ["channel", "table", "address", "raw", "value", "unit"]
    rows = []
    for line in lines[at + 1:]:
        for start in starts[1:]:
            assert len(line) <= start or line[start - 2:start] == "  ", f"misaligned at {start}: {line!r}"
        rows.append(tuple(line[a:b].strip() for a, b in zip(starts, [*starts[1:], None])))
    return rows


def test_modbus_commands_have_help() -> None:
    for args in (["--help"], ["modbus", "--help"], ["modbus", "probe", "--help"], ["modbus", "scan", "--help"]):
        done = sitewatch(*args)
        assert done.returncode == 0 and "usage:" in done.stdout, (args, done.stderr)
    assert "modbus" in sitewatch("--help").stdout


def test_probe_prints_every_channel_raw_and_decoded(config: str) -> None:
    with pymodbustcp_server(holding=HOLDING, coils={0: 1}, registers=200) as port:
        done = sitewatch("modbus", "probe", "--config", config, "--profile", "probe-test", "--host", "127.0.0.1",
                         "--port", str(port), "--device-id", "1", "--timeout-s", TIMEOUT_S)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == f"unit 1 at 127.0.0.1:{port}, profile probe-test"
    assert table(done.stdout) == EXPECTED
    assert done.stderr == ""


def test_probe_of_nothing_says_so_in_one_line(config: str) -> None:
    port = free_port()
    done = sitewatch("modbus", "probe", "--config", config, "--profile", "probe-test", "--host", "127.0.0.1",
                     "--port", str(port), "--device-id", "1")
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == f"error: cannot reach 127.0.0.1:{port}: cannot connect\n"


def test_probe_usage_errors_exit_2(config: str, tmp_path: Path) -> None:
    common = ["--host", "127.0.0.1", "--port", "502", "--device-id", "1"]
    unknown = sitewatch("modbus", "probe", "--config", config, "--profile", "nope", *common)
    assert unknown.returncode == 2 and "no modbus profile 'nope'" in unknown.stderr
    assert "probe-test" in unknown.stderr and "regulator-v1" in unknown.stderr, "the profiles it has are named"
    both = sitewatch("modbus", "probe", "--config", config, "--profile", "probe-test", *common, "--serial", "/dev/x")
    assert both.returncode == 2 and "either --host" in both.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text(EXAMPLE.read_text() + PROFILE.replace('function = "holding"', 'function = "coils"'))
    invalid = sitewatch("modbus", "probe", "--config", str(bad), "--profile", "probe-test", *common)
    assert invalid.returncode == 2 and re.search(r"line \d+, key modbus_profiles\[\d\]\.function", invalid.stderr), \
        invalid.stderr
    ids = sitewatch("modbus", "scan", "--host", "127.0.0.1", "--ids", "1-300")
    assert ids.returncode == 2 and "unit ids are 1-255" in ids.stderr


UNITS = {2: {("holding", 0): 0x0102, ("holding", 1): 0x0304}, 5: {("holding", 9): 1}, 7: {("holding", 0): 7}}


@pytest.fixture(scope="module")
def bridge_port() -> Iterator[int]:
    """A converter (RTU over TCP) in front of an RS-485 line where units 2 and 7 hold holding
    register 0, unit 5 has no register 0 (answers exception 2) and every other id is silent."""
    with (pty_pair() as (device_end, master_end), umodbus_rtu_server(device_end, units=UNITS),
          BridgeThread(master_end) as bridge):
        yield bridge.port


def test_scan_through_a_converter_finds_exactly_the_units_that_answer(bridge_port: int) -> None:
    done = sitewatch("modbus", "scan", "--host", "127.0.0.1", "--port", str(bridge_port),
                     "--framing", "rtu_over_tcp", "--ids", "1-10", "--timeout-s", TIMEOUT_S)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"asking units 1-10 at 127.0.0.1:{bridge_port} (RTU over TCP) for holding 0, {TIMEOUT_S} s each",
        "unit 2: answers, holding 0 = 0x0102",
        "unit 5: present, refuses holding 0: exception 2 (illegal data address)",
        "unit 7: answers, holding 0 = 0x0007",
        "answering: 2, 5, 7 (3 of 10)",
        "silent: 7",
    ]


def test_probe_through_a_converter_and_of_a_unit_that_is_not_there(bridge_port: int, config: str) -> None:
    profile = config.replace("sitewatch.toml", "line.toml")
    Path(profile).write_text(Path(config).read_text() + """
[[modbus_profiles]]
name = "line-test"
registers = [{ channel = "volume_nm3", address = 0, type = "uint32", unit = "Nm3" }]
""")
    via = ["--host", "127.0.0.1", "--port", str(bridge_port), "--framing", "rtu_over_tcp"]
    there = sitewatch("modbus", "probe", "--config", profile, "--profile", "line-test", *via, "--device-id", "2",
                      "--timeout-s", TIMEOUT_S)
    assert there.returncode == 0, there.stderr
    assert table(there.stdout) == [("volume_nm3", "holding", "0-1", "0x0102 0x0304", str(0x01020304), "Nm3")]
    absent = sitewatch("modbus", "probe", "--config", profile, "--profile", "line-test", *via, "--device-id", "3",
                       "--timeout-s", TIMEOUT_S)
    assert absent.returncode == 1 and absent.stdout == ""
    assert absent.stderr == (f"error: unit 3 at 127.0.0.1:{bridge_port} (RTU over TCP) does not answer: "
                             f"no reply within {TIMEOUT_S} s\n")


def test_scan_on_the_serial_line_itself() -> None:
    with pty_pair() as (device_end, master_end), umodbus_rtu_server(device_end, units=UNITS):
        done = sitewatch("modbus", "scan", "--serial", master_end, "--baudrate", "9600", "--ids", "1-3,7",
                         "--timeout-s", TIMEOUT_S)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"asking units 1-3, 7 at {master_end} 9600 8N1 for holding 0, {TIMEOUT_S} s each",
        "unit 2: answers, holding 0 = 0x0102",
        "unit 7: answers, holding 0 = 0x0007",
        "answering: 2, 7 (2 of 4)",
        "silent: 2",
    ]


def test_scan_of_a_device_that_answers_any_id_and_of_nothing() -> None:
    with pymodbustcp_server(holding={0: 42}) as port:
        done = sitewatch("modbus", "scan", "--host", "127.0.0.1", "--port", str(port), "--ids", "1-4",
                         "--timeout-s", TIMEOUT_S)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-2:] == ["answering: 1-4 (4 of 4)", "silent: 0"]
    assert done.stdout.count("answers, holding 0 = 0x002A") == 4
    port = free_port()
    nothing = sitewatch("modbus", "scan", "--host", "127.0.0.1", "--port", str(port), "--ids", "1-4")
    assert nothing.returncode == 1
    assert nothing.stderr == f"error: cannot reach 127.0.0.1:{port}: cannot connect\n"
