"""What a notification says, in the recipient's language: one :class:`Content` per notice and
locale, with every form a channel may need (e-mail subject and body, group-chat markdown, SMS,
the webhook's JSON).

Every time is shown on the SITE's clock with its UTC offset ("2026-12-07 03:12 UTC+8"): the
technician who reads "03:12" must be able to match it with the station's own displays, and a
reader elsewhere (a manager travelling, a desk in another zone) still sees which clock it is.
The formatting is the ticket pages' (api/pages/ticket_views.py), so a message and the page its
link opens say the same times, words and countdowns.

Titles, symptoms and names come from configuration and devices: in the markdown form they are
kept to one line and stripped of link and HTML syntax, so a device name cannot post a link or
a heading into a group chat.

Pure: the notice's ``at`` is "now" (for "30 min left"); nothing is read from a clock or database.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sitewatch import i18n
from sitewatch.domain.alerts import Severity
from sitewatch.domain.tickets import TicketState
from sitewatch.domain.time import require_utc, to_local
from sitewatch.i18n import lazy
from sitewatch.i18n.messages import COMMA, SEMICOLON, Message
from sitewatch.paging.models import Content, Notice, NoticeKind, TicketFacts
from sitewatch.tickets.words import SEVERITIES, countdown, label, when

log = logging.getLogger(__name__)

LIST_LINES = 10  # a storm summary lists this many tickets, a ticket this many symptoms, then says how many more
SHORT_CHARS = 200  # an SMS aim: about three parts of 70 Chinese characters; the channel cuts at its max_chars

# The subject's tag: what happened, with the severity (capitals in English, see _tag).
_TAGS = {
    NoticeKind.OPENED: lazy("[%(severity)s]"),
    NoticeKind.RAISED: lazy("[raised to %(severity)s]"),
    NoticeKind.ESCALATION: lazy("[%(severity)s — not acknowledged — level %(level)s]"),
    NoticeKind.REPEAT: lazy("[%(severity)s — still not acknowledged]"),
    NoticeKind.CLEARED: lazy("[cleared]"),
    NoticeKind.DISPATCHED: lazy("[%(severity)s — dispatched]"),
    NoticeKind.ARRIVE_SOON: lazy("[%(severity)s — arrival due soon]"),
    NoticeKind.BREACHED: lazy("[%(severity)s — arrival overdue]"),
    NoticeKind.RESOLVE_OVERDUE: lazy("[%(severity)s — resolution overdue]"),
    NoticeKind.END_OF_DAY: lazy("[%(severity)s — unresolved today]"),
}
# The body's first sentence: what happened and what is asked of the reader.
_HEADLINES = {
    NoticeKind.OPENED: lazy("New fault at %(site)s."),
    NoticeKind.RAISED: lazy("The fault at %(site)s is now %(severity)s."),
    NoticeKind.ESCALATION: lazy("Nobody has acknowledged this fault: escalated to level %(level)s."),
    NoticeKind.REPEAT: lazy("Still not acknowledged (level %(level)s)."),
    NoticeKind.CLEARED: lazy("Every alert of this fault has cleared; the ticket stays open until it is closed."),
    NoticeKind.DISPATCHED: lazy("The ticket was given to %(name)s."),
    NoticeKind.ARRIVE_SOON: lazy("Nobody is on site yet and the arrival deadline is near."),
    NoticeKind.BREACHED: lazy("The arrival deadline has passed and nobody is on site."),
    NoticeKind.RESOLVE_OVERDUE: lazy("The ticket was not resolved by its deadline."),
    NoticeKind.END_OF_DAY: lazy("The site's working day is ending with this ticket unresolved: resolve it today or "
                                "commit a resolution time."),
}
# The kinds that wait for someone to acknowledge: their link says so.
_TO_ACKNOWLEDGE = frozenset({NoticeKind.OPENED, NoticeKind.RAISED, NoticeKind.ESCALATION, NoticeKind.REPEAT})
# Until someone is on site the arrive-by matters; once resolved the resolve-by no longer does.
_NOT_ON_SITE = frozenset({TicketState.REGISTERED.value, TicketState.DISPATCHED.value})
_RESOLVED = frozenset({TicketState.RESOLVED.value, TicketState.SIGNED_OFF.value, TicketState.FOLLOWED_UP.value,
                       TicketState.CLOSED.value})
_SEVERITY_RANK = {s.value: rank for rank, s in enumerate(Severity)}  # info 0 … critical 3
# Link, HTML, heading and emphasis syntax in untrusted text, as full-width look-alikes that
# markdown leaves alone: a device name can neither post a link nor restyle the message.
_MARKDOWN_SAFE = str.maketrans({"[": "［", "]": "］", "(": "（", ")": "）", "<": "＜", ">": "＞", "#": "＃",
                                "*": "＊", "`": "｀"})
_HARD_BREAK = "  \n"  # DingTalk joins lines a single newline separates; WeCom shows either


def render(notice: Notice, locale: str) -> Content:
    """``notice`` written in ``locale`` ("zh_CN", "en"; a tag such as "zh-CN" or "en-GB" is
    understood, anything else gets the default, Chinese)."""
    with i18n.using(i18n.normalise(locale) or i18n.DEFAULT_LOCALE):
        if notice.kind is NoticeKind.SUMMARY:
            return _summary(notice)
        if notice.ticket is None:
            raise ValueError(f"a {notice.kind.value} notice needs its ticket")
        return _ticket(notice, notice.ticket)


# --- one ticket -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Body:
    """A ticket notice's parts, their untrusted text already made safe for one form."""

    subject: str
    headline: str
    facts: tuple[tuple[str, str], ...]  # (label, value)
    symptoms: tuple[str, ...]  # list lines, "- " each, and "and 3 more" when there are more


