"""The DingTalk robot against a receiver that checks the signature as DingTalk does: it
recomputes it from the shared secret and the timestamp in the query, and answers DingTalk's
own errcodes when something does not match."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from sitewatch.paging.channels.dingtalk import DingTalkRobot
from sitewatch.paging.channels.errors import Rejected, Unreachable
from sitewatch.paging.config import DingTalkChannel

from .conftest import CONTENT, NOW, outgoing, provider
from .receivers import Answer, Received

TOKEN = "b955a1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0"
SECRET = "SEC0f094e0d33f1c2b3a4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6"


def dingtalk_server(request: Received) -> Answer:
    """What oapi.dingtalk.com/robot/send answers (HTTP 200 in every case)."""
    if request.query.get("access_token") != TOKEN:
        return 200, {"errcode": 300001, "errmsg": "token is not exist"}
    timestamp = request.query["timestamp"]
    digest = hmac.new(SECRET.encode(), f"{timestamp}\n{SECRET}".encode(), hashlib.sha256).digest()
    if request.query.get("sign") != base64.b64encode(digest).decode():
        return 200, {"errcode": 310000,
                     "errmsg": "sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]"}
    return 200, {"errcode": 0, "errmsg": "ok"}


def robot(url: str, http, clock, *, secret: str = SECRET) -> DingTalkRobot:
    settings = DingTalkChannel(url=url + "/robot/send", credential="dingtalk-dispatch")
    return DingTalkRobot("dispatch-dingtalk", settings, secret=provider(TOKEN, secret), http=http, clock=clock)


async def test_signed_markdown_is_accepted(http_receiver, http, clock) -> None:
    http_receiver.answer = dingtalk_server
    receipt = await robot(http_receiver.url, http, clock).send(outgoing())

    request = http_receiver.last
    assert (request.method, request.path) == ("POST", "/robot/send")
    assert request.query["timestamp"] == str(int(NOW.timestamp() * 1000)) == "1796263200123"
    assert request.json() == {"msgtype": "markdown", "markdown": {"title": CONTENT.subject, "text": CONTENT.markdown},
                              "at": {"atMobiles": [], "isAtAll": False}}
    assert receipt == "errcode 0"


async def test_mentions_are_in_at_mobiles_and_written_in_the_text(http_receiver, http, clock) -> None:
    http_receiver.answer = dingtalk_server
    await robot(http_receiver.url, http, clock).send(outgoing(mentions=("13800000001", "13800000009")))

    body = http_receiver.last.json()
    assert body["at"] == {"atMobiles": ["13800000001", "13800000009"], "isAtAll": False}
    assert body["markdown"]["text"] == CONTENT.markdown + "\n\n@13800000001 @13800000009"


async def test_signature_survives_every_clock_reading(http_receiver, http, clock) -> None:
    """Base64 signatures hold + / and =: each must reach DingTalk percent-encoded, whatever the time."""
    http_receiver.answer = dingtalk_server
    channel = robot(http_receiver.url, http, clock)
    for step_ms in range(40):
        clock.now_value = NOW.replace(microsecond=step_ms * 1000)
        await channel.send(outgoing())
    signs = {r.query["sign"] for r in http_receiver.requests}
    assert len(signs) == 40 and any("+" in s or "/" in s for s in signs), "the readings did not exercise + or /"


async def test_wrong_secret_is_rejected_with_dingtalk_words(http_receiver, http, clock) -> None:
    http_receiver.answer = dingtalk_server
    with pytest.raises(Rejected) as caught:
        await robot(http_receiver.url, http, clock, secret="SECwrong-secret").send(outgoing())

    assert caught.value.code == 310000
    assert str(caught.value).startswith("dispatch-dingtalk: errcode 310000: 'sign not match")
    assert "SECwrong-secret" not in str(caught.value) and TOKEN not in str(caught.value)


async def test_too_fast_is_unreachable(http_receiver, http, clock) -> None:
    too_fast = {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}
    http_receiver.answer = lambda request: (200, too_fast)
    with pytest.raises(Unreachable, match="errcode 130101: 'send too fast"):
        await robot(http_receiver.url, http, clock).send(outgoing())


async def test_server_error_is_unreachable_and_refused_connection_hides_the_token(http_receiver, closed_port, http,
                                                                                   clock) -> None:
    http_receiver.answer = lambda request: (502, b"bad gateway")
    with pytest.raises(Unreachable, match="HTTP 502"):
        await robot(http_receiver.url, http, clock).send(outgoing())
    with pytest.raises(Unreachable) as caught:
        await robot(f"http://127.0.0.1:{closed_port}", http, clock).send(outgoing())
    assert TOKEN not in str(caught.value) and SECRET not in str(caught.value)
