"""The sample [storage.influx] blocks in storage/influx/README.md are valid configurations."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from sitewatch.config.load import config_from_dict
from sitewatch.demo import example_config

README = Path(__file__).parents[3] / "storage" / "influx" / "README.md"


def test_every_readme_sample_loads_into_the_config():
    blocks = re.findall(r"```toml\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
    loaded = [config_from_dict(example_config() | tomllib.loads(block)).storage for block in blocks]
    assert [(s.timeseries, s.influx.write_api, s.influx.reader) for s in loaded] == [
        ("influx", "v2", "victoriametrics"), ("influx", "v2", "influxql"), ("influx", "v1", "influxql")]
    assert loaded[1].influx.credential == "tsdb" and loaded[1].influx.org == "citygas"