def _ticket(notice: Notice, ticket: TicketFacts) -> Content:
    title = _said(ticket.title)
    action = (i18n.gettext("Open the ticket to acknowledge") if notice.kind in _TO_ACKNOWLEDGE
              else i18n.gettext("Open the ticket"))
    plain, marked = _body(notice, ticket, title, _one_line), _body(notice, ticket, title, _markdown_safe)
    return Content(
        subject=plain.subject,
        text=_text(plain, action, ticket.link),
        markdown=_markdown(marked, action, ticket.link),
        short=_short(notice, ticket, title),
        data=_ticket_data(notice, ticket, title),
    )


def _body(notice: Notice, t: TicketFacts, title: str, clean: Callable[[str], str]) -> _Body:
    zone = t.time_zone
    severity = label(SEVERITIES, t.severity)
    name = clean(t.assignee) if t.assignee else "—"
    facts = [(i18n.gettext("Fault"), clean(title)), (i18n.gettext("Severity"), severity),
             (i18n.gettext("Site"), clean(t.site_name)), (i18n.gettext("Asset"), clean(t.asset_name)),
             (i18n.gettext("Customer"), clean(t.customer_name))]
    if t.occurrences > 1:
        facts.append((i18n.gettext("Occurrences"), str(t.occurrences)))
    facts.append((i18n.gettext("Opened"), when(t.opened_at, zone)))
    if t.state in _NOT_ON_SITE:
        facts.append((i18n.gettext("Arrive by"), _deadline(t.arrive_by, zone, notice)))
    if t.resolve_by is not None and t.state not in _RESOLVED:
        facts.append((i18n.gettext("Resolve by"), _deadline(t.resolve_by, zone, notice)))
    if t.committed_reason:
        facts.append((i18n.gettext("Committed because"), clean(t.committed_reason)))
    if t.assignee:
        facts.append((i18n.gettext("Assignee"), name))
    if notice.kind is NoticeKind.CLEARED and notice.acknowledged_by:
        facts.append((i18n.gettext("Acknowledged by"), clean(notice.acknowledged_by)))
    subject = i18n.gettext("%(tag)s %(title)s — ticket #%(id)s", tag=_tag(notice, t.severity), title=clean(title),
                           id=t.ticket_id)
    headline = i18n.gettext(_HEADLINES[notice.kind], site=clean(t.site_name), severity=severity, level=notice.level,
                            name=name)
    symptoms = [f"- {clean(_said(s))}" for s in t.symptoms[:LIST_LINES]]
    if len(t.symptoms) > LIST_LINES:
        symptoms.append(i18n.gettext("and %(n)s more", n=len(t.symptoms) - LIST_LINES))
    return _Body(subject=subject, headline=headline, facts=tuple(facts), symptoms=tuple(symptoms))


def _text(body: _Body, action: str, link: str) -> str:
    lines = [body.headline, ""]
    lines += [_labelled(name, value) for name, value in body.facts]
    if body.symptoms:
        lines.append(_labelled(i18n.gettext("Symptoms of the fault"), ""))
        lines += body.symptoms
    return "\n".join([*lines, "", _labelled(action, link)])


def _markdown(body: _Body, action: str, link: str) -> str:
    lines = [_labelled(f"**{name}**", value) for name, value in body.facts]
    blocks = [f"### {body.subject}", body.headline, _HARD_BREAK.join(lines)]
    if body.symptoms:  # a list after a blank line, so that every renderer sees a list
        blocks += [_labelled(f"**{i18n.gettext('Symptoms of the fault')}**", ""), "\n".join(body.symptoms)]
    blocks.append(f"[{action}]({link})")
    return "\n\n".join(blocks)


def _short(notice: Notice, t: TicketFacts, title: str) -> str:
    """Tag, site and fault, the arrive-by while nobody is there, and the link last and whole:
    the fault's text is what gets shortened when it does not fit."""

    def line(fault: str) -> str:
        parts = [i18n.gettext("%(tag)s %(site)s: %(title)s", tag=_tag(notice, t.severity),
                              site=_one_line(t.site_name), title=fault)]
        if t.state in _NOT_ON_SITE and notice.kind is not NoticeKind.CLEARED:
            parts.append(i18n.gettext("arrive by %(time)s", time=_clock(t.arrive_by, t.time_zone, notice)))
        return f"{i18n.gettext(SEMICOLON).join(parts)} {t.link}"

    fault = _one_line(title)
    over = len(line(fault)) - SHORT_CHARS
    if over > 0 and len(fault) > 20:
        fault = fault[:max(20, len(fault) - over - 1)] + "…"
    return line(fault)


