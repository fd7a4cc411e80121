"""The font a PDF is written in: one with Chinese glyphs, found on the machine.

fpdf2's core font (Helvetica) knows Latin-1 only, so a Chinese PDF needs a TrueType font
with CJK glyphs embedded. ``review.pdf_font_file`` names one; otherwise the usual font
folders are searched for a face that has both Chinese glyphs and TrueType outlines.

Why TrueType outlines only: Debian's ``fonts-noto-cjk`` ships CID-keyed CFF fonts
(NotoSansCJK-Regular.ttc), and fpdf2 2.8's subsetter writes their glyph widths under the
original CIDs while the text uses the subset's new ones, so every character is advanced
by another glyph's width (the characters overlap or drift). ``fonts-wqy-microhei``
(wqy-microhei.ttc, TrueType outlines) is embedded correctly, hence the preference.

A Chinese PDF with no such font is refused with :class:`FontMissing` (the API answers
503 with its message); an English one falls back to the core font.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from fontTools.ttLib import TTCollection, TTFont, TTLibError
from fpdf import FPDF

from sitewatch import i18n

# Where Debian's font packages (and a local administrator) put fonts.
FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"))
DEBIAN_PACKAGE = "fonts-wqy-microhei"
# Characters every Chinese PDF of ours prints: a face without them cannot write one.
PROBE = "调压站运行日志巡检报表"
# Faces known to embed well, best first; any other TrueType face with the probe's glyphs follows.
PREFERRED = ("wqy-microhei", "wqy-zenhei", "uming", "ukai", "droidsansfallback")
_EXTENSIONS = {".ttf", ".ttc", ".otf"}
_LOCALES_NEEDING_CJK = {"zh_CN"}


class FontMissing(RuntimeError):
    """No font can print a PDF in the reader's language (the API answers 503)."""


@dataclass(frozen=True, slots=True)
class PdfFont:
    path: Path
    index: int = 0  # the face in a .ttc collection (fpdf2's collection_font_number)


def cjk_face(path: Path) -> PdfFont | None:
    """The first face of ``path`` with TrueType outlines and the probe's glyphs, if any."""
    try:
        faces = TTCollection(path, lazy=True).fonts if path.suffix.lower() == ".ttc" else [TTFont(path, lazy=True)]
    except (OSError, TTLibError):
        return None
    for index, face in enumerate(faces):
        # 'glyf' first: it needs only the table directory, the CJK cmaps are large.
        if "glyf" in face and _covers(face, PROBE):
            return PdfFont(path, index)
    return None


@lru_cache(maxsize=8)
def _configured_face(path: Path, mtime_ns: int, size: int) -> PdfFont | None:
    # Keyed on the file's mtime and size too: a replaced font file is read again.
    return cjk_face(path)


def _covers(face: TTFont, text: str) -> bool:
    cmap = face.getBestCmap() or {}
    return all(ord(c) in cmap for c in text)


def _candidates(dirs: Iterable[Path]) -> Iterator[Path]:
    files = [p for d in dirs if d.is_dir() for p in d.rglob("*") if p.suffix.lower() in _EXTENSIONS]

    def rank(p: Path) -> tuple[int, str]:
        name = p.name.lower()
        return next((i for i, known in enumerate(PREFERRED) if name.startswith(known)), len(PREFERRED)), str(p)

    return iter(sorted(files, key=rank))


_found: dict[tuple[Path, ...], PdfFont] = {}


def find_cjk_font(dirs: Iterable[Path] = FONT_DIRS) -> PdfFont | None:
    """A Chinese TrueType face under ``dirs``; found once per process, looked for again
    while there is none (a font package installed later is then used)."""
    key = tuple(dirs)
    if key not in _found:
        face = next((f for f in map(cjk_face, _candidates(key)) if f is not None), None)
        if face is None:
            return None
        _found[key] = face
    return _found[key]


def pdf_font(configured: Path | None, locale: str, *, dirs: Iterable[Path] = FONT_DIRS) -> PdfFont | None:
    """The font of a PDF in ``locale``; None: the core font will do (English, no CJK font).

    A configured file is used as it is (for a Chinese PDF it must have Chinese glyphs);
    otherwise a Chinese face found on the machine, for English PDFs too, so that Chinese
    site and station names print."""
    dirs = tuple(dirs)
    if configured is not None:
        if not configured.is_file():
            raise FontMissing(i18n.gettext("The configured PDF font %(file)s does not exist ([review] pdf_font_file).",
                                           file=str(configured)))
        stat = configured.stat()
        face = _configured_face(configured, stat.st_mtime_ns, stat.st_size)
        if face is not None:
            return face
        if locale in _LOCALES_NEEDING_CJK:
            raise FontMissing(i18n.gettext(
                "The configured PDF font %(file)s has no Chinese glyphs in TrueType outlines. Set "
                "[review] pdf_font_file to such a font, or remove it to use one found on the machine "
                "(Debian: apt-get install %(package)s).", file=str(configured), package=DEBIAN_PACKAGE))
        return PdfFont(configured)
    face = find_cjk_font(dirs)
    if face is None and locale in _LOCALES_NEEDING_CJK:
        raise FontMissing(i18n.gettext(
            "No font with Chinese glyphs was found on this machine (searched %(dirs)s), so this PDF "
            "cannot be written in Chinese. Install one (Debian: apt-get install %(package)s) or set "
            "[review] pdf_font_file; or read it in English.",
            dirs=", ".join(str(d) for d in dirs), package=DEBIAN_PACKAGE))
    return face


def problem(configured: Path | None, *, dirs: Iterable[Path] = FONT_DIRS) -> str | None:
    """For ``sitewatch check``: why Chinese PDFs would be refused, or None."""
    try:
        pdf_font(configured, "zh_CN", dirs=dirs)
    except FontMissing as exc:
        return str(exc)
    return None


class LocalisedPdf(FPDF):
    """An fpdf2 document in the current locale's font: the embedded face of :func:`pdf_font`,
    or the core font. ``face_name`` is also the font-family an SVG chart drawn into it names."""

    def __init__(self, *, orientation: str, font_file: Path | None, font_dirs: Iterable[Path] = FONT_DIRS) -> None:
        super().__init__(orientation=orientation, unit="mm", format="A4")
        font = pdf_font(font_file, i18n.current_locale(), dirs=font_dirs)
        if font is not None:
            self.add_font("Embedded", "", str(font.path), collection_font_number=font.index)
            self.face_name, self.embedded = "Embedded", True
        else:
            self.face_name, self.embedded = "Helvetica", False

    def text_of(self, value: str) -> str:
        # The core font knows Latin-1 only: other characters print as "?".
        return value if self.embedded else value.encode("latin-1", "replace").decode("latin-1")

    def say(self, text: str, *, size: float = 9, bold: bool = False, h: float = 5) -> None:
        # The embedded face has no bold variant: bold is for the core font only.
        self.set_font(self.face_name, "B" if bold and not self.embedded else "", size)
        # Left-aligned: fpdf2 justifies by default, which stretches the spaces of a wrapped
        # line (and a text extractor reads them as several) and does nothing for Chinese.
        self.multi_cell(0, h, self.text_of(text), align="L", new_x="LMARGIN", new_y="NEXT")
