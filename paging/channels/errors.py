"""What a channel raises when a message did not go out, and how receivers' answers map onto it.

Two kinds, because the sender loop does two different things with them:

- ``Unreachable``: try again later (connection refused or reset, no answer in time, HTTP
  5xx / 408 / 429, SMTP 4xx, a robot's rate-limit errcode, a vault entry not readable now).
- ``Rejected``: the receiver understood and refused; the same message will be refused again
  (HTTP 4xx, SMTP 5xx such as a bad recipient or a failed login, a robot's bad-key or
  bad-signature errcode, no address to send to).

``str(error)`` is a complete log line: the channel id, what happened, the status or errcode
and the receiver's own words. Secrets never appear in it: every text that may echo one (an
exception naming a URL with a key in its query, a gateway repeating its request) is passed
through ``hide``, which blanks the given values.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING

from sitewatch.vault.errors import VaultError

if TYPE_CHECKING:
    from sitewatch.paging.channels import Credential

_EXCERPT_CHARS = 200  # of a receiver's answer, in an error or a receipt


class ChannelError(Exception):
    """A message was not delivered through channel ``channel``; ``code``: the HTTP status,
    SMTP reply code or robot errcode, when there was one."""

    def __init__(self, channel: str, message: str, *, code: int | None = None, hide: Iterable[str] = ()) -> None:
        message = blank(message, hide)
        super().__init__(f"{channel}: {message}")
        self.channel = channel
        self.message = message
        self.code = code


class Unreachable(ChannelError):
    """Not delivered for now; the same message may go through later."""


class Rejected(ChannelError):
    """Refused for good: retrying the same message will not help."""


def blank(text: str, hide: Iterable[str]) -> str:
    """``text`` with each non-empty value of ``hide`` replaced by ***."""
    for secret in hide:
        if secret:
            text = text.replace(secret, "***")
    return text


def excerpt(body: bytes | str) -> str:
    """The start of a receiver's answer, quoted on one line (its text is of any length and content)."""
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    text = text.strip()
    return repr(text[:_EXCERPT_CHARS] + ("…" if len(text) > _EXCERPT_CHARS else ""))


def read_credential(channel: str, credential: Credential, name: str) -> tuple[str, str]:
    """(username, password) of vault entry ``name``. A missing or undecryptable entry is
    Unreachable: an admin's ``sitewatch vault set`` mends it while the message waits."""
    try:
        return credential()
    except VaultError as exc:
        raise Unreachable(channel, f"credential {name!r} cannot be read: {exc}") from exc


def http_status_error(channel: str, status: int, body: bytes, *, hide: Iterable[str] = ()) -> ChannelError:
    """The error for an HTTP answer that is not a success: 5xx, 408 and 429 are worth another
    try, any other status (4xx, a redirect, which is never followed) is not."""
    words = f"answered HTTP {status}: {excerpt(body)}"
    if status >= 500 or status in (408, 429):
        return Unreachable(channel, words, code=status, hide=hide)
    if 300 <= status < 400:
        words = f"answered HTTP {status} (a redirect, not followed: fix the configured URL): {excerpt(body)}"
    return Rejected(channel, words, code=status, hide=hide)


def robot_receipt(
    channel: str, status: int, body: bytes, *, retry_later: frozenset[int], hide: Iterable[str] = ()
) -> str:
    """The receipt of a group robot's answer ({"errcode": 0, "errmsg": "ok"}), or its error.

    WeCom and DingTalk answer HTTP 200 also for failures, with a non-zero errcode: the ones in
    ``retry_later`` (rate limits, "system busy") are Unreachable, every other one (bad key,
    bad signature, bad payload) Rejected. A 200 without a JSON errcode comes from something in
    between (a proxy's page), not from the robot: Unreachable.
    """
    if not 200 <= status < 300:
        raise http_status_error(channel, status, body, hide=hide)
    try:
        answer = json.loads(body)
        errcode = int(answer["errcode"])
    except (ValueError, TypeError, KeyError) as exc:
        raise Unreachable(channel, f"answered HTTP {status} without a JSON errcode: {excerpt(body)}", code=status,
                          hide=hide) from exc
    if errcode == 0:
        return "errcode 0"
    words = f"errcode {errcode}: {excerpt(str(answer.get('errmsg', '')))}"
    if errcode in retry_later:
        raise Unreachable(channel, words, code=errcode, hide=hide)
    raise Rejected(channel, words, code=errcode, hide=hide)
