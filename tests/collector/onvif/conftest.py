"""One OnvifClients for the whole ONVIF test session, as the runtime has one per process."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from collector.onvif.client import OnvifClients


@pytest.fixture(scope="session")
async def clients() -> AsyncIterator[OnvifClients]:
    shared = OnvifClients()
    yield shared
    await shared.aclose()
