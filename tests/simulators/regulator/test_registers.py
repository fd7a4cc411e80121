from __future__ import annotations

import tomllib
from pathlib import Path

from sitewatch.collector.modbus.config import ModbusProfile
from sitewatch.simulators.regulator.model import Reading
from sitewatch.simulators.regulator.registers import REGISTER_COUNT, REGISTER_MAP, encode

EXAMPLE_CONFIG = Path(__file__).parents[3] / "deploy" / "sitewatch.example.toml"


def test_register_map_is_the_example_configs_regulator_v1_profile():
    raw = tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    (profile,) = [
        ModbusProfile.model_validate(p)
        for p in raw["modbus_profiles"]
        if p["name"] == "regulator-v1"
    ]
    assert (profile.function, profile.byte_order, profile.word_order) == ("holding", "big", "big")
    theirs = [(r.channel, r.address, r.type, r.unit, r.scale, r.offset) for r in profile.registers]
    ours = [(r.channel, r.address, r.type, r.unit, r.scale, 0.0) for r in REGISTER_MAP]
    assert ours == theirs


def test_encode_golden_reading():
    reading = Reading(
        inlet_mpa=0.3,
        outlet_kpa=2.5,
        flow_nm3h=1234.567,
        temperature_c=-3.26,
        filter_dp_kpa=7.5,
        gas_lel_pct=12.34,
        slam_shut_closed=1,
        relief_open=0,
        door_open=1,
        mains_ok=0,
        battery_v=12.87,
        uptime_s=70000,
    )
    regs = encode(reading)
    assert len(regs) == REGISTER_COUNT
    assert regs[0:2] == [0x3E99, 0x999A]  # 0.3 as float32, high word first
    assert regs[2:4] == [0x4020, 0x0000]  # 2.5 as float32, high word first
    assert regs[4:6] == [0x0001, 0xE241]  # 123457 (x 0.01 Nm3/h)
    assert regs[6] == (-33) & 0xFFFF
    assert regs[7:14] == [750, 123, 1, 0, 1, 0, 1287]
    assert regs[14:16] == [0, 0]
    assert regs[16:18] == [0x0001, 0x1170]  # 70000


def test_out_of_range_values_saturate():
    reading = Reading(0.3, 2.5, -5.0, 9999.0, 1e6, -1.0, 0, 0, 0, 1, 13.6, 0)
    regs = encode(reading)
    assert regs[4:6] == [0, 0] and regs[6] == 0x7FFF and regs[7] == 0xFFFF and regs[8] == 0
