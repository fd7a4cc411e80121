"""The inbox against Sitewatch's own channels (paging/channels), configured as its README
says: what they send is checked as WeCom, DingTalk, the gateway and a webhook receiver check
it, kept, and listed on /api/messages and the page — as text."""

from __future__ import annotations

import re
import tomllib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from sitewatch.domain.time import UTC
from sitewatch.paging.channels import Channel
from sitewatch.paging.channels.build import build_channels, http_client
from sitewatch.paging.channels.errors import Rejected, Unreachable
from sitewatch.paging.config import PagingSettings
from sitewatch.paging.models import Content, Outgoing
from sitewatch.simulators.inbox.server import InboxConfig, InboxServer, build, dingtalk_sign
from tests.serving import FixedClock

README = Path(__file__).parents[3] / "simulators" / "inbox" / "README.md"
NOW = datetime(2026, 12, 3, 19, 5, 0, tzinfo=UTC)  # 03:05 on the 4th in Shanghai
KEY, TOKEN, SECRET = "robot-key-1", "dingtalk-token-1", "SECdingtalk-secret-1"
ACCOUNT, PASSWORD, HOOK_SECRET = "sitewatch", "sms-api-key", "hook-s3cret"
VAULT = {"wecom-dispatch": ("robot", KEY), "dingtalk-ops": (TOKEN, SECRET), "sms-gateway": (ACCOUNT, PASSWORD),
         "hook-secret": ("hook", HOOK_SECRET)}
CONFIG = InboxConfig(wecom_key=KEY, wecom_group="dispatch centre", dingtalk_token=TOKEN, dingtalk_secret=SECRET,
                     dingtalk_group="operations", sms_account=ACCOUNT, sms_password=PASSWORD, hook_secret=HOOK_SECRET)
PHONE = "13800000001"
LINK = "http://127.0.0.1:8000/tickets/7"
CONTENT = Content(
    subject="【严重】调压站 003 出口压力过高",
    text=f"调压站 003 出口压力 3.2 kPa，高于上限 2.9 kPa。\n工单 #7：{LINK}",
    markdown=f"### 调压站 003 出口压力过高\n> 出口压力 **3.2 kPa**\n[打开工单 #7]({LINK})",
    short=f"【严重】调压站 003 出口压力 3.2 kPa 过高 {LINK}",
    data={"ticket_id": 7},
)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
async def inbox(clock: FixedClock) -> AsyncIterator[InboxServer]:
    async with build(CONFIG, clock=clock) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with http_client() as client:
        yield client


