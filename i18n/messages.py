"""Text made of facts: an alert's summary, a ticket's title, read later in the reader's language.

The rules engine and the ticket writer compose such text when something happens, but
people read it later, each in their own language. So it is kept as a :class:`Message` —
an English template that is also the catalogue's msgid, with named ``%(...)s``
parameters, plus the parameters — beside the English text (``alerts.summary_msg`` next to
``alerts.summary``, ``tickets.title_msg`` next to ``tickets.title``; the English stays for
logs, search and rows written before messages existed) and turned into text when shown:
:func:`render` in the current locale (``i18n.using`` / the request's locale).

A parameter is plain text put in as it is (ids, names, numbers already formatted, units)
or a value translated on the way out:

- :class:`Channel` — a channel id, shown by its label (``i18n/labels.py``);
- :class:`Unit` — a unit as the readings show it there ("degC" → "°C", "score" → nothing);
- :class:`StateValue` — a state channel's value, in words ("Open") where the labels know them;
- :class:`Term` — a word with a catalogue entry (a direction, a regulator setting);
- :class:`Seconds` — a time span: "10 s", "5 min" / "10 秒", "5 分钟";
- :class:`Label` — text the deployment's config wrote (a state's name), translated when
  a catalogue has it under the context ``LABEL_CONTEXT``;
- a nested :class:`Message`, or :class:`Joined` — a list with a translated separator.

``Message.text()`` is the English as it was always stored (raw ids, spans in seconds);
``Message.render()`` is what a person reads. Both are JSON-able (``to_json`` /
``from_json``) and hashable, so a message can travel on a frozen transition.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from sitewatch import i18n
from sitewatch.i18n import labels

log = logging.getLogger(__name__)

# msgctxt of labels written in the deployment's config ("tripped (closed)", "venting"):
# kept apart from the product's own words, which may read the same but mean otherwise.
LABEL_CONTEXT = "rule label"

# The separators a Joined list may use (msgids: Chinese writes "，且", "，" ...).
AND, OR, COMMA, SEMICOLON = i18n.lazy(" and "), i18n.lazy(" or "), i18n.lazy(", "), i18n.lazy("; ")

_SPANS = ((3600, i18n.lazy("%(n)s h")), (60, i18n.lazy("%(n)s min")))
_SECONDS = i18n.lazy("%(n)s s")
_SPACES = re.compile(" {2,}")


@dataclass(frozen=True, slots=True)
class Channel:
    id: str

    def text(self) -> str:
        return self.id

    def render(self) -> str:
        return channel_label(self.id)

    def to_json(self) -> dict:
        return {"channel": self.id}


@dataclass(frozen=True, slots=True)
class Unit:
    unit: str

    def text(self) -> str:
        return self.unit

    def render(self) -> str:
        return labels.unit_text(self.unit)

    def to_json(self) -> dict:
        return {"unit": self.unit}


@dataclass(frozen=True, slots=True)
class StateValue:
    channel: str
    value: float

    def text(self) -> str:
        return f"{self.value:g}"

    def render(self) -> str:
        return labels.show(self.channel, self.value, "state")

    def to_json(self) -> dict:
        return {"state": self.value, "of": self.channel}


@dataclass(frozen=True, slots=True)
class Term:
    """``label`` (a marked msgid) in the reader's language; ``raw`` in the stored English
    where that always said something else (a setting's key, ``lock_up_kpa``)."""

    label: str
    raw: str | None = None

    def text(self) -> str:
        return self.label if self.raw is None else self.raw

    def render(self) -> str:
        return i18n.gettext(self.label)

    def to_json(self) -> dict:
        return {"term": self.label} if self.raw is None else {"term": self.label, "raw": self.raw}


@dataclass(frozen=True, slots=True)
class Seconds:
    seconds: float

    def text(self) -> str:
        return f"{self.seconds:g} s"

    def render(self) -> str:
        for size, msgid in _SPANS:
            if self.seconds >= size and self.seconds % size == 0:
                return i18n.gettext(msgid, n=format(self.seconds / size, "g"))
        return i18n.gettext(_SECONDS, n=format(self.seconds, "g"))

    def to_json(self) -> dict:
        return {"seconds": self.seconds}


@dataclass(frozen=True, slots=True)
class Label:
    value: str

    def text(self) -> str:
        return self.value

    def render(self) -> str:
        return i18n.translations(i18n.current_locale()).pgettext(LABEL_CONTEXT, self.value)

    def to_json(self) -> dict:
        return {"label": self.value}


@dataclass(frozen=True, slots=True)
class Joined:
    items: tuple[Param, ...]
    separator: str  # AND, OR, COMMA or SEMICOLON

    def text(self) -> str:
        return self.separator.join(_text(p) for p in self.items)

    def render(self) -> str:
        return i18n.gettext(self.separator).join(_render(p) for p in self.items)

    def to_json(self) -> dict:
        return {"join": [_to_json(p) for p in self.items], "sep": self.separator}


@dataclass(frozen=True, slots=True)
class Message:
    msgid: str  # marked where it is written (i18n.lazy), so the catalogues can translate it
    params: tuple[tuple[str, Param], ...] = ()

    @classmethod
    def of(cls, msgid: str, **params: Param) -> Message:
        return cls(msgid, tuple(params.items()))

    def text(self) -> str:
        """The English, as stored in ``summary`` / ``title``."""
        return self.msgid % {name: _text(p) for name, p in self.params}

    def render(self) -> str:
        """In the current locale."""
        text = i18n.gettext(self.msgid) % {name: _render(p) for name, p in self.params}
        return _SPACES.sub(" ", text)  # a unit shown as nothing ("score", "state") leaves two

    def to_json(self) -> dict:
        return {"msgid": self.msgid, "params": {name: _to_json(p) for name, p in self.params}}

    @classmethod
    def from_json(cls, data: dict) -> Message:
        return cls(data["msgid"], tuple((name, _from_json(p)) for name, p in data.get("params", {}).items()))


Param = str | int | Channel | Unit | StateValue | Term | Seconds | Label | Joined | Message


def render(message: dict | None, fallback: str) -> str:
    """A stored message (``summary_msg``, ``title_msg``) in the current locale; ``fallback``
    (the stored English) for a row written before messages existed, or one this version
    cannot read."""
    if not message:
        return fallback
    try:
        return Message.from_json(message).render()
    except (KeyError, TypeError, ValueError) as exc:
        # A message from another version, or a translation with a wrong placeholder: the
        # English still says it.
        log.warning("message %r not rendered (%r); its stored text is shown", message.get("msgid"), exc)
        return fallback


def channel_label(channel: str) -> str:
    """A channel's name for people in the current locale (i18n/labels.py)."""
    return labels.label(channel)


def _text(p: Param) -> str:
    return p if isinstance(p, str) else str(p) if isinstance(p, int) else p.text()


def _render(p: Param) -> str:
    return p if isinstance(p, str) else str(p) if isinstance(p, int) else p.render()


def _to_json(p: Param) -> Any:
    return p if isinstance(p, (str, int)) else p.to_json()


def _from_json(value: Any) -> Param:
    if isinstance(value, (str, int)):
        return value
    if "msgid" in value:
        return Message.from_json(value)
    if "channel" in value:
        return Channel(value["channel"])
    if "unit" in value:
        return Unit(value["unit"])
    if "state" in value:
        return StateValue(value["of"], value["state"])
    if "term" in value:
        return Term(value["term"], value.get("raw"))
    if "seconds" in value:
        return Seconds(value["seconds"])
    if "label" in value:
        return Label(value["label"])
    if "join" in value:
        return Joined(tuple(_from_json(p) for p in value["join"]), value["sep"])
    raise ValueError(f"not a message parameter: {value!r}")
