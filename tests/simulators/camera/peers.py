"""onvif-python 0.4.7, a client we did not write, run from its own venv (it shadows onvif-zeep)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).parents[3]
PEERS_VENV = REPO / ".venv-peers"
PEERS_PYTHON = PEERS_VENV / "bin" / "python"

_SCRIPT = r"""
import json, sys
from onvif import ONVIFClient, CacheMode
port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
out = {}
try:
    client = ONVIFClient("127.0.0.1", port, user, password, cache=CacheMode.MEM, timeout=5)
    info = client.devicemgmt().GetDeviceInformation()
    out["manufacturer"], out["serial"] = info.Manufacturer, info.SerialNumber
    media = client.media()
    profiles = media.GetProfiles()
    out["profiles"] = [p.token for p in profiles]
    setup = {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}
    out["stream_uri"] = media.GetStreamUri(StreamSetup=setup, ProfileToken=profiles[0].token).Uri
    out["snapshot_uri"] = media.GetSnapshotUri(ProfileToken=profiles[0].token).Uri
except Exception as exc:
    out["error"] = f"{type(exc).__name__}: {exc}"
print(json.dumps(out))
"""


def _ensure_venv() -> None:
    if PEERS_PYTHON.exists():
        return
    try:
        subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True, capture_output=True, timeout=120)
        subprocess.run(
            [str(PEERS_PYTHON), "-m", "pip", "install", "-q", "onvif-python==0.4.7"],
            check=True, capture_output=True, timeout=300,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        # Fail, never skip: the independent-client check is the point of these tests.
        pytest.fail(f"cannot build {PEERS_VENV} with onvif-python==0.4.7 (make peers): {exc}", pytrace=False)


async def onvif_python(port: int, *, user: str, password: str) -> dict[str, object]:
    await asyncio.to_thread(_ensure_venv)
    process = await asyncio.create_subprocess_exec(
        str(PEERS_PYTHON), "-c", _SCRIPT, str(port), user, password,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, err.decode()
    return json.loads(out.decode().strip().splitlines()[-1])