def _ticket_data(notice: Notice, t: TicketFacts, title: str) -> dict:
    return {
        "kind": notice.kind.value, "at": _iso(notice.at), "ticket_id": t.ticket_id, "severity": t.severity,
        "state": t.state, "site_id": t.site_id, "site_name": t.site_name, "asset_id": t.asset_id,
        "asset_name": t.asset_name, "customer_name": t.customer_name, "title": title,
        "symptoms": [_said(s) for s in t.symptoms], "occurrences": t.occurrences, "opened_at": _iso(t.opened_at),
        "arrive_by": _iso(t.arrive_by), "resolve_by": _iso(t.resolve_by), "local_time_zone": t.time_zone,
        "assignee": t.assignee, "link": t.link, "level": notice.level, "items": [],
    }


# --- a storm's summary ----------------------------------------------------------------------


def _summary(notice: Notice) -> Content:
    """The tickets most severe first (then oldest first), so the ten listed are the ones that matter."""
    items = sorted(notice.items, key=lambda t: (-_SEVERITY_RANK.get(t.severity, -1), t.opened_at, t.ticket_id))
    shown, more = items[:LIST_LINES], len(items) - LIST_LINES
    action = i18n.gettext("Open the site's tickets")

    def lines(clean: Callable[[str], str]) -> list[str]:
        return ["- " + i18n.gettext("#%(id)s %(title)s (%(severity)s)", id=t.ticket_id, title=clean(_said(t.title)),
                                    severity=label(SEVERITIES, t.severity)) for t in shown]

    tail = [i18n.gettext("and %(n)s more", n=more)] if more > 0 else []

    def subject(clean: Callable[[str], str]) -> str:
        return i18n.gettext("[alert summary: %(n)s] %(site)s", n=len(items), site=clean(notice.site_name))

    def count(clean: Callable[[str], str]) -> str:
        return i18n.gettext("Tickets at %(site)s: %(n)s", site=clean(notice.site_name), n=len(items))

    ids = " ".join([i18n.gettext(COMMA).join(f"#{t.ticket_id}" for t in shown), *tail])
    worst = items[0].severity if items else None
    return Content(
        subject=subject(_one_line),
        text="\n".join([count(_one_line), *lines(_one_line), *tail, "", _labelled(action, notice.link)]),
        markdown="\n\n".join([f"### {subject(_markdown_safe)}", count(_markdown_safe),
                              "\n".join(lines(_markdown_safe)), *tail, f"[{action}]({notice.link})"]),
        short=f"{_labelled(subject(_one_line), ids)} {notice.link}",
        data={"kind": notice.kind.value, "at": _iso(notice.at), "ticket_id": None, "severity": worst,
              "site_id": items[0].site_id if items else None, "site_name": notice.site_name,
              "local_time_zone": notice.time_zone, "link": notice.link, "level": notice.level,
              "items": [t.ticket_id for t in items]},
    )


# --- pieces ---------------------------------------------------------------------------------


def _said(value: Message | str) -> str:
    """A title or symptom in the current locale. A message that cannot be rendered (a
    translation with a wrong placeholder) falls back to its English: a page must go out."""
    if isinstance(value, str):
        return value
    try:
        return value.render()
    except (KeyError, TypeError, ValueError) as exc:
        log.warning("message %r not rendered (%r); its English is sent", value.msgid, exc)
        return value.text()


def _tag(notice: Notice, severity: str) -> str:
    # Capitals mark an alarm among English mail; Chinese has none and upper() leaves it as it is.
    return i18n.gettext(_TAGS[notice.kind], severity=label(SEVERITIES, severity).upper(), level=notice.level)


def _labelled(name: str, value: str) -> str:
    return i18n.gettext("%(label)s: %(value)s", label=name, value=value).rstrip()


def _deadline(at: datetime, zone: str, notice: Notice) -> str:
    return i18n.gettext("%(at)s (%(left)s)", at=when(at, zone), left=countdown(at, notice.at)[0])


def _clock(at: datetime, zone: str, notice: Notice) -> str:
    """HH:MM on the site's clock; with the date when that is not the site's today."""
    local = to_local(at, zone)
    return local.strftime("%H:%M" if local.date() == to_local(notice.at, zone).date() else "%m-%d %H:%M")


def _iso(at: datetime | None) -> str | None:
    return None if at is None else require_utc(at).isoformat().replace("+00:00", "Z")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _markdown_safe(text: str) -> str:
    return _one_line(text).translate(_MARKDOWN_SAFE)
