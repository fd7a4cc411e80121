"""A served Sitewatch with one user per role (tests/logins.py), bearer tokens of two roles,
and a clock the test moves; on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import httpx
import pytest
from fastapi import FastAPI

from sitewatch.api.app import create_app
from sitewatch.components import Components, build_components
from sitewatch.config.load import config_from_dict
from sitewatch.demo import example_config
from sitewatch.domain.time import UTC
from tests.logins import add_role_users
from tests.serving import FixedClock, served, token_entry

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
ADMIN_TOKEN = "integration-admin-token"
VIEWER_TOKEN = "wallboard-viewer-token"


@dataclass
class Site:
    app: FastAPI
    client: httpx.AsyncClient  # nobody logged in yet; tests/logins.log_in makes it someone
    parts: Components
    clock: FixedClock

    def fresh(self) -> httpx.AsyncClient:
        """Another browser on the same server."""
        return httpx.AsyncClient(base_url=self.client.base_url, timeout=10)


@pytest.fixture
async def site(tmp_path, database_url):
    raw = example_config()
    raw["storage"] = {"data_dir": str(tmp_path), "database_url": database_url}
    raw["api"] = {"tokens": [token_entry(ADMIN_TOKEN, name="integration"),
                             token_entry(VIEWER_TOKEN, name="wallboard", role="viewer")]}
    parts = build_components(config_from_dict(raw))
    clock = parts.clock = FixedClock(NOW)
    add_role_users(parts.sessions)
    app = create_app(parts)
    async with served(app) as client:
        yield Site(app, client, parts, clock)
    parts.close()
