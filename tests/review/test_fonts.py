"""Finding the font Chinese PDFs are written in, and saying clearly when there is none."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sitewatch import i18n
from sitewatch.i18n.fonts import FontMissing, cjk_face, find_cjk_font, pdf_font, problem

WQY = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
NOTO = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
EXAMPLE = Path(__file__).parents[2] / "config" / "sitewatch.example.toml"
SITEWATCH = str(Path(sys.executable).with_name("sitewatch"))


def test_a_truetype_chinese_face_is_found_and_a_cff_one_is_passed_over(tmp_path):
    if not WQY.exists():
        pytest.skip(f"no {WQY} (Debian: fonts-wqy-microhei)")
    assert cjk_face(WQY) is not None and cjk_face(WQY).index == 0
    assert find_cjk_font().path.name.startswith("wqy-microhei"), "the face known to embed well comes first"
    if NOTO.exists():
        # Noto Sans CJK has the glyphs, but in CFF outlines, which fpdf2 embeds with wrong widths.
        assert cjk_face(NOTO) is None
    assert cjk_face(DEJAVU) is None, "no Chinese glyphs"
    assert cjk_face(tmp_path / "nothing.ttf") is None


def test_no_chinese_font_refuses_a_chinese_pdf_only(tmp_path):
    assert pdf_font(None, "en", dirs=[tmp_path]) is None, "English: the core font"
    with i18n.using("en"), pytest.raises(FontMissing, match="fonts-wqy-microhei") as refused:
        pdf_font(None, "zh_CN", dirs=[tmp_path])
    assert str(tmp_path) in str(refused.value) and "pdf_font_file" in str(refused.value)


def test_a_configured_font_is_used_as_it_is(tmp_path):
    with i18n.using("en"), pytest.raises(FontMissing, match="does not exist"):
        pdf_font(tmp_path / "missing.ttf", "en")
    if not DEJAVU.exists():
        pytest.skip(f"no {DEJAVU}")
    assert pdf_font(DEJAVU, "en").path == DEJAVU, "for English PDFs, any TrueType font"
    with i18n.using("en"), pytest.raises(FontMissing, match="no Chinese glyphs"):
        pdf_font(DEJAVU, "zh_CN")
    assert problem(DEJAVU) is not None and problem(None, dirs=[tmp_path]) is not None


def test_sitewatch_check_warns_when_chinese_pdfs_would_be_refused(tmp_path):
    config = tmp_path / "sitewatch.toml"
    missing = tmp_path / "missing.ttf"
    config.write_text(EXAMPLE.read_text().replace("completeness_min_ratio = 0.95\n",
                                                  f'completeness_min_ratio = 0.95\npdf_font_file = "{missing}"\n', 1))
    done = subprocess.run([SITEWATCH, "check", "--config", str(config)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "warning" in done.stderr and str(missing) in done.stderr
