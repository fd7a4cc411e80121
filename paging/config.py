"""What ``[paging]`` in the configuration says: people, channels, desks with rotas, routes.

Who gets a message (DOMAIN.md: "alerts go to whoever is on duty"): a ticket is routed by
the desk that was on duty when it opened (tickets/duty.py: the operations desk in office
hours, the dispatch centre at noon, at night, at weekends and on holidays), its severity,
customer and site; the route's escalation levels say who hears of it and when, while
nobody acknowledges it: the desk's on-call person and group chat, then its duty lead,
then its manager.

Secrets (SMTP passwords, robot keys, signing secrets, SMS gateway keys) are never in this
file: ``credential`` names an entry of the vault (``sitewatch vault set NAME``), whose
username and password the channel uses as its docstring says.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sitewatch.config.types import LocalTime, TimeZoneName
from sitewatch.domain.alerts import Severity

Locale = Literal["zh_CN", "en"]
_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class Person(_Frozen):
    """Someone who can be paged. ``channels``: the personal channels (email, sms) that reach
    them, all used; ``aliases``: other names they go by on tickets (a login, a Chinese
    name), so a ticket's assignee finds them."""

    name: str
    locale: Locale = "zh_CN"
    email: str | None = None
    phone: str | None = None  # SMS, and the @mention in WeCom / DingTalk groups
    channels: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()


class _Channel(_Frozen):
    per_minute: int = Field(default=20, ge=1, le=6000)  # the channel's own limit; more waits, never dropped
    timeout_s: float = Field(default=10.0, gt=0, le=120)


class EmailChannel(_Channel):
    """SMTP. ``credential``: the vault entry with the login's username and password (none:
    no login, e.g. a relay on the control room's network)."""

    kind: Literal["email"] = "email"
    host: str
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    sender: str
    credential: str | None = None
    # A private CA's bundle for the control room's own mail server; None: the system's.
    ca_file: str | None = None
    per_minute: int = Field(default=60, ge=1, le=6000)


class WebhookChannel(_Channel):
    """A generic JSON POST, signed with HMAC-SHA256 over "<timestamp>.<body>" with the vault
    entry's password (headers X-Sitewatch-Timestamp, X-Sitewatch-Signature: sha256=<hex>)."""

    kind: Literal["webhook"] = "webhook"
    url: str
    credential: str | None = None
    locale: Locale = "zh_CN"
    per_minute: int = Field(default=120, ge=1, le=6000)


class WeComChannel(_Channel):
    """A WeCom (企业微信) group robot: ``url`` is the robot webhook's address without the
    key (https://qyapi.weixin.qq.com/cgi-bin/webhook/send); the vault entry's password is
    the robot's key. WeCom allows a robot 20 messages a minute."""

    kind: Literal["wecom"] = "wecom"
    url: str
    credential: str
    locale: Locale = "zh_CN"


class DingTalkChannel(_Channel):
    """A DingTalk (钉钉) custom robot with the "signature" security setting: ``url`` without
    the token (https://oapi.dingtalk.com/robot/send); the vault entry's username is the
    access_token, its password the signing secret (SEC...). 20 messages a minute."""

    kind: Literal["dingtalk"] = "dingtalk"
    url: str
    credential: str
    locale: Locale = "zh_CN"


class SmsRequest(_Frozen):
    """The HTTP request an SMS gateway takes, as a template. In every string ``{phone}``,
    ``{text}``, ``{username}``, ``{password}`` (the vault entry) and ``{id}`` (the message's
    idempotency key) are replaced; ``json`` or ``form`` is the body."""

    method: Literal["POST", "GET", "PUT"] = "POST"
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    query: dict[str, str] = Field(default_factory=dict)
    json_body: dict[str, Any] | None = Field(default=None, alias="json")
    form: dict[str, str] | None = None
    # Accepted when the status is one of these and every key of success_json (top level of
    # the JSON answer) has the value given, e.g. {code = 0}.
    success_status: tuple[int, ...] = (200, 201, 202, 204)
    success_json: dict[str, Any] = Field(default_factory=dict)

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, allow_inf_nan=False)

    @model_validator(mode="after")
    def _one_body(self) -> SmsRequest:
        if self.json_body is not None and self.form is not None:
            raise ValueError("sms request: give json or form, not both")
        return self