def readme_channels(url: str, *, vault: dict[str, tuple[str, str]] = VAULT, clock: FixedClock,
                    http: httpx.AsyncClient) -> dict[str, Channel]:
    """The README's sample [paging.channels], pointed at ``url``, with ``vault``'s entries."""
    block = next(b for b in re.findall(r"```toml\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
                 if "[paging.channels." in b)
    raw = tomllib.loads(block.replace("http://127.0.0.1:8025", url))
    settings = PagingSettings(base_url="http://127.0.0.1:8000", channels=raw["paging"]["channels"])
    return build_channels(settings, secrets=lambda name: lambda: vault[name], http=http, clock=clock)


def outgoing(key: str, *, address: str | None = None, mentions: tuple[str, ...] = (),
             content: Content = CONTENT) -> Outgoing:
    return Outgoing(key=key, content=content, address=address, mentions=mentions)


async def listed(http: httpx.AsyncClient, inbox: InboxServer, **query: str) -> list[dict]:
    response = await http.get(inbox.url + "/api/messages", params=query)
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_message_through_each_sitewatch_channel_is_received_and_listed_newest_first(inbox, http, clock):
    channels = readme_channels(inbox.url, clock=clock, http=http)
    assert await channels["dispatch-wecom"].send(outgoing("t7/opened/wecom", mentions=(PHONE,))) == "errcode 0"
    await channels["dispatch-wecom"].send(outgoing("t7/repeat/wecom"))  # no mention: markdown
    assert await channels["ops-dingtalk"].send(outgoing("t7/opened/dingtalk", mentions=(PHONE,))) == "errcode 0"
    await channels["sms"].send(outgoing("t7/opened/person:li.na/sms", address=PHONE))
    await channels["integration"].send(outgoing("t7/opened/integration"))

    hook, sms, dingtalk, markdown, text = await listed(http, inbox)
    assert (text["channel"], text["to"], text["format"]) == ("wecom", "dispatch centre", "text")
    assert text["body"] == CONTENT.text and text["mentions"] == [PHONE], "the on-call phone is @-ed in WeCom text"
    assert (markdown["format"], markdown["body"], markdown["mentions"]) == ("markdown", CONTENT.markdown, [])
    assert (dingtalk["channel"], dingtalk["to"], dingtalk["subject"]) == ("dingtalk", "operations", CONTENT.subject)
    assert dingtalk["body"].startswith(CONTENT.markdown) and dingtalk["mentions"] == [PHONE]
    assert (sms["channel"], sms["to"], sms["body"], sms["key"]) == ("sms", PHONE, CONTENT.short,
                                                                    "t7/opened/person:li.na/sms")
    assert (hook["channel"], hook["subject"], hook["body"], hook["key"]) == ("webhook", CONTENT.subject, CONTENT.text,
                                                                             "t7/opened/integration")
    assert [m["seq"] for m in (hook, sms, dingtalk, markdown, text)] == [5, 4, 3, 2, 1], "newest first"
    assert hook["at"] == NOW.isoformat() and not any(m["repeat"] for m in (hook, sms, dingtalk, markdown, text))
    assert [m["to"] for m in await listed(http, inbox, channel="sms")] == [PHONE]

    page = (await http.get(inbox.url + "/")).text
    assert "2026-12-04 03:05:00" in page, "times in the inbox's zone (Asia/Shanghai)"
    for shown in (CONTENT.subject, "调压站 003 出口压力 3.2 kPa，高于上限 2.9 kPa。", "### 调压站 003 出口压力过高",
                  PHONE, "dispatch centre", "operations", "t7/opened/person:li.na/sms"):
        assert shown in page, f"{shown!r} is not on the page"
    assert 'http-equiv="refresh"' in page, "the page reloads itself"
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page), "nothing is loaded from elsewhere"


async def test_the_page_shows_what_a_message_says_as_text(inbox, http, clock):
    hostile = Content(subject="<script>alert('x')</script> 门禁", text="<img src=x onerror=alert(1)> & more",
                      markdown="<b>bold</b>", short="<i>sms</i>")
    channels = readme_channels(inbox.url, clock=clock, http=http)
    await channels["integration"].send(outgoing("hostile", content=hostile))
    await channels["ops-dingtalk"].send(outgoing("hostile-dingtalk", content=hostile))

    page = (await http.get(inbox.url + "/")).text
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; 门禁" in page
    assert "&lt;img src=x onerror=alert(1)&gt; &amp; more" in page and "&lt;b&gt;bold&lt;/b&gt;" in page
    assert "<script" not in page and "<img" not in page and "<b>" not in page, "the sender's HTML is never markup"
    assert (await listed(http, inbox))[0]["subject"] == hostile.subject, "the JSON keeps the text as sent"


@pytest.mark.parametrize(("vault", "skew", "errcode"), [
    ({"dingtalk-ops": (TOKEN, "SECsomeone-else")}, timedelta(0), 310000),  # signed with another secret
    ({"dingtalk-ops": ("another-robot", SECRET)}, timedelta(0), 300001),  # another robot's token
    ({"dingtalk-ops": (TOKEN, SECRET)}, timedelta(hours=1, seconds=1), 310000),  # the sender's clock an hour off
], ids=["bad-signature", "unknown-token", "stale-timestamp"])
async def test_dingtalk_refuses_what_it_cannot_trust(inbox, http, vault, skew, errcode):
    sender_clock = FixedClock(NOW - skew)
    channel = readme_channels(inbox.url, vault=vault, clock=sender_clock, http=http)["ops-dingtalk"]
    with pytest.raises(Rejected) as refused:
        await channel.send(outgoing("t7/opened/dingtalk", mentions=(PHONE,)))
    assert refused.value.code == errcode, str(refused.value)
    assert await listed(http, inbox) == [], "a refused message is not kept"


