"""The sample [review] block in review/README.md is a valid configuration."""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from pathlib import Path

from sitewatch.config.load import config_from_dict
from sitewatch.demo import example_config

README = Path(__file__).parents[2] / "review" / "README.md"


def test_the_readme_review_block_loads_into_the_config():
    block = re.search(r"```toml\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert block is not None, "review/README.md has no toml sample"
    raw = example_config() | tomllib.loads(block.group(1))
    config = config_from_dict(raw)
    assert config.review.at == dt.time(8, 30) and config.field_check.tolerance("outlet_kpa", 2.5) == 0.1
    assert config.field_check.tolerance("temperature_c", 20.0) == 1.0, "5 % of the field value"
