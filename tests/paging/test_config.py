"""PagingSettings refuses references that would page nobody or the wrong way, at load time."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from sitewatch.paging.config import PagingSettings

BASE = {
    "base_url": "https://sitewatch.example.cn",
    "people": {"zhang": {"name": "张伟", "email": "zhang@example.cn", "phone": "13800000001",
                         "channels": ["mail"]}},
    "channels": {
        "mail": {"kind": "email", "host": "smtp.example.cn", "sender": "sitewatch@example.cn"},
        "ops-wecom": {"kind": "wecom", "url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send",
                      "credential": "ops-robot"},
    },
    "desks": {"operations": {"rota": {"dates": {"2026-11-25": "zhang"}}, "groups": ["ops-wecom"]}},
}


def _with(**changes: object) -> dict:
    return {**BASE, **changes}


def test_a_valid_configuration_loads_with_dates_as_keys() -> None:
    settings = PagingSettings.model_validate(BASE)
    assert settings.desks["operations"].rota.dates == {date(2026, 11, 25): "zhang"}, \
        "TOML's date strings become dates in the rota"


def test_an_unknown_person_in_a_rota_is_refused() -> None:
    desks = {"operations": {"rota": {"weekly": ["zhang", "ghost"], "weekly_from": "2026-11-23"}}}
    with pytest.raises(ValidationError, match=r"paging desk 'operations': unknown people \['ghost'\]"):
        PagingSettings.model_validate(_with(desks=desks))


def test_an_unknown_person_in_a_swap_is_refused() -> None:
    override = {"start": "2026-11-25T18:00:00", "end": "2026-11-26T09:00:00", "person": "ghost"}
    desks = {"operations": {"rota": {"overrides": [override]}}}
    with pytest.raises(ValidationError, match=r"unknown people \['ghost'\]"):
        PagingSettings.model_validate(_with(desks=desks))


def test_a_group_channel_listed_as_a_persons_channel_is_refused() -> None:
    people = {"zhang": {"name": "张伟", "channels": ["ops-wecom"]}}
    with pytest.raises(ValidationError, match="'ops-wecom' is a group channel \\(wecom\\)"):
        PagingSettings.model_validate(_with(people=people))


def test_a_personal_channel_listed_as_a_desks_group_is_refused() -> None:
    desks = {"operations": {"groups": ["mail"]}}
    with pytest.raises(ValidationError, match="'mail' is not a group channel"):
        PagingSettings.model_validate(_with(desks=desks))


def test_an_sms_channel_needs_the_persons_phone() -> None:
    channels = {**BASE["channels"], "sms": {"kind": "sms", "request": {"url": "https://sms.example.cn/send"}}}
    people = {"zhang": {"name": "张伟", "channels": ["sms"]}}
    with pytest.raises(ValidationError, match="needs a phone number"):
        PagingSettings.model_validate(_with(channels=channels, people=people))


def test_a_swap_with_an_offset_is_refused() -> None:
    override = {"start": "2026-11-25T18:00:00+08:00", "end": "2026-11-26T09:00:00+08:00", "person": "zhang"}
    with pytest.raises(ValidationError, match="without an offset"):
        PagingSettings.model_validate(_with(desks={"operations": {"rota": {"overrides": [override]}}}))
