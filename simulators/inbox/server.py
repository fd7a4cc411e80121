"""The inbox: one HTTP server standing in for the WeCom and DingTalk robot servers, an SMS
gateway and a webhook endpoint, so paging can be seen working where no outside host is
reachable (a control room's offline network, the demo, the tests).

Each route checks a request the way the real receiver does — the robot key, DingTalk's
signature and clock window, the message shapes and byte limits, the gateway's login, the
webhook's HMAC — and answers as it would, so a channel that passes here passes there. What
it accepts is kept in memory (the last ``keep`` messages) and listed, newest first, on
``GET /`` (a page that refreshes itself) and ``GET /api/messages`` (JSON).

``build(config, clock=...)`` gives an ``InboxServer``; ``await server.start()`` binds
(port 0: an ephemeral one) and ``server.url`` says where.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import re
from collections import deque
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Self
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from sitewatch.config.types import TimeZoneName
from sitewatch.domain.time import UTC, Clock, SystemClock
from sitewatch.simulators.common.control import AppServer
from sitewatch.simulators.inbox.page import render_page

LOOPBACK = "127.0.0.1"
Kind = Literal["wecom", "dingtalk", "sms", "webhook"]
Format = Literal["text", "markdown"]

# WeCom's limits on a robot message's content, in UTF-8 bytes (developer.work.weixin.qq.com/document/path/91770).
WECOM_TEXT_MAX_BYTES = 2048
WECOM_MARKDOWN_MAX_BYTES = 4096
SMS_MAX_CHARS = 2000
_PHONE = re.compile(r"^\+?[0-9]{5,20}$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class InboxConfig(BaseModel):
    """The robots, gateway login and webhook secret the inbox accepts. ``None`` for the SMS
    login or the webhook secret: not checked (a gateway on a trusted network, an unsigned hook)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = LOOPBACK
    port: int = Field(default=0, ge=0, le=65535)  # 0: an ephemeral one, chosen at start
    wecom_key: str = Field(min_length=1)  # the WeCom robot's key (?key=)
    wecom_group: str = "WeCom group"  # the group chat the robot posts to, as the page names it
    dingtalk_token: str = Field(min_length=1)  # the DingTalk robot's access_token
    dingtalk_secret: str = Field(min_length=1)  # its signing secret (SEC...)
    dingtalk_group: str = "DingTalk group"
    sms_account: str | None = None  # the gateway's account, sent as the "account" field
    sms_password: str | None = None  # its API key, sent as Authorization: Bearer <key>
    hook_secret: str | None = None  # X-Sitewatch-Signature's key
    keep: int = Field(default=500, ge=1, le=100_000)  # messages kept; the oldest go first
    robot_per_minute: int | None = Field(default=20, ge=1)  # each robot's limit (both allow 20); None: none
    dingtalk_skew_s: float = Field(default=3600.0, gt=0)  # DingTalk refuses timestamps further off than an hour
    hook_skew_s: float = Field(default=300.0, gt=0)  # how old a webhook's signed timestamp may be
    time_zone: TimeZoneName = "Asia/Shanghai"  # the page shows times in it


@dataclass(frozen=True, slots=True)
class Received:
    """One message the inbox accepted."""

    seq: int  # 1, 2, ... in the order received
    at: datetime  # when (UTC)
    channel: Kind
    to: str  # the group chat (robots), the phone number (SMS), "webhook"
    subject: str  # DingTalk's markdown title, the webhook's subject; "" where the message has none
    body: str  # the text or markdown as sent
    format: Format
    mentions: tuple[str, ...] = ()  # phones @-ed in a group chat (DingTalk: only those also written in the text)
    key: str | None = None  # the sender's idempotency key: the SMS "id", the webhook's X-Sitewatch-Delivery
    repeat: bool = False  # a message with the same key is already in the inbox (a re-send after a crash)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "at": self.at.isoformat(), "mentions": list(self.mentions)}