class SmsChannel(_Channel):
    kind: Literal["sms"] = "sms"
    request: SmsRequest
    credential: str | None = None
    max_chars: int = Field(default=300, ge=20, le=2000)  # longer text is cut, the link kept
    per_minute: int = Field(default=60, ge=1, le=6000)


ChannelSettings = Annotated[
    EmailChannel | WebhookChannel | WeComChannel | DingTalkChannel | SmsChannel, Field(discriminator="kind")
]
PERSONAL_KINDS = frozenset({"email", "sms"})  # need a person's address; the others are a group's


class RotaOverride(_Frozen):
    """A swap: ``person`` is on call from ``start`` to ``end`` (the rota's local time)."""

    start: dt.datetime
    end: dt.datetime
    person: str

    @model_validator(mode="after")
    def _ordered(self) -> RotaOverride:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("rota override: give local times without an offset (the rota's time_zone applies)")
        if self.end <= self.start:
            raise ValueError(f"rota override for {self.person!r}: end {self.end} is not after start {self.start}")
        return self


class Rota(_Frozen):
    """Who is on call for a desk. A shift runs from ``handover`` on one day to ``handover``
    the next (the rota's local time). ``dates`` names the person for given days; other days
    follow ``weekly``: one person per week in turn, the first from the handover on
    ``weekly_from``; ``overrides`` (swaps) beat both, the later-listed winning."""

    time_zone: TimeZoneName = "Asia/Shanghai"
    handover: LocalTime = dt.time(8, 30)  # in the rota's time_zone
    weekly: tuple[str, ...] = ()
    weekly_from: dt.date | None = None
    dates: dict[dt.date, str] = Field(default_factory=dict)
    overrides: tuple[RotaOverride, ...] = ()

    @model_validator(mode="after")
    def _weekly_start(self) -> Rota:
        if self.weekly and self.weekly_from is None:
            raise ValueError("rota: weekly needs weekly_from (the date of the first week's first handover)")
        return self

    def people(self) -> set[str]:
        return {*self.weekly, *self.dates.values(), *(o.person for o in self.overrides)}


class Desk(_Frozen):
    """A desk that takes tickets (the ``[duty]`` desks: operations, dispatch-centre)."""

    rota: Rota = Rota()
    lead: str | None = None  # the duty lead: level 2
    manager: str | None = None  # level 3, SLA breaches, overdue resolutions
    groups: tuple[str, ...] = ()  # the desk's group channels (WeCom, DingTalk, webhook)


Target = Literal["on_call", "groups", "lead", "manager"]


class Level(_Frozen):
    after_min: float = Field(default=0.0, ge=0)  # since the page, while nobody acknowledges it
    to: tuple[Target, ...]


DEFAULT_LEVELS = (
    Level(after_min=0, to=("on_call", "groups")),
    Level(after_min=10, to=("lead",)),
    Level(after_min=30, to=("manager",)),
)


class Route(_Frozen):
    """Which tickets this route pages, and how. Empty match lists match everything; the first
    route that matches a ticket is the one used."""

    name: str = Field(pattern=_ID)
    desks: tuple[str, ...] = ()  # the desk on duty when the ticket opened
    severities: tuple[Severity, ...] = ()
    customers: tuple[str, ...] = ()
    sites: tuple[str, ...] = ()
    desk: str | None = None  # whose people are paged; None: the ticket's desk
    levels: tuple[Level, ...] = DEFAULT_LEVELS
    repeat_every_min: float | None = Field(default=30.0, gt=0)  # while unacknowledged; None: never
    send_resolved: bool = True

    @model_validator(mode="after")
    def _levels_in_order(self) -> Route:
        times = [level.after_min for level in self.levels]
        if not times or times[0] != 0 or times != sorted(times):
            raise ValueError(f"route {self.name!r}: levels start at after_min = 0 and go up")
        return self


