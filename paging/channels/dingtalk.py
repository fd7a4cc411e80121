"""A DingTalk (钉钉) custom robot with the "signature" (加签) security setting.

POST {url}?access_token=<username>&timestamp=<ms>&sign=<sign>, where sign is the base64 of
HMAC-SHA256 keyed with the signing secret (the vault entry's password, SEC...) over
"<timestamp>\\n<secret>". DingTalk refuses a timestamp more than an hour from its own clock,
so the host's clock must be right; the timestamp comes from the injected clock.

A message is markdown. DingTalk @s a person only when their phone is both in
``at.atMobiles`` and written as "@<phone>" in the text, so the mentions are appended.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta

import httpx

from sitewatch.domain.time import UTC, Clock
from sitewatch.paging.channels import Credential
from sitewatch.paging.channels.errors import read_credential, robot_receipt
from sitewatch.paging.channels.webhook import exchange
from sitewatch.paging.config import DingTalkChannel
from sitewatch.paging.models import Outgoing

# errcodes worth another try: -1 system busy, 130101 "send too fast, exceed 20 times per
# minute", 660026 over the robot's sending quota. Any other (310000 sign not match / keywords
# not in content / IP not allowed, 300001 token is not exist, ...) is Rejected.
RETRY_LATER = frozenset({-1, 130101, 660026})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class DingTalkRobot:
    kind = "dingtalk"

    def __init__(
        self, name: str, settings: DingTalkChannel, *, secret: Credential, http: httpx.AsyncClient, clock: Clock
    ) -> None:
        self.name = name
        self._settings = settings
        self._secret = secret
        self._http = http
        self._clock = clock

    async def send(self, message: Outgoing) -> str:
        token, secret = read_credential(self.name, self._secret, self._settings.credential)
        timestamp = str((self._clock.now() - _EPOCH) // timedelta(milliseconds=1))
        query = {"access_token": token, "timestamp": timestamp, "sign": sign(secret, timestamp)}
        hide = (token, secret)
        response = await exchange(self._http, self.name, "POST", self._settings.url, params=query,
                                  json=payload(message), timeout_s=self._settings.timeout_s, hide=hide)
        return robot_receipt(self.name, response.status_code, response.content, retry_later=RETRY_LATER, hide=hide)

    async def aclose(self) -> None:
        """Nothing held: the HTTP client is shared and closed by whoever made it."""


def sign(secret: str, timestamp: str) -> str:
    """DingTalk's signature of a request made at ``timestamp`` (ms since the epoch, as text)."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")  # httpx percent-encodes its + / = in the query


def payload(message: Outgoing) -> dict:
    text = message.content.markdown
    if message.mentions:
        text += "\n\n" + " ".join(f"@{phone}" for phone in message.mentions)
    return {"msgtype": "markdown", "markdown": {"title": message.content.subject, "text": text},
            "at": {"atMobiles": list(message.mentions), "isAtAll": False}}
