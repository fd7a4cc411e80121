"""The sample configuration in collector/onvif/README.md must load into OnvifEndpoint."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from sitewatch.collector.onvif.config import OnvifEndpoint
from tests.tls_files import Pki

README = Path(__file__).resolve().parents[3] / "collector" / "onvif" / "README.md"


def _blocks() -> list[str]:
    return re.findall(r"```toml\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)


def test_readme_sample_config_loads() -> None:
    blocks = _blocks()
    assert len(blocks) == 2
    assets = tomllib.loads(blocks[1])["assets"]
    camera, nvr = (OnvifEndpoint.model_validate(a["onvif"]) for a in assets)
    assert camera.device_url == "http://10.20.0.71:80/onvif/device_service"
    assert camera.workarounds.sign_with_camera_clock and not camera.workarounds.auth_for_time
    assert (nvr.port, nvr.snapshot, nvr.events) == (80, False, True)
    assert nvr.workarounds.auth_for_time and not nvr.workarounds.unsubscribe_on_close
    assert nvr.workarounds.min_renew_interval_s == 300.0


def test_readme_https_camera_loads(tmp_path: Path) -> None:
    """HTTPS cameras: the example's ca_file stands for a CA file of this machine."""
    ca_file = Pki(tmp_path).ca_file
    text = _blocks()[0].replace('"/etc/sitewatch/cameras-west-ca.pem"', f'"{ca_file}"')
    [asset] = tomllib.loads(text)["assets"]
    camera = OnvifEndpoint.model_validate(asset["onvif"])
    assert camera.device_url == "https://10.30.0.12:443/onvif/device_service"
    assert (camera.ca_file, camera.check_hostname) == (ca_file, False)
