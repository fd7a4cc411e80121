"""The paging channels: one module per protocol, each sending one message and nothing more.

``email.py`` (SMTP), ``webhook.py`` (a signed JSON POST; it also holds the HTTP exchange every
HTTP channel makes), ``wecom.py`` and ``dingtalk.py`` (group robots), ``sms.py`` (an HTTP
gateway described by a request template); ``build.py`` makes them from ``[paging]``.

A channel's ``send`` returns a short receipt or raises ``errors.Unreachable`` (try again
later) or ``errors.Rejected`` (trying again will not help). It never retries, waits or
rate-limits: the sender loop owns time (its retries, back-off and ``per_minute``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from sitewatch.paging.models import Outgoing

# The vault entry of a channel: (username, password), read again before every send so a
# rotated secret is used at once (vault.cache.CachedCredential in production).
Credential = Callable[[], tuple[str, str]]


class Channel(Protocol):
    kind: str  # the config's kind: email, webhook, wecom, dingtalk, sms
    name: str  # the channel's id in [paging.channels]

    async def send(self, message: Outgoing) -> str:
        """Deliver ``message``; a short receipt for the record, or Unreachable / Rejected."""
        ...

    async def aclose(self) -> None:
        """Release what the channel holds (the shared HTTP client is its creator's to close)."""
        ...
