"""The demo's ``[paging]``: its people paged by SMS, the dispatch centre's WeCom group and the
operations desk's DingTalk group — every channel pointed at the inbox simulator
(simulators/inbox/), so the demo shows paging working with no host outside the machine.

The robot key, DingTalk token and signing secret and the SMS gateway's login are made for
the run and put in the vault, as an admin would with ``sitewatch vault set``; the inbox is
told the same ones, so a message that reaches it passed the checks WeCom, DingTalk and the
gateway make.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sitewatch.domain.time import to_local
from sitewatch.history.people import ADMIN, DISPATCHER, MANAGER, TECHNICIAN, Person
from sitewatch.simulators.inbox.server import InboxConfig
from sitewatch.vault.store import Vault

# The demo's users who are paged, with made-up phones (138 0000 xxxx is no one's). Ids are
# their logins, so a ticket's assignee (a login) finds them; the manager reads English.
PAGED: tuple[tuple[Person, str, str], ...] = (
    (DISPATCHER, "13800000001", "zh_CN"),
    (TECHNICIAN, "13800000002", "zh_CN"),
    (ADMIN, "13800000003", "zh_CN"),  # the duty lead: told when nobody acknowledges within 10 min
    (MANAGER, "13800000004", "en"),
)
PHONES = {person.username: phone for person, phone, _ in PAGED}
ON_CALL = (DISPATCHER.username, TECHNICIAN.username)  # week about, this week's first
LEAD, HEAD = ADMIN.username, MANAGER.username
HANDOVER = dt.time(8, 30)
# Channel ids and vault entries.
WECOM, DINGTALK, SMS = "dispatch-wecom", "ops-dingtalk", "sms"
WECOM_CREDENTIAL, DINGTALK_CREDENTIAL, SMS_CREDENTIAL = "wecom-dispatch", "dingtalk-ops", "sms-gateway"
WECOM_GROUP, DINGTALK_GROUP = "dispatch centre", "operations"  # as the inbox's page names the groups


@dataclass(frozen=True)
class PagingSecrets:
    """What the channels authenticate with, made for one run."""

    wecom_key: str
    dingtalk_token: str
    dingtalk_secret: str
    sms_account: str
    sms_password: str

    @classmethod
    def generate(cls) -> PagingSecrets:
        return cls(wecom_key=secrets.token_hex(16), dingtalk_token=secrets.token_hex(32),
                   dingtalk_secret="SEC" + secrets.token_hex(32), sms_account="sitewatch-demo",
                   sms_password=secrets.token_urlsafe(24))


@dataclass(frozen=True)
class DemoPaging:
    """Where the demo's messages go, and when its rota's first week began."""

    inbox_url: str  # the inbox simulator, without a trailing slash
    dashboard_url: str  # what the messages' links open
    now: dt.datetime
    time_zone: str  # the sites' (one zone): the rota's


def inbox_config(paging_secrets: PagingSecrets, *, time_zone: str) -> InboxConfig:
    return InboxConfig(wecom_key=paging_secrets.wecom_key, wecom_group=WECOM_GROUP,
                       dingtalk_token=paging_secrets.dingtalk_token, dingtalk_secret=paging_secrets.dingtalk_secret,
                       dingtalk_group=DINGTALK_GROUP, sms_account=paging_secrets.sms_account,
                       sms_password=paging_secrets.sms_password, time_zone=time_zone)


def put_credentials(vault: Vault, paging_secrets: PagingSecrets, *, now: dt.datetime) -> None:
    """The channels' vault entries (a WeCom robot's entry needs a username too: any will do)."""
    for name, username, password in (
        (WECOM_CREDENTIAL, "robot", paging_secrets.wecom_key),
        (DINGTALK_CREDENTIAL, paging_secrets.dingtalk_token, paging_secrets.dingtalk_secret),
        (SMS_CREDENTIAL, paging_secrets.sms_account, paging_secrets.sms_password),
    ):
        vault.put(name, username=username, password=password, actor="demo", now=now)


def paging_section(demo: DemoPaging) -> dict:
    """The raw ``[paging]`` table: who is told of a critical or major ticket, and when."""
    rota = {"time_zone": demo.time_zone, "handover": HANDOVER, "weekly": list(ON_CALL),
            "weekly_from": week_start(demo.now, demo.time_zone)}
    return {
        "base_url": demo.dashboard_url,
        "people": {person.username: {"name": person.display_name, "locale": locale, "phone": phone,
                                     "channels": [SMS]}
                   for person, phone, locale in PAGED},
        "channels": {
            WECOM: {"kind": "wecom", "url": f"{demo.inbox_url}/wecom/send", "credential": WECOM_CREDENTIAL},
            DINGTALK: {"kind": "dingtalk", "url": f"{demo.inbox_url}/dingtalk/send",
                       "credential": DINGTALK_CREDENTIAL},
            SMS: {"kind": "sms", "credential": SMS_CREDENTIAL, "max_chars": 300, "request": {
                "url": f"{demo.inbox_url}/sms", "headers": {"Authorization": "Bearer {password}"},
                "json": {"account": "{username}", "to": "{phone}", "text": "{text}", "id": "{id}"},
                "success_json": {"code": 0}}},
        },
        "desks": {
            "operations": {"lead": LEAD, "manager": HEAD, "groups": [DINGTALK], "rota": dict(rota)},
            "dispatch-centre": {"lead": LEAD, "manager": HEAD, "groups": [WECOM], "rota": dict(rota)},
        },
        "routes": [{
            "name": "urgent", "severities": ["critical", "major"], "repeat_every_min": 30,
            "levels": [{"after_min": 0, "to": ["on_call", "groups"]}, {"after_min": 10, "to": ["lead"]},
                       {"after_min": 30, "to": ["manager"]}],
        }],
    }


def week_start(now: dt.datetime, time_zone: str) -> dt.date:
    """The Monday of the shift now on (before the 08:30 handover it is still yesterday's):
    the rota's weeks start there, so the first person of ``ON_CALL`` is on call now."""
    local = to_local(now, time_zone)
    shift_day = local.date() if local.time() >= HANDOVER else local.date() - dt.timedelta(days=1)
    return shift_day - dt.timedelta(days=shift_day.weekday())