class StormSettings(_Frozen):
    """A site going dark: per channel and recipient, the first ``per_site_burst`` messages
    about one site within ``window_s`` go out; the rest of the window's become one summary."""

    window_s: float = Field(default=60.0, gt=0, le=3600)
    per_site_burst: int = Field(default=1, ge=1, le=1000)


class PagingSettings(_Frozen):
    # The address people open the ticket links at (the API as the control room reaches it).
    base_url: str = Field(pattern=r"^https?://")
    people: dict[str, Person] = Field(default_factory=dict)
    channels: dict[str, ChannelSettings] = Field(default_factory=dict)
    desks: dict[str, Desk] = Field(default_factory=dict)
    routes: tuple[Route, ...] = ()
    storm: StormSettings = StormSettings()
    # A fault must stay clear this long before "cleared" is sent: a fault that comes and goes
    # does not send a "cleared" and a "back" every minute. Back after a "cleared": told again.
    clear_hold_min: float = Field(default=5.0, ge=0)
    arrive_soon_min: float = Field(default=30.0, gt=0)  # the technician and desk are told this long before arrive-by
    retry_first_s: float = Field(default=5.0, gt=0)
    retry_max_s: float = Field(default=300.0, gt=0)
    give_up_after_min: float = Field(default=60.0, gt=0)  # then the message is a dead letter, shown to admins

    @model_validator(mode="after")
    def _references(self) -> PagingSettings:
        for key in (*self.people, *self.channels, *self.desks):
            if not _valid_id(key):
                raise ValueError(f"paging: {key!r} is not a valid id (letters, digits, _ . -)")
        for pid, person in self.people.items():
            for channel in person.channels:
                settings = self.channels.get(channel)
                if settings is None:
                    raise ValueError(f"paging person {pid!r}: unknown channel {channel!r}")
                if settings.kind not in PERSONAL_KINDS:
                    raise ValueError(f"paging person {pid!r}: {channel!r} is a group channel ({settings.kind}); "
                                     f"list it under a desk's groups")
                if settings.kind == "email" and not person.email:
                    raise ValueError(f"paging person {pid!r}: channel {channel!r} needs an email address")
                if settings.kind == "sms" and not person.phone:
                    raise ValueError(f"paging person {pid!r}: channel {channel!r} needs a phone number")
        for name, desk in self.desks.items():
            named = desk.rota.people() | {p for p in (desk.lead, desk.manager) if p}
            unknown = sorted(named - set(self.people))
            if unknown:
                raise ValueError(f"paging desk {name!r}: unknown people {unknown}")
            for channel in desk.groups:
                settings = self.channels.get(channel)
                if settings is None or settings.kind in PERSONAL_KINDS:
                    raise ValueError(f"paging desk {name!r}: {channel!r} is not a group channel")
        names = [r.name for r in self.routes]
        if len(set(names)) != len(names):
            raise ValueError("paging: route names must be unique")
        for route in self.routes:
            for desk in (*route.desks, *([route.desk] if route.desk else [])):
                if desk not in self.desks:
                    raise ValueError(f"paging route {route.name!r}: unknown desk {desk!r}")
        return self

    def person_named(self, name: str | None) -> str | None:
        """The id of the person a ticket's assignee names (their id, name or an alias)."""
        if not name:
            return None
        wanted = name.strip().casefold()
        for pid, person in self.people.items():
            if wanted in {pid.casefold(), person.name.casefold(), *(a.casefold() for a in person.aliases)}:
                return pid
        return None


def _valid_id(value: str) -> bool:
    return re.match(_ID, value) is not None
