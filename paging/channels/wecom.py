"""A WeCom (企业微信) group robot: POST {url}?key=<the vault entry's password>.

WeCom markdown cannot @ anyone by phone number; the text message can
(``text.mentioned_mobile_list``). So a message with mentions (the person on call) goes as
text, so that their phone rings; one without goes as markdown, which reads better.
WeCom's limits (developer.work.weixin.qq.com/document/path/91770): markdown content at most
4096 bytes, text content at most 2048 bytes, both UTF-8; longer is cut here at a character
boundary rather than refused by WeCom (errcode 40058) and never delivered.
"""

from __future__ import annotations

import httpx

from sitewatch.paging.channels import Credential
from sitewatch.paging.channels.errors import read_credential, robot_receipt
from sitewatch.paging.channels.webhook import exchange
from sitewatch.paging.config import WeComChannel
from sitewatch.paging.models import Outgoing

MARKDOWN_MAX_BYTES = 4096
TEXT_MAX_BYTES = 2048
# errcodes worth another try: -1 system busy, 45009 over the robot's 20 messages a minute.
# Any other (93000 invalid webhook url — a wrong key, 40008 bad message type, ...) is Rejected.
RETRY_LATER = frozenset({-1, 45009})
_ELLIPSIS = "…"


class WeComRobot:
    kind = "wecom"

    def __init__(self, name: str, settings: WeComChannel, *, secret: Credential, http: httpx.AsyncClient) -> None:
        self.name = name
        self._settings = settings
        self._secret = secret
        self._http = http

    async def send(self, message: Outgoing) -> str:
        _, key = read_credential(self.name, self._secret, self._settings.credential)
        response = await exchange(self._http, self.name, "POST", self._settings.url, params={"key": key},
                                  json=payload(message), timeout_s=self._settings.timeout_s, hide=(key,))
        return robot_receipt(self.name, response.status_code, response.content, retry_later=RETRY_LATER, hide=(key,))

    async def aclose(self) -> None:
        """Nothing held: the HTTP client is shared and closed by whoever made it."""


def payload(message: Outgoing) -> dict:
    if message.mentions:
        return {"msgtype": "text", "text": {"content": cut_utf8(message.content.text, TEXT_MAX_BYTES),
                                            "mentioned_mobile_list": list(message.mentions)}}
    return {"msgtype": "markdown", "markdown": {"content": cut_utf8(message.content.markdown, MARKDOWN_MAX_BYTES)}}


def cut_utf8(text: str, max_bytes: int) -> str:
    """``text`` if its UTF-8 fits in ``max_bytes``, else its longest start that fits with "…"
    after it, never splitting a character (a Chinese one is three bytes)."""
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return text
    room = max_bytes - len(_ELLIPSIS.encode("utf-8"))
    return data[:room].decode("utf-8", errors="ignore") + _ELLIPSIS
