"""The simulator answers onvif-python, an ONVIF client we did not write."""

from __future__ import annotations

from sitewatch.simulators.camera.fleet import CameraFleet

from .peers import onvif_python


async def test_onvif_python_reads_device_profiles_and_uris(fleet: CameraFleet):
    port = fleet.port_of("cam-002")
    result = await onvif_python(port, user="admin", password="sitewatch")
    assert "error" not in result, result
    assert result["manufacturer"] == "Sitewatch Sim" and result["serial"] == "SIM00000004"
    assert result["profiles"] == ["Profile_1", "Profile_2"]
    assert result["stream_uri"] == "rtsp://127.0.0.1:554/cam-002/Profile_1"
    assert result["snapshot_uri"] == f"http://127.0.0.1:{port}/onvif/snapshot/Profile_1.jpg"


async def test_onvif_python_with_a_wrong_password_fails(fleet: CameraFleet):
    result = await onvif_python(fleet.port_of("cam-001"), user="admin", password="guess")
    assert "not authorized" in str(result.get("error", "")).lower(), result
