"""Fixtures of the browser tests: one running Sitewatch with its scene, one Chromium, and
per test the browser contexts it opens (people logged in, in a language).

Package scope: the instance and the browser live while tests/browser runs and stop before
the next folder's tests, whose timings they would otherwise disturb. Every async fixture
runs in the session's event loop (pyproject: asyncio_default_fixture_loop_scope).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from playwright.async_api import Browser, async_playwright

from tests.browser.browser import CHROMIUM, CHROMIUM_ARGS, Browsers
from tests.browser.instance import Instance, Running
from tests.browser.routes import Route, routes_of
from tests.browser.scene import Scene, set_scene


@pytest.fixture(scope="package")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    instance = Instance(tmp_path_factory.mktemp("sitewatch"))
    try:
        yield instance.start()
    finally:
        instance.stop()


@pytest.fixture(scope="package")
async def scene(running: Running) -> Scene:
    return await set_scene(running)


@pytest.fixture(scope="package")
def routes(running: Running) -> tuple[Route, ...]:
    return routes_of(running)


@pytest.fixture(scope="package")
async def chromium() -> AsyncIterator[Browser]:
    playwright = await async_playwright().start()
    try:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()
    finally:
        await playwright.stop()


@pytest.fixture
async def browsers(chromium: Browser, running: Running, scene: Scene) -> AsyncIterator[Browsers]:
    """Open browsers with :meth:`Browsers.logged_in` (a person, a language) or
    :meth:`Browsers.page` (nobody logged in); closed after the test."""
    opened = Browsers(chromium, running.url)
    try:
        yield opened
    finally:
        await opened.close()
