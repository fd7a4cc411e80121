"""The zh_CN catalogues: every string marked for translation in the code and templates has
a translation, each translation fills in the same parameters as its English, and no two
area catalogues translate the same message (merged, one would silently win)."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.pofile import read_po

from sitewatch.i18n import CATALOGUES
from sitewatch.i18n.check import missing

_PARAMETER = re.compile(r"%\((\w+)\)[sdf]")
FOLDER = CATALOGUES / "zh_CN" / "LC_MESSAGES"


def catalogues() -> dict[Path, dict[str, str]]:
    out = {}
    for po in sorted(FOLDER.glob("*.po")):
        with po.open("rb") as f:
            catalog = read_po(f, locale="zh_CN")
        out[po] = {m.id: m.string for m in catalog if m.id and isinstance(m.id, str)}
    return out


def test_every_marked_string_has_a_chinese_translation():
    gaps = missing("zh_CN")
    assert not gaps, f"{len(gaps)} marked string(s) without a zh_CN translation:\n" + "\n".join(
        f"  {where}: {message!r}" for message, where in sorted(gaps.items(), key=lambda kv: kv[1]))


def test_each_translation_fills_in_the_parameters_of_its_english():
    wrong = []
    for po, messages in catalogues().items():
        for english, chinese in messages.items():
            if chinese and set(_PARAMETER.findall(english)) != set(_PARAMETER.findall(chinese)):
                wrong.append(f"  {po.name}: {english!r} -> {chinese!r}")
    assert not wrong, "translations whose parameters differ from the English:\n" + "\n".join(wrong)


def test_no_message_is_translated_by_two_catalogues():
    seen: dict[str, str] = {}
    twice = []
    for po, messages in catalogues().items():
        for english in messages:
            if english in seen:
                twice.append(f"  {english!r}: {seen[english]} and {po.name}")
            seen.setdefault(english, po.name)
    assert not twice, "messages in more than one catalogue (keep each in one area's file):\n" + "\n".join(twice)
