"""`python -m sitewatch.simulators.camera serve` as a user runs it, over https with `--tls-cert`
and `--tls-key`: real process, sockets and signals."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import httpx
import pytest

from sitewatch.simulators.camera.cli import main
from tests.simulators.serving import served_lines
from tests.tls_files import Pki

REPO = Path(__file__).parents[3]
TIME_REQUEST = (
    b'<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>'
    b'<GetSystemDateAndTime xmlns="http://www.onvif.org/ver10/device/wsdl"/></s:Body></s:Envelope>'
)


async def test_serve_with_a_certificate_answers_https_only(tmp_path: Path) -> None:
    pki = Pki(tmp_path / "pki")
    served = pki.issue("camera", "127.0.0.1")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sitewatch.simulators.camera", "serve", "--cameras", "2",
        "--tls-cert", str(served.cert), "--tls-key", str(served.key),
        cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        cameras = [line.split() for line in (await served_lines(process))[:-1]]
        assert [(c[0], c[-1]) for c in cameras] == [("cam-001", "https"), ("cam-002", "https")]
        address = cameras[1][1]
        async with httpx.AsyncClient(verify=pki.client_context()) as client:
            reply = await client.post(f"https://{address}/onvif/device_service", content=TIME_REQUEST,
                                      headers={"Content-Type": "application/soap+xml"})
        assert reply.status_code == 200 and b"SystemDateAndTime" in reply.content
        async with httpx.AsyncClient() as client:
            with pytest.raises(httpx.TransportError):
                await client.post(f"http://{address}/onvif/device_service", content=TIME_REQUEST)
        process.send_signal(signal.SIGINT)
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=10)
        assert process.returncode == 0 and b"Traceback" not in stderr, stderr.decode()
    finally:
        if process.returncode is None:
            process.kill()
            await process.communicate()


def test_a_certificate_without_its_key_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    served = Pki(tmp_path / "pki").issue("camera", "127.0.0.1")
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--tls-cert", str(served.cert)])
    assert exited.value.code == 2
    assert "tls_cert_file and tls_key_file go together" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--tls-cert", str(served.cert), "--tls-key", str(tmp_path / "none.key")])
    assert exited.value.code == 2
    assert "none.key: no such file" in capsys.readouterr().err
