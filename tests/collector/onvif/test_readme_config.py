"""The sample configuration in collector/onvif/README.md must load into OnvifEndpoint."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from sitewatch.collector.onvif.config import OnvifEndpoint

README = Path(__file__).resolve().parents[3] / "collector" / "onvif" / "README.md"


def test_readme_sample_config_loads() -> None:
    blocks = re.findall(r"```toml\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)
    assert len(blocks) == 1
    assets = tomllib.loads(blocks[0])["assets"]
    camera, nvr = (OnvifEndpoint.model_validate(a["onvif"]) for a in assets)
    assert camera.device_url == "http://10.20.0.71:80/onvif/device_service"
    assert camera.workarounds.sign_with_camera_clock and not camera.workarounds.auth_for_time
    assert (nvr.port, nvr.snapshot, nvr.events) == (80, False, True)
    assert nvr.workarounds.auth_for_time and not nvr.workarounds.unsubscribe_on_close
    assert nvr.workarounds.min_renew_interval_s == 300.0
