"""No page, PDF or CSV header shown in Chinese keeps English text: every GET route of the app
that answers with a page, a PDF or a CSV is opened in zh-CN (path parameters filled from
the scene) and its visible text searched (tests/browser/english.py)."""

from __future__ import annotations

import io
import json

from pypdf import PdfReader

from tests.browser.browser import Browsers, get_from_page, visible_text
from tests.browser.english import config_strings, people, strings_in, untranslated
from tests.browser.instance import OWN, Running
from tests.browser.routes import Route, reads, urls, values
from tests.browser.scene import TYPED, Scene


async def test_no_page_pdf_or_csv_header_in_chinese_shows_english(browsers: Browsers, running: Running, scene: Scene,
                                                                   routes: tuple[Route, ...]):
    page = await browsers.logged_in("admin", "zh-CN")
    assets = await get_from_page(page, "/api/assets")
    reported = set().union(*(strings_in(a["details"]) | strings_in(a["reported"]) for a in json.loads(assets["body"])))
    data = config_strings(running.raw) | reported | people() | set(TYPED)

    texts: dict[str, str] = {}
    logged_out = await browsers.page("zh-CN")
    await logged_out.goto("/login")
    texts["/login"] = await visible_text(logged_out)
    unopened = {}
    for url in urls(reads(routes), values(running, scene, customer=OWN)):
        probe = await get_from_page(page, url)
        kind = probe["type"].split(";")[0]
        if probe["status"] != 200:
            unopened[url] = probe["status"]
        elif kind == "text/html":
            await page.goto(url)
            texts[url] = await visible_text(page)
        elif kind == "application/pdf":
            pdf = await (await page.context.request.get(url)).body()
            texts[url] = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
        elif kind == "text/csv":
            texts[url] = probe["body"].splitlines()[0] if probe["body"] else ""

    assert {"/", "/tickets", "/review", "/inspections", "/reports"} <= texts.keys(), f"walked only {sorted(texts)}"
    assert any(u.endswith(".pdf") for u in texts), f"no PDF walked: {sorted(texts)}"
    english = {url: found for url, text in texts.items() if (found := untranslated(text, data))}
    assert not english and not unopened, "untranslated English in zh-CN:\n" + "\n".join(
        f"  {url}: {' | '.join(found[:20])}{' ...' if len(found) > 20 else ''}" for url, found in english.items()
    ) + "".join(f"\n  {url}: not walked, an admin could not open it ({status})" for url, status in unopened.items())
