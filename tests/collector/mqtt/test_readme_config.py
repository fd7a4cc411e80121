"""The sample configuration in collector/mqtt/README.md must load (its files made here, under
the names it gives them, and its password's variable set)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from sitewatch.collector.mqtt.config import MqttSettings
from sitewatch.config.models import AlarmHostLink
from tests.tls_files import Pki

README = Path(__file__).resolve().parents[3] / "collector" / "mqtt" / "README.md"


def test_readme_sample_config_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = re.findall(r"```toml\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)
    assert len(blocks) == 1, f"expected one toml block in {README}, found {len(blocks)}"
    pki = Pki(tmp_path, name="broker-ca")
    collector = pki.issue("collector", "sitewatch-collector")
    document = tomllib.loads(blocks[0].replace("/etc/sitewatch/", f"{tmp_path}/"))
    monkeypatch.setenv("SITEWATCH_MQTT_PASSWORD", "from-the-environment")
    settings = MqttSettings.model_validate(document["mqtt"])
    assert (settings.port, settings.client_id, settings.keepalive_s) == (8883, "sitewatch-collector", 30)
    assert (settings.tls_ca_file, settings.tls_cert_file, settings.tls_key_file) == (
        pki.ca_file, collector.cert, collector.key)
    assert settings.password is not None and settings.password.get_secret_value() == "from-the-environment"
    assert "from-the-environment" not in repr(settings), "the password must not show in logs"
    assert settings.max_queued_messages == 10_000
    links = {a["id"]: AlarmHostLink.model_validate(a["alarm_host"]) for a in document["assets"]}
    assert {asset: (link.host_id, link.zones, link.timestamps) for asset, link in links.items()} == {
        "alarm-north-01": ("ah-001", 8, "device"),
        "alarm-north-02": ("ah-002", 16, "arrival"),
    }
