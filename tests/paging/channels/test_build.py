"""build_channels: one channel per configured id, each given its own credential reader."""

from __future__ import annotations

import pytest

from sitewatch.paging.channels.build import build_channels
from sitewatch.paging.channels.dingtalk import DingTalkRobot
from sitewatch.paging.channels.email import SmtpChannel
from sitewatch.paging.channels.errors import Unreachable
from sitewatch.paging.channels.sms import SmsGateway
from sitewatch.paging.channels.webhook import JsonWebhook
from sitewatch.paging.channels.wecom import WeComRobot
from sitewatch.paging.config import PagingSettings
from sitewatch.vault.errors import CredentialNotFound

from .conftest import outgoing


def settings(**mail: object) -> PagingSettings:
    return PagingSettings.model_validate({
        "base_url": "https://sitewatch.example",
        "channels": {
            "mail": {"kind": "email", "host": "127.0.0.1", "sender": "alerts@sitewatch.example", **mail},
            "relay": {"kind": "email", "host": "127.0.0.1", "port": 25, "security": "none",
                      "sender": "alerts@sitewatch.example"},
            "hook": {"kind": "webhook", "url": "http://127.0.0.1:9/hook", "credential": "hook-key"},
            "wecom-ops": {"kind": "wecom", "url": "http://127.0.0.1:9/send", "credential": "wecom-ops"},
            "ding": {"kind": "dingtalk", "url": "http://127.0.0.1:9/robot/send", "credential": "ding"},
            "sms": {"kind": "sms", "credential": "sms-gw", "request": {"url": "http://127.0.0.1:9/sms"}},
        },
    })


async def test_every_kind_is_built_with_its_own_credential(http, clock) -> None:
    asked: list[str] = []

    def secrets(name: str):
        asked.append(name)
        return lambda: (f"{name}-user", f"{name}-password")

    channels = build_channels(settings(credential="smtp-login"), secrets=secrets, http=http, clock=clock)

    kinds = {name: (type(channel), channel.kind, channel.name) for name, channel in channels.items()}
    assert kinds == {
        "mail": (SmtpChannel, "email", "mail"), "relay": (SmtpChannel, "email", "relay"),
        "hook": (JsonWebhook, "webhook", "hook"), "wecom-ops": (WeComRobot, "wecom", "wecom-ops"),
        "ding": (DingTalkRobot, "dingtalk", "ding"), "sms": (SmsGateway, "sms", "sms"),
    }
    assert sorted(asked) == ["ding", "hook-key", "sms-gw", "smtp-login", "wecom-ops"], "the relay has no credential"
    for channel in channels.values():
        await channel.aclose()


async def test_a_missing_ca_file_stops_the_build_not_each_message(http, clock, tmp_path) -> None:
    with pytest.raises(FileNotFoundError):
        build_channels(settings(ca_file=str(tmp_path / "missing-ca.pem")), secrets=lambda name: lambda: ("", ""),
                       http=http, clock=clock)


async def test_a_credential_the_vault_cannot_give_is_unreachable(http, clock) -> None:
    def not_set() -> tuple[str, str]:
        raise CredentialNotFound("wecom-ops")

    channels = build_channels(settings(), secrets=lambda name: not_set, http=http, clock=clock)
    with pytest.raises(Unreachable, match="credential 'wecom-ops' cannot be read: no credential named 'wecom-ops'"):
        await channels["wecom-ops"].send(outgoing())
