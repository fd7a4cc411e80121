"""Which marked strings a locale's catalogues do not translate.

    python -m sitewatch.i18n.check            # zh_CN: prints the missing entries as .po stubs, exit 1 if any

Strings are found the way ``pybabel extract`` finds them: ``_()``, ``gettext()``,
``ngettext()`` and ``lazy()`` calls in Python, and ``_()``/``{% trans %}`` in templates.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from babel.messages.extract import extract_from_dir

from sitewatch.i18n import translations

ROOT = Path(__file__).resolve().parent.parent
# The packages whose text reaches people; tests, simulators and benchmarks are not shown.
PACKAGES = ("api", "auth", "domain", "i18n", "inspections", "paging", "reports", "review", "rules", "sitewatch", "tickets")
METHOD_MAP = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy": None}
_PLACEHOLDER = re.compile(r"%\(\w+\)[sdf]|%[sdf]")
OPTIONS = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n", "newstyle_gettext": "true"}}


def marked() -> dict[str, str]:
    """Every marked message → where it was first found (path:line)."""
    found: dict[str, str] = {}
    for package in PACKAGES:
        folder = ROOT / package
        if not folder.is_dir():
            continue
        for filename, line, message, _comments, _context in extract_from_dir(
            folder, METHOD_MAP, options_map=OPTIONS, keywords=KEYWORDS
        ):
            messages = message if isinstance(message, tuple) else (message,)
            for m in messages:
                if m:
                    found.setdefault(m, f"{package}/{filename}:{line}")
    return found


def missing(locale: str = "zh_CN") -> dict[str, str]:
    catalogue = translations(locale)
    return {m: where for m, where in marked().items()
            if catalogue.gettext(m) == m and not _untranslatable(m)}


def _untranslatable(message: str) -> bool:
    """Format-only strings ('%(value)s %(unit)s') read the same in every language."""
    return not any(c.isalpha() for c in _PLACEHOLDER.sub("", message))


def main() -> int:
    locale = sys.argv[1] if len(sys.argv) > 1 else "zh_CN"
    gaps = missing(locale)
    for message, where in sorted(gaps.items(), key=lambda kv: kv[1]):
        escaped = message.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        print(f'#: {where}\nmsgid "{escaped}"\nmsgstr ""\n')
    print(f"{len(gaps)} message(s) without a {locale} translation", file=sys.stderr)
    return 1 if gaps else 0


if __name__ == "__main__":
    sys.exit(main())