async def test_a_dingtalk_signature_must_be_url_encoded(inbox, http):
    """A "+" in the base64 sign, sent as it is, reads as a space: refused, as at DingTalk."""
    stamps = (str(int(NOW.timestamp() * 1000) + i) for i in range(1000))
    stamp = next(s for s in stamps if "+" in dingtalk_sign(SECRET, s))
    sign = dingtalk_sign(SECRET, stamp)
    body = {"msgtype": "markdown", "markdown": {"title": "t", "text": "x"}}
    base = f"{inbox.url}/dingtalk/send?access_token={TOKEN}&timestamp={stamp}&sign="
    raw = await http.post(base + sign, json=body)
    encoded = await http.post(base + quote(sign, safe=""), json=body)
    assert raw.json()["errcode"] == 310000 and encoded.json() == {"errcode": 0, "errmsg": "ok"}


async def test_a_wrong_robot_key_sms_login_or_webhook_signature_is_rejected(inbox, http, clock):
    wrong = {"wecom-dispatch": ("robot", "not-the-key"), "sms-gateway": (ACCOUNT, "not-the-api-key"),
             "hook-secret": ("hook", "not-the-secret")}
    channels = readme_channels(inbox.url, vault=wrong, clock=clock, http=http)
    for name, message, code in (("dispatch-wecom", outgoing("w"), 93000), ("sms", outgoing("s", address=PHONE), 401),
                                ("integration", outgoing("h"), 401)):
        with pytest.raises(Rejected) as refused:
            await channels[name].send(message)
        assert refused.value.code == code, f"{name}: {refused.value}"
    assert await listed(http, inbox) == []


@pytest.mark.parametrize(("body", "errcode"), [
    ({"msgtype": "image", "image": {"base64": "", "md5": ""}}, 40008),
    ({"msgtype": "text", "text": {"content": ""}}, 44004),
    ({"msgtype": "text", "text": {"content": "字" * 683}}, 40058),  # 2049 bytes of UTF-8
    ({"msgtype": "markdown", "markdown": {"content": "x" * 4097}}, 40058),
    ({"msgtype": "text", "text": {"content": "x", "mentioned_mobile_list": PHONE}}, 40035),
])
async def test_wecom_refuses_a_message_of_the_wrong_shape(inbox, http, body, errcode):
    answer = await http.post(f"{inbox.url}/wecom/send", params={"key": KEY}, json=body)
    assert answer.status_code == 200 and answer.json()["errcode"] == errcode, answer.text


async def test_each_robot_takes_twenty_messages_a_minute(inbox, http, clock):
    channels = readme_channels(inbox.url, clock=clock, http=http)
    for name in ("dispatch-wecom", "ops-dingtalk"):
        for number in range(20):
            await channels[name].send(outgoing(f"{name}-{number}"))
        with pytest.raises(Unreachable) as limited:  # a rate limit is worth another try
            await channels[name].send(outgoing(f"{name}-20"))
        assert limited.value.code == {"dispatch-wecom": 45009, "ops-dingtalk": 130101}[name]
    clock.now_value = NOW + timedelta(minutes=1)
    await channels["dispatch-wecom"].send(outgoing("a minute later"))
    assert len(await listed(http, inbox)) == 41


async def test_the_inbox_keeps_the_last_messages_and_marks_a_key_received_again(http, clock):
    async with build(CONFIG.model_copy(update={"keep": 3}), clock=clock) as small:
        hook = readme_channels(small.url, clock=clock, http=http)["integration"]
        for key in ("k1", "k2", "k3", "k3"):  # the last: a re-send after a crash, with the same key
            await hook.send(outgoing(key))
        kept = await listed(http, small)
        page = (await http.get(small.url + "/")).text
    assert [(m["seq"], m["key"], m["repeat"]) for m in kept] == [(4, "k3", True), (3, "k3", False), (2, "k2", False)]
    assert "received before" in page


async def test_the_sms_gateway_takes_a_form_too(inbox, http):
    answer = await http.post(f"{inbox.url}/sms", headers={"Authorization": f"Bearer {PASSWORD}"},
                             data={"account": ACCOUNT, "to": PHONE, "text": "表单短信", "id": "form-1"})
    assert answer.json()["code"] == 0, answer.text
    bad = await http.post(f"{inbox.url}/sms", headers={"Authorization": f"Bearer {PASSWORD}"},
                          data={"account": ACCOUNT, "to": "call me", "text": "x"})
    assert bad.status_code == 400 and bad.json()["code"] == 400
    assert [(m["to"], m["body"], m["key"]) for m in await listed(http, inbox)] == [(PHONE, "表单短信", "form-1")]
