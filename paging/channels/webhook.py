"""The generic JSON webhook, and the HTTP exchange every HTTP channel makes (the one place
that turns httpx's exceptions into ``errors``).

The webhook POSTs ``{"id", "subject", "text", "markdown", "data"}`` as compact UTF-8 JSON.
``X-Sitewatch-Delivery`` carries the message key, the same on every attempt, so a receiver
can drop a repeat; with a credential, ``X-Sitewatch-Signature`` is ``sha256=`` + the hex
HMAC-SHA256, keyed with the vault entry's password, of ``"<X-Sitewatch-Timestamp>.<body>"``:
a receiver checks it and refuses old timestamps, so a captured request cannot be replayed
later. Any 2xx is delivered.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from typing import Any

import httpx

from sitewatch.domain.time import Clock
from sitewatch.paging.channels import Credential
from sitewatch.paging.channels.errors import (
    Rejected,
    Unreachable,
    excerpt,
    http_status_error,
    read_credential,
)
from sitewatch.paging.config import WebhookChannel
from sitewatch.paging.models import Outgoing


def http_client() -> httpx.AsyncClient:
    """The client the HTTP channels of a process share (its creator closes it).

    ``trust_env=False``: an HTTP(S)_PROXY or ALL_PROXY variable in the service's environment
    must not send robot keys and messages through some proxy. Redirects are not followed: a
    robot or gateway that redirects is misconfigured, and following would re-send the body
    (and a key in the query) to wherever it points. Timeouts are given per request.
    """
    return httpx.AsyncClient(trust_env=False, follow_redirects=False)


async def exchange(
    http: httpx.AsyncClient, channel: str, method: str, url: str, *, timeout_s: float, hide: Iterable[str] = (),
    params: dict[str, str] | None = None, **request: Any,
) -> httpx.Response:
    """One request, with the whole answer read; raises Unreachable when no answer came
    (refused, reset, ``timeout_s`` passed for connecting, sending or a read) and Rejected when
    the request cannot be made at all. ``params`` are added to the URL's own query (httpx's
    ``params=`` would replace it). ``hide``: secrets in the URL, query or body."""
    hide = tuple(hide)
    where = method  # then the scheme, host and port: never the path or query, where keys may be
    try:
        target = httpx.URL(url)
        where = f"{method} {target.scheme}://{target.host}" + (f":{target.port}" if target.port else "")
        if params:
            target = target.copy_merge_params(params)
        return await http.request(method, target, timeout=timeout_s, **request)
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        raise Rejected(channel, f"unusable address: {exc}", hide=hide) from exc
    except (httpx.LocalProtocolError, UnicodeEncodeError) as exc:  # e.g. a line break or non-ASCII in a header
        raise Rejected(channel, f"{where}: the request cannot be sent: {exc}", hide=hide) from exc
    except httpx.TimeoutException as exc:
        raise Unreachable(channel, f"{where}: no answer within {timeout_s:g} s ({type(exc).__name__})",
                          hide=hide) from exc
    except httpx.RequestError as exc:  # connect / read / write errors, TLS failures, a dropped or garbled answer
        raise Unreachable(channel, f"{where}: {type(exc).__name__}: {exc or 'connection failed'}", hide=hide) from exc


class JsonWebhook:
    kind = "webhook"

    def __init__(
        self, name: str, settings: WebhookChannel, *, secret: Credential | None, http: httpx.AsyncClient, clock: Clock
    ) -> None:
        self.name = name
        self._settings = settings
        self._secret = secret
        self._http = http
        self._clock = clock

    async def send(self, message: Outgoing) -> str:
        content = message.content
        body = json.dumps(
            {"id": message.key, "subject": content.subject, "text": content.text, "markdown": content.markdown,
             "data": content.data},
            ensure_ascii=False, separators=(",", ":"),
        )
        timestamp = str(int(self._clock.now().timestamp()))
        headers = {"Content-Type": "application/json; charset=utf-8", "X-Sitewatch-Delivery": message.key,
                   "X-Sitewatch-Timestamp": timestamp}
        hide: tuple[str, ...] = ()
        if self._secret is not None:
            _, password = read_credential(self.name, self._secret, self._settings.credential or "")
            hide = (password,)
            headers["X-Sitewatch-Signature"] = "sha256=" + signature(password, timestamp, body)
        response = await exchange(self._http, self.name, "POST", self._settings.url, timeout_s=self._settings.timeout_s,
                                  hide=hide, content=body.encode("utf-8"), headers=headers)
        if not response.is_success:
            raise http_status_error(self.name, response.status_code, response.content, hide=hide)
        return f"HTTP {response.status_code} {excerpt(response.content)}"

    async def aclose(self) -> None:
        """Nothing held: the HTTP client is shared and closed by whoever made it."""


def signature(password: str, timestamp: str, body: str) -> str:
    """The hex HMAC-SHA256 a receiver recomputes to trust a delivery."""
    return hmac.new(password.encode("utf-8"), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()
