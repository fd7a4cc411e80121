"""An HTTP SMS gateway, described in the configuration by a request template (SmsRequest).

The placeholders {phone}, {text}, {username}, {password} and {id} are replaced in one pass
by plain substitution, never ``str.format``: a template cannot reach attributes
("{0.__class__}"), and a value is never read again as a template, so a message whose text
says "{password}" sends those ten characters, not the gateway's password. In the URL the
values are percent-encoded (a text with "&" or "#" must not end the parameter); in headers,
query, form and JSON string values they are put as they are (httpx encodes the query and
form). Only ``str`` values of the JSON body are filled, through nested objects and lists.

Delivered: the status is one of ``success_status`` and the JSON answer has every key/value
of ``success_json``. Otherwise 5xx, 408, 429 and no answer are Unreachable; anything else is
Rejected, including a success status whose answer does not say success (not JSON, or another
code): the gateway may have sent it already, and trying again would text the person on call
once per retry, so such an answer goes to the dead letters for a person to look at.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

import httpx

from sitewatch.paging.channels import Credential
from sitewatch.paging.channels.errors import (
    Rejected,
    blank,
    excerpt,
    http_status_error,
    read_credential,
)
from sitewatch.paging.channels.webhook import exchange
from sitewatch.paging.config import SmsChannel
from sitewatch.paging.models import Outgoing

_PLACEHOLDER = re.compile(r"\{(phone|text|username|password|id)\}")
_ELLIPSIS = "…"
_TRAILING_LINK = re.compile(r"\s*(https?://\S+)\s*$")


class SmsGateway:
    kind = "sms"

    def __init__(self, name: str, settings: SmsChannel, *, secret: Credential | None, http: httpx.AsyncClient) -> None:
        self.name = name
        self._settings = settings
        self._secret = secret
        self._http = http

    async def send(self, message: Outgoing) -> str:
        if not message.address:
            raise Rejected(self.name, f"message {message.key}: no phone number to send the SMS to")
        username, password = ("", "")
        if self._secret is not None:
            username, password = read_credential(self.name, self._secret, self._settings.credential or "")
        values = {"phone": message.address, "text": cut(message.content.short, self._settings.max_chars),
                  "username": username, "password": password, "id": message.key}
        template = self._settings.request
        request: dict[str, Any] = {
            "headers": {name: fill(value, values) for name, value in template.headers.items()},
            "params": {name: fill(value, values) for name, value in template.query.items()},
        }
        if template.json_body is not None:
            request["json"] = fill_json(template.json_body, values)
        elif template.form is not None:
            request["data"] = {name: fill(value, values) for name, value in template.form.items()}
        hide = (password,)  # the username is an account name, and blanking a short one would garble the words
        response = await exchange(self._http, self.name, template.method, fill(template.url, values, url=True),
                                  timeout_s=self._settings.timeout_s, hide=hide, **request)
        status, body = response.status_code, response.content
        if status not in template.success_status:
            if 200 <= status < 300:
                raise Rejected(self.name, f"answered HTTP {status}, not one of the success statuses "
                                          f"{list(template.success_status)}: {excerpt(body)}", code=status, hide=hide)
            raise http_status_error(self.name, status, body, hide=hide)
        if template.success_json:
            try:
                answer = json.loads(body)
            except ValueError:
                answer = None
            if not isinstance(answer, dict):
                raise Rejected(self.name, f"answered HTTP {status} without a JSON object, so it cannot say "
                                          f"{template.success_json}: {excerpt(body)}", code=status, hide=hide)
            for key, wanted in template.success_json.items():
                if answer.get(key) != wanted:
                    raise Rejected(self.name, f"answered {key}={answer.get(key)!r}, not {wanted!r}: {excerpt(body)}",
                                   code=status, hide=hide)
        return blank(f"HTTP {status} {excerpt(body)}", hide)  # a gateway may echo the password it was sent

    async def aclose(self) -> None:
        """Nothing held: the HTTP client is shared and closed by whoever made it."""


def fill(template: str, values: dict[str, str], *, url: bool = False) -> str:
    """``template`` with each placeholder replaced, in one pass (see the module's docstring)."""
    if url:
        return _PLACEHOLDER.sub(lambda m: quote(values[m.group(1)], safe=""), template)
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def fill_json(node: Any, values: dict[str, str]) -> Any:
    if isinstance(node, str):
        return fill(node, values)
    if isinstance(node, dict):
        return {key: fill_json(value, values) for key, value in node.items()}
    if isinstance(node, list | tuple):
        return [fill_json(item, values) for item in node]
    return node  # numbers, booleans, null: as configured


def cut(short: str, max_chars: int) -> str:
    """``short`` if it has at most ``max_chars`` characters; else cut, with "…", keeping the
    link it ends with (the ticket page, where the rest can be read) whole."""
    if len(short) <= max_chars:
        return short
    link = _TRAILING_LINK.search(short)
    if link is not None and len(link.group(1)) + 2 <= max_chars:
        room = max_chars - len(link.group(1)) - 2  # the "…" and a space
        return short[:link.start()][:room].rstrip() + _ELLIPSIS + " " + link.group(1)
    return short[:max_chars - 1] + _ELLIPSIS
