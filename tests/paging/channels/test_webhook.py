"""The signed JSON webhook against a real HTTP receiver, and the HTTP exchange every HTTP
channel shares: statuses, refused connections, timeouts, redirects, proxy variables."""

from __future__ import annotations

import asyncio
import hashlib
import hmac

import pytest

from sitewatch.paging.channels.errors import Rejected, Unreachable
from sitewatch.paging.channels.webhook import JsonWebhook, http_client
from sitewatch.paging.config import WebhookChannel

from .conftest import CONTENT, NOW, outgoing, provider

SIGNING_KEY = "hook-签名-key"


def hook(url: str, http, clock, *, signed: bool = True, timeout_s: float = 5) -> JsonWebhook:
    settings = WebhookChannel(url=url, credential="hook" if signed else None, timeout_s=timeout_s)
    return JsonWebhook("ops-hook", settings, secret=provider("", SIGNING_KEY) if signed else None, http=http,
                       clock=clock)


async def test_delivers_signed_json_with_the_delivery_key(http_receiver, http, clock) -> None:
    receipt = await hook(http_receiver.url + "/hooks/sitewatch", http, clock).send(outgoing())

    request = http_receiver.last
    assert (request.method, request.path) == ("POST", "/hooks/sitewatch")
    assert request.json() == {"id": "delivery-42-1", "subject": CONTENT.subject, "text": CONTENT.text,
                              "markdown": CONTENT.markdown, "data": CONTENT.data}
    assert "城东调压站".encode() in request.body, "Chinese is sent as UTF-8, not as \\u escapes"
    assert request.headers["content-type"].startswith("application/json")
    assert request.headers["x-sitewatch-delivery"] == "delivery-42-1"
    timestamp = request.headers["x-sitewatch-timestamp"]
    assert timestamp == str(int(NOW.timestamp()))
    expected = hmac.new(SIGNING_KEY.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256).hexdigest()
    assert request.headers["x-sitewatch-signature"] == f"sha256={expected}"
    assert receipt.startswith("HTTP 200")


async def test_unsigned_without_a_credential(http_receiver, http, clock) -> None:
    await hook(http_receiver.url, http, clock, signed=False).send(outgoing())
    assert "x-sitewatch-signature" not in http_receiver.last.headers
    assert http_receiver.last.headers["x-sitewatch-delivery"] == "delivery-42-1"


@pytest.mark.parametrize(("status", "error"), [(500, Unreachable), (503, Unreachable), (429, Unreachable),
                                               (408, Unreachable), (400, Rejected), (404, Rejected), (401, Rejected)])
async def test_status_decides_retry_or_not(http_receiver, http, clock, status, error) -> None:
    http_receiver.answer = lambda request: (status, {"error": "接收方说明"})
    with pytest.raises(error) as caught:
        await hook(http_receiver.url, http, clock).send(outgoing())

    assert caught.value.code == status
    assert str(caught.value).startswith(f"ops-hook: answered HTTP {status}") and "接收方说明" in str(caught.value)


async def test_a_redirect_is_rejected_and_not_followed(http_receiver, http, clock) -> None:
    http_receiver.answer = lambda request: (302, b"moved")
    with pytest.raises(Rejected, match="redirect"):
        await hook(http_receiver.url, http, clock).send(outgoing())
    assert len(http_receiver.requests) == 1


async def test_connection_refused_is_unreachable(closed_port, http, clock) -> None:
    with pytest.raises(Unreachable) as caught:
        await hook(f"http://127.0.0.1:{closed_port}/", http, clock).send(outgoing())
    assert str(caught.value).startswith(f"ops-hook: POST http://127.0.0.1:{closed_port}: ConnectError")


async def test_no_answer_in_time_is_unreachable(http_receiver, http, clock) -> None:
    http_receiver.hold = asyncio.Event()  # the receiver takes the request and does not answer
    with pytest.raises(Unreachable, match=r"no answer within 0.2 s"):
        await hook(http_receiver.url, http, clock, timeout_s=0.2).send(outgoing())


async def test_an_unusable_url_is_rejected(http, clock) -> None:
    with pytest.raises(Rejected, match="unusable address"):
        await hook("ftp://127.0.0.1/hook", http, clock).send(outgoing())


async def test_proxy_variables_are_ignored(http_receiver, closed_port, clock, monkeypatch) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{closed_port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    async with http_client() as http:
        await hook(http_receiver.url, http, clock).send(outgoing())
    assert len(http_receiver.requests) == 1

