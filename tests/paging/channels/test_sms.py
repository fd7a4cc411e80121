"""The SMS gateway: a request template filled and sent to a real HTTP receiver, and the
gateway's answer judged by the template's success rules."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from sitewatch.paging.channels.errors import Rejected, Unreachable
from sitewatch.paging.channels.sms import SmsGateway, cut
from sitewatch.paging.config import SmsChannel
from sitewatch.paging.models import Content

from .conftest import CONTENT, LINK, outgoing, provider

USER, PASSWORD = "sw-account", "gw-Pa55-w0rd"  # header values are ASCII
PHONE = "+8613800000001"


def gateway(request: dict[str, Any], http, *, max_chars: int = 300, timeout_s: float = 5) -> SmsGateway:
    settings = SmsChannel.model_validate({"kind": "sms", "credential": "sms-gw", "max_chars": max_chars,
                                          "timeout_s": timeout_s, "request": request})
    return SmsGateway("sms", settings, secret=provider(USER, PASSWORD), http=http)


def form_template(url: str) -> dict[str, Any]:
    return {
        "method": "POST", "url": url + "/v2/{username}/send",
        "headers": {"Authorization": "Bearer {password}", "X-Request-Id": "{id}"},
        "query": {"sign": "sitewatch", "ref": "{id}"},
        "form": {"mobile": "{phone}", "content": "【Sitewatch】{text}"},
        "success_status": [200], "success_json": {"code": 0},
    }


async def test_form_template_is_filled_and_sent(http_receiver, http) -> None:
    http_receiver.answer = lambda request: (200, {"code": 0, "msgid": "m-20261203-1"})
    receipt = await gateway(form_template(http_receiver.url), http).send(outgoing(address=PHONE))

    request = http_receiver.last
    assert (request.method, request.path) == ("POST", f"/v2/{USER}/send")
    assert request.query == {"sign": "sitewatch", "ref": "delivery-42-1"}
    assert request.headers["authorization"] == f"Bearer {PASSWORD}"
    assert request.headers["x-request-id"] == "delivery-42-1"
    assert request.form() == {"mobile": PHONE, "content": f"【Sitewatch】{CONTENT.short}"}
    assert "m-20261203-1" in receipt and receipt.startswith("HTTP 200")


async def test_json_template_is_filled_through_objects_and_lists(http_receiver, http) -> None:
    template = {
        "method": "PUT", "url": http_receiver.url + "/sms",
        "json": {"to": ["{phone}"], "message": {"content": "{text}", "ref": "{id}", "priority": 1, "flash": False,
                                                "tags": ["page", None]},
                 "auth": {"user": "{username}", "pass": "{password}"}},
    }
    await gateway(template, http).send(outgoing(address=PHONE))

    request = http_receiver.last
    assert request.method == "PUT" and request.headers["content-type"].startswith("application/json")
    assert request.json() == {
        "to": [PHONE], "message": {"content": CONTENT.short, "ref": "delivery-42-1", "priority": 1, "flash": False,
                                   "tags": ["page", None]},
        "auth": {"user": USER, "pass": PASSWORD},
    }


async def test_values_in_the_url_are_percent_encoded(http_receiver, http) -> None:
    template = {"method": "GET", "url": http_receiver.url + "/send?to={phone}&msg={text}&u={username}"}
    content = Content(subject="s", text="t", markdown="m", short="压力 & 温度 #3 100%? a=b")
    await gateway(template, http).send(outgoing(address=PHONE, content=content))

    assert http_receiver.last.query == {"to": PHONE, "msg": content.short, "u": USER}


async def test_a_text_naming_placeholders_is_sent_as_written(http_receiver, http) -> None:
    tricky = "注意 {password} {username} {0.__class__} {id} {phone}{text} {{password}}"
    template = {"url": http_receiver.url + "/sms", "json": {"text": "{text}", "key": "{password}"}}
    await gateway(template, http).send(outgoing(address=PHONE, content=Content("s", "t", "m", tricky)))

    assert http_receiver.last.json() == {"text": tricky, "key": PASSWORD}


async def test_long_text_is_cut_to_max_chars_keeping_the_link(http_receiver, http) -> None:
    long = Content("s", "t", "m", "城东调压站出口压力过高，" * 10 + LINK)
    template = {"url": http_receiver.url + "/sms", "form": {"c": "{text}"}}
    await gateway(template, http, max_chars=60).send(outgoing(address=PHONE, content=long))

    sent = http_receiver.last.form()["c"]
    assert len(sent) == 60 and sent.endswith("… " + LINK) and sent.startswith("城东调压站出口压力过高")


def test_cut_without_a_link_and_with_a_link_too_long_to_keep() -> None:
    assert cut("短信", 20) == "短信"
    assert cut("压" * 30, 20) == "压" * 19 + "…"
    assert cut("压" * 30 + " https://x.example/" + "t" * 30, 20) == ("压" * 30 + " https://x.example/")[:19] + "…"


@pytest.mark.parametrize(("status", "answer", "error", "words"), [
    (200, {"code": 17, "msg": "余额不足"}, Rejected, "code=17, not 0"),
    (200, b"OK", Rejected, "without a JSON object"),
    (202, {"code": 0}, Rejected, "not one of the success statuses"),
    (400, {"code": 3, "msg": "bad mobile"}, Rejected, "HTTP 400"),
    (503, b"busy", Unreachable, "HTTP 503"),
    (429, b"slow down", Unreachable, "HTTP 429"),
])
async def test_answers_that_do_not_say_sent(http_receiver, http, status, answer, error, words) -> None:
    http_receiver.answer = lambda request: (status, answer)
    with pytest.raises(error) as caught:
        await gateway(form_template(http_receiver.url), http).send(outgoing(address=PHONE))
    assert words in str(caught.value), str(caught.value)
    assert caught.value.code == status


async def test_a_gateway_echoing_the_password_does_not_put_it_in_receipts_or_errors(http_receiver, http) -> None:
    http_receiver.answer = lambda request: (200, {"code": 0, "echo": request.headers["authorization"]})
    template = form_template(http_receiver.url) | {"headers": {"Authorization": "{password}"}}
    receipt = await gateway(template, http).send(outgoing(address=PHONE))
    assert PASSWORD not in receipt and "***" in receipt

    http_receiver.answer = lambda request: (401, {"error": f"password {request.headers['authorization']} wrong"})
    with pytest.raises(Rejected) as caught:
        await gateway(template, http).send(outgoing(address=PHONE))
    assert PASSWORD not in str(caught.value)


async def test_timeout_and_refused_connection_are_unreachable(http_receiver, closed_port, http) -> None:
    http_receiver.hold = asyncio.Event()
    with pytest.raises(Unreachable, match="no answer within 0.2 s"):
        await gateway(form_template(http_receiver.url), http, timeout_s=0.2).send(outgoing(address=PHONE))
    with pytest.raises(Unreachable):
        await gateway(form_template(f"http://127.0.0.1:{closed_port}"), http).send(outgoing(address=PHONE))


async def test_no_phone_number_is_rejected(http_receiver, http) -> None:
    with pytest.raises(Rejected, match="no phone number"):
        await gateway(form_template(http_receiver.url), http).send(outgoing(address=None))
    assert http_receiver.requests == []
