"""The sample [paging] block of paging/README.md is a valid configuration, and says what it means."""

from __future__ import annotations

import re
import tomllib
from datetime import datetime
from pathlib import Path

from sitewatch.config.load import config_from_dict
from sitewatch.demo import example_config
from sitewatch.domain.time import UTC
from sitewatch.paging.rota import on_call

README = Path(__file__).parents[2] / "paging" / "README.md"


def test_the_readme_paging_block_loads_into_the_config():
    block = re.search(r"```toml\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert block is not None, "paging/README.md has no toml sample"
    config = config_from_dict(example_config() | tomllib.loads(block.group(1)))
    paging = config.paging
    assert paging is not None and {c.kind for c in paging.channels.values()} == {
        "email", "sms", "wecom", "dingtalk", "webhook"}, "the sample shows every kind of channel"
    assert paging.channels["sms"].request.json_body["to"] == "{phone}"
    swap_night = datetime(2026, 12, 8, 19, 0, tzinfo=UTC)  # 03:00 on the 9th in Shanghai: still the swap
    assert on_call(paging.desks["dispatch-centre"].rota, swap_night) == "zhang"
    assert paging.person_named("zhangwei") == "zhang"
