"""Finding English left in a page meant to be Chinese.

What may legitimately stay Latin is taken out first: the data people typed or configured
(site, asset and customer names, addresses, ids, usernames, what a device reports about
itself), units, numbers and dates, acronyms (SLA, PDF), and the product's and the
language switch's own names. Whatever Latin word of three letters or more is left is
untranslated text — a label, a state, a unit spelled out, a raw channel name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from tests.browser.instance import LOCKED_OUT, SCOPED_USER, SWITCHER
from tests.logins import ROLES

# Configuration keys whose values are names and ids people chose, not the product's text.
DATA_KEYS = {"id", "name", "label", "address", "phone", "customer", "site", "sla_zone", "time_zone", "calendar",
             "office_desk", "off_hours_desk", "profile", "host", "host_id", "credential", "fault", "follows",
             "restart_on", "reason", "held_by"}
STATE_LABELS = {"0", "1"}  # a state rule's labels: "tripped (closed): no gas downstream"
UNITS = ("Nm³/h", "Nm3/h", "m³/h", "%LEL", "kPa", "MPa", "°C", "℃")
ALLOWED = {"Sitewatch", "English", "Modbus"}
_URL = re.compile(r"\S+://\S+|\S+@\S+\.\w+")
_WITH_DIGIT = re.compile(r"\S*\d\S*")  # numbers, dates, times, ids like rs-001
_ACRONYM = re.compile(r"(?<![a-z])[A-Z]{2,}s?(?![a-z])")  # SLA, PDF, CSV, ONVIF (and links side by side: PDFCSV)
_SPACES = re.compile(r"[ \t\u00a0]+")  # a PDF's text comes out with doubled spaces
_RUN = re.compile(r"[A-Za-z][A-Za-z'’]*(?:[ \t]+[A-Za-z][A-Za-z'’]*)*")


def people() -> set[str]:
    names = {*ROLES, SCOPED_USER, SWITCHER, LOCKED_OUT}
    return names | {n.title() for n in names}


def config_strings(raw: object, key: str | None = None) -> set[str]:
    """Every name and id in a raw configuration (see DATA_KEYS); a state label only when
    it is a phrase — alone, 'open' or 'closed' could hide an untranslated ticket state."""
    if isinstance(raw, dict):
        return set().union(*(config_strings(v, k) for k, v in raw.items())) if raw else set()
    if isinstance(raw, list):
        return set().union(*(config_strings(v, key) for v in raw)) if raw else set()
    if isinstance(raw, str) and (key in DATA_KEYS or (key in STATE_LABELS and " " in raw)):
        return {raw}
    return set()


def strings_in(value: object) -> set[str]:
    """Every string inside a JSON value (what a device reports: model, firmware ...)."""
    if isinstance(value, dict):
        return set().union(set(), *(strings_in(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(set(), *(strings_in(v) for v in value))
    return {value} if isinstance(value, str) else set()


def untranslated(text: str, data: Iterable[str]) -> list[str]:
    """The runs of English words left in ``text`` once ``data`` and the rest are removed."""
    text = _SPACES.sub(" ", text)
    for value in sorted({_SPACES.sub(" ", d).strip() for d in data if d.strip()}, key=len, reverse=True):
        text = re.sub(rf"(?<![A-Za-z]){re.escape(value)}(?![A-Za-z])", " ", text)
    text = _URL.sub(" ", text)
    for unit in UNITS:
        text = text.replace(unit, " ")
    text = _WITH_DIGIT.sub(" ", text)
    text = _ACRONYM.sub(" ", text)
    found = []
    for run in _RUN.findall(text):
        words = [w for w in run.split() if w not in ALLOWED]
        if any(len(w) >= 3 for w in words) and run not in found:
            found.append(run)
    return found
