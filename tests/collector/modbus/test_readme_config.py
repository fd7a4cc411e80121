"""The sample configuration in collector/modbus/README.md must load and plan as described."""

from __future__ import annotations

import re
from pathlib import Path

from collector.modbus.decode import plan_reads
from config.load import parse_config

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
    # "This profile plans into three reads: input registers 0-7, 20 and 30-31."
    assert [(b.function, b.address, b.end - 1) for b in plan_reads(profile)] == [
        ("input", 0, 7),
        ("input", 20, 20),
        ("input", 30, 31),
    ]