class Inbox:
    """The last ``keep`` messages received, oldest dropped first."""

    def __init__(self, *, keep: int, clock: Clock) -> None:
        self._kept: deque[Received] = deque(maxlen=keep)
        self._seq = itertools.count(1)
        self._clock = clock

    def add(self, channel: Kind, *, to: str, body: str, format: Format, subject: str = "",
            mentions: tuple[str, ...] = (), key: str | None = None) -> Received:
        repeat = key is not None and any(m.key == key for m in self._kept)
        message = Received(seq=next(self._seq), at=self._clock.now(), channel=channel, to=to, subject=subject,
                           body=body, format=format, mentions=mentions, key=key, repeat=repeat)
        self._kept.append(message)
        return message

    def messages(self, channel: Kind | None = None) -> list[Received]:
        """Newest first; only ``channel``'s when given."""
        return [m for m in reversed(self._kept) if channel is None or m.channel == channel]


class _RateWindow:
    """A robot's per-minute limit: WeCom answers 45009 and DingTalk 130101 past it."""

    def __init__(self, per_minute: int | None, clock: Clock) -> None:
        self._per_minute = per_minute
        self._clock = clock
        self._sent: deque[datetime] = deque()

    def admit(self) -> bool:
        if self._per_minute is None:
            return True
        now = self._clock.now()
        while self._sent and now - self._sent[0] >= timedelta(minutes=1):
            self._sent.popleft()
        if len(self._sent) >= self._per_minute:
            return False
        self._sent.append(now)
        return True


