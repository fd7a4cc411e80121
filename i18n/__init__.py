"""Languages: the message catalogues (zh-CN, en) and the locale of the request being served.

Text for people is written in English in the code and templates, marked with ``_()``
(``{{ _('...') }}`` / ``{% trans %}`` in templates), and translated by the catalogues in
``i18n/locales/<locale>/LC_MESSAGES/*.po``. One catalogue file per area (pages, tickets,
review ...) so that areas can be translated independently; all files of a locale are
merged into one set of translations when it is first used.

The locale of the current request lives in a context variable set by the web middleware
(``api.locale``); code that renders outside a request (PDF, CSV, CLI) passes ``locale=``
to :func:`translator` or wraps its work in :func:`using`.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from pathlib import Path

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LOCALES = ("zh_CN", "en")
DEFAULT_LOCALE = "zh_CN"  # the product's users are Chinese gas operators and integrators
CATALOGUES = Path(__file__).parent / "locales"

_current: ContextVar[str] = ContextVar("sitewatch_locale", default=DEFAULT_LOCALE)


def normalise(tag: str | None) -> str | None:
    """'zh-CN', 'zh_cn', 'zh-Hans', 'zh' → 'zh_CN'; 'en-GB' → 'en'; anything else → None."""
    if not tag:
        return None
    tag = tag.strip().replace("-", "_").lower()
    if tag.startswith("zh"):
        return "zh_CN"
    if tag == "en" or tag.startswith("en_"):
        return "en"
    return None


def negotiate(accept_language: str | None) -> str:
    """The first supported language of an Accept-Language header, by its q weights."""
    weighted = []
    for i, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        weighted.append((-q, i, tag))
    for _q, _i, tag in sorted(weighted):
        locale = normalise(tag)
        if locale:
            return locale
    return DEFAULT_LOCALE


@cache
def translations(locale: str) -> NullTranslations:
    """Every catalogue of the locale, merged; English (the source text) has none."""
    if locale not in LOCALES:
        raise ValueError(f"unsupported locale {locale!r}; supported: {', '.join(LOCALES)}")
    merged: NullTranslations = NullTranslations()
    folder = CATALOGUES / locale / "LC_MESSAGES"
    for po in sorted(folder.glob("*.po")) if folder.is_dir() else []:
        with po.open("rb") as f:
            catalog = read_po(f, locale=locale)
        buffer = io.BytesIO()
        write_mo(buffer, catalog)
        buffer.seek(0)
        part = Translations(buffer, domain="messages")
        if isinstance(merged, Translations):
            merged.merge(part)
        else:
            merged = part
    return merged


def current_locale() -> str:
    return _current.get()


@contextmanager
def using(locale: str) -> Iterator[None]:
    """Translate into ``locale`` inside the block (a PDF made by the CLI, a test)."""
    token = _current.set(locale if locale in LOCALES else DEFAULT_LOCALE)
    try:
        yield
    finally:
        _current.reset(token)


def set_locale(locale: str) -> None:
    """For the web middleware: the locale of the request now being served."""
    _current.set(locale if locale in LOCALES else DEFAULT_LOCALE)


def gettext(message: str, **params: object) -> str:
    """``message`` in the current locale, with ``%(name)s`` parameters filled in."""
    text = translations(_current.get()).gettext(message)
    return text % params if params else text


def ngettext(singular: str, plural: str, n: int, **params: object) -> str:
    text = translations(_current.get()).ngettext(singular, plural, n)
    return text % {"num": n, **params}


def lazy(message: str) -> str:
    """Marks a string for extraction where it is defined (a table of labels) but translated
    where it is shown, with ``gettext(value)``."""
    return message


_ = gettext


def language_name(locale: str) -> str:
    """A language's name in its own language, for the language switch: 中文 / English."""
    return Locale.parse(locale).get_language_name(locale)


def install(environment) -> None:  # noqa: ANN001 (a jinja2.Environment)
    """Give a Jinja environment ``_``, ``gettext``, ``ngettext`` and ``{% trans %}`` in the
    current locale. New-style: templates pass parameters by name, ``_('%(n)s sites', n=3)``."""
    environment.add_extension("jinja2.ext.i18n")
    environment.install_gettext_callables(
        gettext=lambda message: translations(_current.get()).gettext(message),
        ngettext=lambda singular, plural, n: translations(_current.get()).ngettext(singular, plural, n),
        newstyle=True,
    )
