"""Fixtures of the channel tests: real receivers, the shared HTTP client, a fixed clock, and
a message written in Chinese (as the control room reads them) to send through each channel."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from sitewatch.domain.time import UTC
from sitewatch.paging.channels.webhook import http_client
from sitewatch.paging.models import Content, Outgoing
from tests.serving import FixedClock

from .receivers import HttpReceiver, SmtpReceiver, TestCert, make_cert, serving

NOW = datetime(2026, 12, 3, 2, 0, 0, 123000, tzinfo=UTC)
LINK = "https://sitewatch.example/tickets/42"
CONTENT = Content(
    subject="【严重】城东调压站 出口压力过高",
    text=f"城东调压站 出口压力 0.42 MPa，高于上限 0.40 MPa。\n工单 #42：{LINK}",
    markdown=f"### 城东调压站 出口压力过高\n> 出口压力 **0.42 MPa**（上限 0.40）\n[打开工单 #42]({LINK})",
    short=f"【严重】城东调压站 出口压力 0.42 MPa 过高 {LINK}",
    data={"ticket_id": 42, "site": "城东调压站", "severity": "critical"},
)
SMTP_LOGIN = ("alerts@sitewatch.example", "mail-pass-秘密")


def outgoing(key: str = "delivery-42-1", *, address: str | None = None, mentions: tuple[str, ...] = (),
             content: Content = CONTENT) -> Outgoing:
    return Outgoing(key=key, content=content, address=address, mentions=mentions)


def provider(username: str, password: str) -> Callable[[], tuple[str, str]]:
    """A credential as the vault cache gives it."""
    return lambda: (username, password)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture(scope="session")
def cert(tmp_path_factory: pytest.TempPathFactory) -> TestCert:
    return make_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def smtp_server(cert: TestCert) -> Iterator[Callable[..., SmtpReceiver]]:
    """Starts SMTP receivers: ``smtp_server("starttls", login=SMTP_LOGIN)``; all stopped after the test."""
    started: list[SmtpReceiver] = []

    def start(security: str, *, login: tuple[str, str] | None = SMTP_LOGIN) -> SmtpReceiver:
        receiver = SmtpReceiver(security=security, cert=cert, login=login)
        receiver.start()
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        receiver.stop()


@pytest.fixture(scope="session")
async def _http_server() -> AsyncIterator[HttpReceiver]:
    """One server for the session: starting and stopping uvicorn per test costs 0.15 s each."""
    async with serving(HttpReceiver()) as receiver:
        yield receiver


@pytest.fixture
async def http_receiver(_http_server: HttpReceiver) -> AsyncIterator[HttpReceiver]:
    """The HTTP receiver, with no request recorded and the default answer."""
    _http_server.reset()
    yield _http_server
    await _http_server.settle()  # before the leaked-task check: a held request ends here


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with http_client() as client:
        yield client


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port nobody listens on (held bound, so nothing else takes it meanwhile)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture
def ca_file(cert: TestCert) -> Path:
    return cert.cert_file