class Refused(Exception):
    """A request the receiver turns down: a robot's errcode (HTTP 200), or an HTTP status."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def create_app(config: InboxConfig, inbox: Inbox, *, clock: Clock) -> FastAPI:
    # No /docs: Swagger UI loads from a CDN, and the inbox is for networks without one.
    app = FastAPI(title="Message inbox simulator", docs_url=None, redoc_url=None)
    wecom_window = _RateWindow(config.robot_per_minute, clock)
    dingtalk_window = _RateWindow(config.robot_per_minute, clock)

    @app.post("/wecom/send")
    async def wecom_send(request: Request) -> JSONResponse:
        try:
            if not _same(request.query_params.get("key", ""), config.wecom_key):
                raise Refused(93000, "invalid webhook url")
            body, format, mentions = _wecom_message(await _json_object(request, errcode=40035))
            if not wecom_window.admit():
                raise Refused(45009, "api freq out of limit")
        except Refused as refused:
            return _robot(refused.code, refused.message)
        inbox.add("wecom", to=config.wecom_group, body=body, format=format, mentions=mentions)
        return _robot(0, "ok")

    @app.post("/dingtalk/send")
    async def dingtalk_send(request: Request) -> JSONResponse:
        try:
            _check_dingtalk_query(dict(request.query_params), config, now=clock.now())
            subject, body, format, mentions = _dingtalk_message(await _json_object(request, errcode=40035))
            if not dingtalk_window.admit():
                raise Refused(130101, "send too fast, exceed 20 times per minute")
        except Refused as refused:
            return _robot(refused.code, refused.message)
        inbox.add("dingtalk", to=config.dingtalk_group, subject=subject, body=body, format=format, mentions=mentions)
        return _robot(0, "ok")

    @app.post("/sms")
    async def sms(request: Request) -> JSONResponse:
        try:
            fields = await _sms_fields(request)
            _check_sms_login(request.headers.get("authorization", ""), fields, config)
            phone, text = fields.get("to", ""), fields.get("text", "")
            if not isinstance(phone, str) or not _PHONE.match(phone):
                raise Refused(400, f"bad phone number {phone!r}")
            if not isinstance(text, str) or not text.strip() or len(text) > SMS_MAX_CHARS:
                raise Refused(400, f"the text must be 1 to {SMS_MAX_CHARS} characters")
        except Refused as refused:
            return JSONResponse({"code": refused.code, "msg": refused.message}, status_code=refused.code)
        key = fields.get("id")
        key = key if isinstance(key, str) and key else None
        message = inbox.add("sms", to=phone, body=text, format="text", key=key)
        return JSONResponse({"code": 0, "msg": "ok", "message_id": message.seq})

    @app.post("/hook")
    async def hook(request: Request) -> JSONResponse:
        raw = await request.body()
        try:
            if config.hook_secret is not None:
                _check_hook_signature(request.headers, raw, config, now=clock.now())
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            if not isinstance(body, dict) or not isinstance(body.get("text"), str):
                raise Refused(400, 'the body is not a JSON object with a "text"')
        except Refused as refused:
            return JSONResponse({"detail": refused.message}, status_code=refused.code)
        key = request.headers.get("x-sitewatch-delivery") or body.get("id")
        inbox.add("webhook", to="webhook", subject=str(body.get("subject") or ""), body=body["text"], format="text",
                  key=str(key) if key else None)
        return JSONResponse({"ok": True})

    @app.get("/api/messages")
    async def list_messages(channel: Kind | None = None) -> list[dict[str, Any]]:
        return [m.to_json() for m in inbox.messages(channel)]

    @app.get("/", response_class=HTMLResponse)
    async def page(channel: Kind | None = None) -> HTMLResponse:
        return HTMLResponse(render_page(inbox.messages(channel), channel=channel, time_zone=config.time_zone))

    return app


def _robot(errcode: int, errmsg: str) -> JSONResponse:
    """Both robots answer HTTP 200 with an errcode, failures included."""
    return JSONResponse({"errcode": errcode, "errmsg": errmsg})


def _same(given: str, wanted: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), wanted.encode("utf-8"))


async def _json_object(request: Request, *, errcode: int) -> dict[str, Any]:
    try:
        body = json.loads(await request.body())
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise Refused(errcode, "invalid parameter: the body is not a JSON object")
    return body


def _wecom_message(body: dict[str, Any]) -> tuple[str, Format, tuple[str, ...]]:
    """(content, format, mentions) of a text or markdown message, or the errcode WeCom gives."""
    kind = body.get("msgtype")
    if kind not in ("text", "markdown"):
        raise Refused(40008, f"invalid message type {kind!r} (the inbox takes text and markdown)")
    part = body.get(kind)
    content = part.get("content") if isinstance(part, dict) else None
    if not isinstance(content, str) or not content:
        raise Refused(44004, f"{kind}.content is empty")
    limit = WECOM_TEXT_MAX_BYTES if kind == "text" else WECOM_MARKDOWN_MAX_BYTES
    if len(content.encode("utf-8")) > limit:
        raise Refused(40058, f"{kind}.content exceed max length {limit}")
    mentions: tuple[str, ...] = ()
    if kind == "text":  # markdown cannot @ anyone by phone: WeCom ignores a list there
        mentions = _strings(part.get("mentioned_mobile_list", []), f"{kind}.mentioned_mobile_list", errcode=40035)
    return content, kind, mentions


def _check_dingtalk_query(query: dict[str, str], config: InboxConfig, *, now: datetime) -> None:
    """The robot's token, then the signature and its timestamp, as DingTalk checks them."""
    if not _same(query.get("access_token", ""), config.dingtalk_token):
        raise Refused(300001, "token is not exist")
    timestamp = query.get("timestamp", "")
    try:
        sent_ms = int(timestamp)
    except ValueError:
        raise Refused(310000, f"invalid timestamp {timestamp!r}") from None
    now_ms = (now - _EPOCH) // timedelta(milliseconds=1)
    if abs(now_ms - sent_ms) > config.dingtalk_skew_s * 1000:
        raise Refused(310000, "invalid timestamp: more than an hour from the server's clock")
    if not _same(query.get("sign", ""), dingtalk_sign(config.dingtalk_secret, timestamp)):
        raise Refused(310000, "sign not match")


