"""`python -m sitewatch.simulators.inbox serve` as a user runs it: a real process, HTTP and a signal."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).parents[3]


async def test_serve_prints_where_to_post_takes_an_sms_and_stops_on_sigint() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sitewatch.simulators.inbox", "serve", "--port", "0", "--sms-password", "api-key",
        cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        lines: list[str] = []
        while not lines or not lines[-1].startswith("inbox "):
            line = (await asyncio.wait_for(process.stdout.readline(), timeout=20)).decode()
            if not line:
                _, stderr = await process.communicate()
                pytest.fail(f"serve exited early: rc={process.returncode} {stderr.decode()}")
            lines.append(line)
        url = lines[-1].split()[1].rstrip("/")
        assert [line.split()[0] for line in lines] == ["wecom", "dingtalk", "sms", "webhook", "inbox"], lines
        assert f"POST {url}/wecom/send  key inbox-wecom-key" in lines[0]
        async with httpx.AsyncClient(trust_env=False) as http:
            refused = await http.post(url + "/sms", json={"to": "13800000009", "text": "x"})
            sent = await http.post(url + "/sms", json={"to": "13800000009", "text": "测试"},
                                   headers={"Authorization": "Bearer api-key"})
            listed = (await http.get(url + "/api/messages")).json()
        assert refused.status_code == 401 and sent.json()["code"] == 0, (refused.text, sent.text)
        assert [(m["to"], m["body"]) for m in listed] == [("13800000009", "测试")]
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=20)
    assert process.returncode == 0, stderr.decode()
    assert b"Traceback" not in stderr
