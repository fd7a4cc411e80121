"""The sample configuration in collector/mqtt/README.md must load."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from collector.mqtt.config import MqttSettings
from config.models import AlarmHostLink

README = Path(__file__).resolve().parents[3] / "collector" / "mqtt" / "README.md"


def test_readme_sample_config_loads() -> None:
    blocks = re.findall(r"```toml\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)
    assert len(blocks) == 1, f"expected one toml block in {README}, found {len(blocks)}"
    document = tomllib.loads(blocks[0])
    settings = MqttSettings.model_validate(document["mqtt"])
    assert (settings.port, settings.client_id, settings.keepalive_s) == (8883, "sitewatch-collector", 30)
    assert settings.password is not None and settings.password.get_secret_value() == "from-the-secret-store"
    assert "from-the-secret-store" not in repr(settings), "the password must not show in logs"
    assert settings.max_queued_messages == 10_000
    links = {a["id"]: AlarmHostLink.model_validate(a["alarm_host"]) for a in document["assets"]}
    assert {asset: (link.host_id, link.zones, link.timestamps) for asset, link in links.items()} == {
        "alarm-north-01": ("ah-001", 8, "device"),
        "alarm-north-02": ("ah-002", 16, "arrival"),
    }