def dingtalk_sign(secret: str, timestamp: str) -> str:
    """base64(HMAC-SHA256(secret, "<timestamp>\\n<secret>")): what the query's sign must be
    once URL-decoded (a "+" sent as it is reads as a space, and fails, as at DingTalk)."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def _dingtalk_message(body: dict[str, Any]) -> tuple[str, str, Format, tuple[str, ...]]:
    """(title, text, format, mentions); a phone is @-ed only when it is in at.atMobiles AND
    written as "@<phone>" in the text — DingTalk rings nobody otherwise."""
    kind = body.get("msgtype")
    part = body.get(kind) if isinstance(kind, str) else None
    if kind == "markdown":
        title = part.get("title") if isinstance(part, dict) else None
        text = part.get("text") if isinstance(part, dict) else None
        if not isinstance(title, str) or not title or not isinstance(text, str) or not text:
            raise Refused(40035, "缺少参数 markdown.title / markdown.text")
    elif kind == "text":
        title, text = "", part.get("content") if isinstance(part, dict) else None
        if not isinstance(text, str) or not text:
            raise Refused(40035, "缺少参数 text.content")
    else:
        raise Refused(40035, f"unsupported msgtype {kind!r} (the inbox takes text and markdown)")
    at = body.get("at", {})
    if not isinstance(at, dict):
        raise Refused(40035, "at is not an object")
    phones = _strings(at.get("atMobiles", []), "at.atMobiles", errcode=40035)
    return title, text, kind, tuple(p for p in phones if f"@{p}" in text)


async def _sms_fields(request: Request) -> dict[str, Any]:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw = await request.body()
    if media == "application/json":
        try:
            fields = json.loads(raw)
        except ValueError:
            fields = None
        if not isinstance(fields, dict):
            raise Refused(400, "the body is not a JSON object")
        return fields
    if media == "application/x-www-form-urlencoded":
        try:
            return dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError:
            raise Refused(400, "the form is not UTF-8") from None
    raise Refused(415, "send a JSON object or a form (to, text, id, account)")


def _check_sms_login(authorization: str, fields: dict[str, Any], config: InboxConfig) -> None:
    if config.sms_password is not None and not _same(authorization, f"Bearer {config.sms_password}"):
        raise Refused(401, "bad or missing API key (Authorization: Bearer ...)")
    account = fields.get("account", "")
    if config.sms_account is not None and not (isinstance(account, str) and _same(account, config.sms_account)):
        raise Refused(401, f"unknown account {account!r}")


def _check_hook_signature(headers: Any, raw: bytes, config: InboxConfig, *, now: datetime) -> None:
    """X-Sitewatch-Signature: sha256=<hex HMAC of "<X-Sitewatch-Timestamp>.<body>">, the
    timestamp (s) recent: a captured request cannot be replayed later."""
    assert config.hook_secret is not None
    timestamp = headers.get("x-sitewatch-timestamp", "")
    try:
        sent_s = int(timestamp)
    except ValueError:
        raise Refused(401, "missing or bad X-Sitewatch-Timestamp") from None
    if abs(now.timestamp() - sent_s) > config.hook_skew_s:
        raise Refused(401, "X-Sitewatch-Timestamp too far from the receiver's clock")
    digest = hmac.new(config.hook_secret.encode("utf-8"), timestamp.encode("ascii") + b"." + raw, hashlib.sha256)
    if not _same(headers.get("x-sitewatch-signature", ""), "sha256=" + digest.hexdigest()):
        raise Refused(401, "bad X-Sitewatch-Signature")


def _strings(value: Any, where: str, *, errcode: int) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise Refused(errcode, f"{where} is not a list of strings")
    return tuple(value)


class InboxServer:
    """The inbox app on ``config.host:config.port`` in the running event loop."""

    def __init__(self, config: InboxConfig, *, clock: Clock | None = None) -> None:
        clock = clock or SystemClock()
        self.config = config
        self.inbox = Inbox(keep=config.keep, clock=clock)
        self._server = AppServer(lambda: create_app(config, self.inbox, clock=clock), host=config.host, name="inbox")
        self._port: int | None = None

    @property
    def url(self) -> str:
        """Where it listens, without a trailing slash (the page is url + "/")."""
        if self._port is None:
            raise RuntimeError("the inbox is not started")
        return f"http://{self.config.host}:{self._port}"

    async def start(self) -> None:
        self._port = await self._server.open(port=self.config.port)

    async def stop(self) -> None:
        await self._server.close()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


def build(config: InboxConfig, *, clock: Clock | None = None) -> InboxServer:
    return InboxServer(config, clock=clock)
