"""The sample configuration in collector/modbus/README.md must load and plan as described."""

from __future__ import annotations

import re
from pathlib import Path

from sitewatch.collector.modbus.decode import plan_reads
from sitewatch.config.load import parse_config

README = Path(__file__).resolve().parents[3] / "collector" / "modbus" / "README.md"

# What the README leaves out: the customer, site and SLA zone its asset refers to.
MINIMAL_CONTEXT = """
[[customers]]
id = "citygas"
name = "City Gas Co."

[[sites]]
id = "north"
customer = "citygas"
name = "North district"
sla_zone = "ring2"

[sla.zones.ring2]
hours = 3.0
"""


def _toml_snippet() -> str:
    blocks = re.findall(r"```toml\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)
    assert len(blocks) == 1, f"expected one toml block in {README}, found {len(blocks)}"
    return blocks[0]


def test_readme_sample_config_loads_and_plans_as_documented() -> None:
    config = parse_config(MINIMAL_CONTEXT + _toml_snippet(), source=str(README))
    asset = config.asset("rc-north-07")
    profile = config.profile(asset.modbus.profile)
    assert (profile.function, profile.word_order) == ("input", "little")
    assert profile.workarounds.max_gap_registers == 0
    # "cabinet-v2 plans into three reads: input registers 0-7, 20 and 30-31."
    assert [(b.table, b.address, b.end - 1) for b in plan_reads(profile)] == [
        ("input", 0, 7),
        ("input", 20, 20),
        ("input", 30, 31),
    ]


def test_readme_other_vendor_profile_plans_as_documented() -> None:
    config = parse_config(MINIMAL_CONTEXT + _toml_snippet(), source=str(README))
    profile = config.profile("rtu-x")
    # "coils 0, discrete inputs 4-5 and holding registers 10-19 on every poll (the four bit
    # channels share register 10), and holding registers 100-113 for the strings"
    polled = [(b.table, b.address, b.end - 1) for b in plan_reads(profile)]
    assert sorted(polled) == sorted([("coil", 0, 0), ("discrete", 4, 5), ("holding", 10, 19)])
    assert [(b.table, b.address, b.end - 1) for b in plan_reads(profile, strings=True)] == [("holding", 100, 113)]
    assert "firmware" not in profile.channels  # strings go to the inventory, not the time series


def test_readme_gateway_stations_depend_on_their_gateway() -> None:
    config = parse_config(MINIMAL_CONTEXT + _toml_snippet(), source=str(README))
    gateway = config.asset("gw-east")
    assert gateway.modbus_gateway is not None and gateway.modbus_gateway.framing == "rtu_over_tcp"
    for station in ("rs-east-03", "rs-east-04"):
        assert config.asset(station).depends_on == "gw-east"
