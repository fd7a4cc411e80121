"""The channels of ``[paging.channels]``, made once per process by the sender.

    http = http_client()
    channels = build_channels(settings, secrets=lambda name: CachedCredential(vault, name, ...),
                              http=http, clock=SystemClock())
    ...
    for channel in channels.values():
        await channel.aclose()
    await http.aclose()
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from sitewatch.domain.time import Clock
from sitewatch.paging.channels import Channel, Credential
from sitewatch.paging.channels.dingtalk import DingTalkRobot
from sitewatch.paging.channels.email import SmtpChannel
from sitewatch.paging.channels.sms import SmsGateway
from sitewatch.paging.channels.webhook import JsonWebhook, http_client
from sitewatch.paging.channels.wecom import WeComRobot
from sitewatch.paging.config import (
    DingTalkChannel,
    EmailChannel,
    PagingSettings,
    SmsChannel,
    WebhookChannel,
    WeComChannel,
)

__all__ = ["build_channels", "http_client"]


def build_channels(
    settings: PagingSettings, *, secrets: Callable[[str], Credential], http: httpx.AsyncClient, clock: Clock
) -> dict[str, Channel]:
    """Channel id -> channel. ``secrets(name)`` gives the reader of vault entry ``name``;
    it is asked once per channel that names a credential (nothing is read from the vault
    here: each send reads it). Raises OSError / ssl.SSLError for an unreadable ca_file."""
    channels: dict[str, Channel] = {}
    for name, config in settings.channels.items():
        secret = secrets(config.credential) if config.credential else None
        channel: Channel
        if isinstance(config, EmailChannel):
            channel = SmtpChannel(name, config, secret=secret, clock=clock)
        elif isinstance(config, WebhookChannel):
            channel = JsonWebhook(name, config, secret=secret, http=http, clock=clock)
        elif isinstance(config, WeComChannel):
            assert secret is not None  # the config requires its credential
            channel = WeComRobot(name, config, secret=secret, http=http)
        elif isinstance(config, DingTalkChannel):
            assert secret is not None
            channel = DingTalkRobot(name, config, secret=secret, http=http, clock=clock)
        elif isinstance(config, SmsChannel):
            channel = SmsGateway(name, config, secret=secret, http=http)
        else:  # a kind added to ChannelSettings without a channel here
            raise TypeError(f"paging channel {name!r}: no channel for kind {config.kind!r}")
        channels[name] = channel
    return channels
