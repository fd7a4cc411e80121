"""The WeCom group robot against a receiver that answers as WeCom does (HTTP 200, errcode)."""

from __future__ import annotations

import pytest

from sitewatch.paging.channels.errors import Rejected, Unreachable
from sitewatch.paging.channels.wecom import (
    MARKDOWN_MAX_BYTES,
    TEXT_MAX_BYTES,
    WeComRobot,
    cut_utf8,
)
from sitewatch.paging.config import WeComChannel
from sitewatch.paging.models import Content

from .conftest import CONTENT, outgoing, provider

KEY = "693a91f6-7aaa-4bc4-97a0-0ec2sifa5aaa"


def robot(url: str, http) -> WeComRobot:
    settings = WeComChannel(url=url + "/cgi-bin/webhook/send", credential="wecom-ops")
    return WeComRobot("ops-wecom", settings, secret=provider("", KEY), http=http)


async def test_markdown_when_nobody_is_mentioned(http_receiver, http) -> None:
    receipt = await robot(http_receiver.url, http).send(outgoing())

    request = http_receiver.last
    assert (request.method, request.path, request.query) == ("POST", "/cgi-bin/webhook/send", {"key": KEY})
    assert request.json() == {"msgtype": "markdown", "markdown": {"content": CONTENT.markdown}}
    assert receipt == "errcode 0"


async def test_text_with_mentioned_mobiles_when_someone_is_mentioned(http_receiver, http) -> None:
    await robot(http_receiver.url, http).send(outgoing(mentions=("13800000001", "13800000002")))

    assert http_receiver.last.json() == {
        "msgtype": "text",
        "text": {"content": CONTENT.text, "mentioned_mobile_list": ["13800000001", "13800000002"]},
    }


async def test_long_markdown_is_cut_at_a_character_boundary(http_receiver, http) -> None:
    long = Content(subject="s", text="t", markdown="压" * 2000, short="x")  # 6000 bytes of UTF-8
    await robot(http_receiver.url, http).send(outgoing(content=long))

    sent = http_receiver.last.json()["markdown"]["content"]
    assert len(sent.encode()) <= MARKDOWN_MAX_BYTES
    assert sent.endswith("…") and set(sent[:-1]) == {"压"} and len(sent) > 1300


@pytest.mark.parametrize("text", ["a" * 5000, "压力" * 1000, "短", "ab压" * 400, "ab压" * 410])
def test_cut_utf8_fits_stays_valid_and_keeps_what_fits(text: str) -> None:
    cut = cut_utf8(text, TEXT_MAX_BYTES)
    if len(text.encode()) <= TEXT_MAX_BYTES:
        assert cut == text
    else:
        assert cut.endswith("…") and text.startswith(cut[:-1])
        # at most one character (3 bytes) lost to the boundary, besides the 3 of the "…"
        assert TEXT_MAX_BYTES - 6 < len(cut.encode("utf-8")) <= TEXT_MAX_BYTES


async def test_bad_key_errcode_is_rejected_with_wecom_words_and_no_key(http_receiver, http) -> None:
    http_receiver.answer = lambda request: (200, {
        "errcode": 93000,
        "errmsg": f"invalid webhook url, hint: [1755605200056773468916791], key {request.query['key']} unknown"})
    with pytest.raises(Rejected) as caught:
        await robot(http_receiver.url, http).send(outgoing())

    assert caught.value.code == 93000
    assert str(caught.value).startswith("ops-wecom: errcode 93000: 'invalid webhook url")
    assert KEY not in str(caught.value)


async def test_rate_limit_errcode_is_unreachable(http_receiver, http) -> None:
    http_receiver.answer = lambda request: (200, {"errcode": 45009, "errmsg": "api freq out of limit"})
    with pytest.raises(Unreachable, match="errcode 45009: 'api freq out of limit'"):
        await robot(http_receiver.url, http).send(outgoing())


@pytest.mark.parametrize(("status", "body", "error"), [
    (500, b"upstream error", Unreachable),
    (200, b"<html>portal</html>", Unreachable),  # not WeCom speaking: something in between
    (400, {"errcode": 40008, "errmsg": "invalid message type"}, Rejected),
])
async def test_answers_that_are_not_ok(http_receiver, http, status, body, error) -> None:
    http_receiver.answer = lambda request: (status, body)
    with pytest.raises(error):
        await robot(http_receiver.url, http).send(outgoing())


async def test_connection_refused_is_unreachable_and_hides_the_key(closed_port, http) -> None:
    with pytest.raises(Unreachable) as caught:
        await robot(f"http://127.0.0.1:{closed_port}", http).send(outgoing())
    assert KEY not in str(caught.value)
