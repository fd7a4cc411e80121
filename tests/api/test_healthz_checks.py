"""/healthz really asks the database and the time-series store: a PostgreSQL database that
refuses connections makes it 503 (a load balancer sends the requests elsewhere), a
time-series server nobody answers on makes it degraded, and both say what went wrong."""

from __future__ import annotations

import httpx
import psycopg
import pytest

from sitewatch.api.app import create_app
from sitewatch.components import build_components
from sitewatch.config.load import config_from_dict
from sitewatch.demo import example_config
from tests.servers import free_port

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def _client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sitewatch")


async def test_a_database_that_refuses_connections_makes_healthz_503(database_url, tmp_path):
    raw = example_config()
    raw["storage"] = {"data_dir": str(tmp_path), "database_url": database_url}
    parts = build_components(config_from_dict(raw))
    name = database_url.rsplit("/", 1)[1]
    admin = psycopg.connect(database_url.rsplit("/", 1)[0] + "/postgres", autocommit=True)
    try:
        async with _client(create_app(parts)) as client:
            ok = await client.get("/healthz")
            assert (ok.status_code, ok.json()["checks"]) == (200, {"database": "ok", "store": "ok"})
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
            down = await client.get("/healthz")
            assert down.status_code == 503, down.text
            assert down.json()["status"] == "degraded"
            assert down.json()["checks"]["database"].startswith("unreachable: "), down.json()["checks"]
    finally:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        admin.close()
        parts.close()


async def test_a_time_series_server_nobody_answers_makes_healthz_degraded(database_url, tmp_path):
    raw = example_config()
    dead = f"http://127.0.0.1:{free_port()}"
    raw["storage"] = {"data_dir": str(tmp_path), "database_url": database_url, "timeseries": "influx",
                      "influx": {"url": dead, "reader": "victoriametrics", "timeout_s": 2}}
    parts = build_components(config_from_dict(raw))
    try:
        async with _client(create_app(parts)) as client:
            answer = await client.get("/healthz")
            assert answer.status_code == 200, "the database is up: the process can still serve tickets"
            body = answer.json()
            assert body["status"] == "degraded" and body["checks"]["database"] == "ok"
            assert body["checks"]["store"].startswith("unreachable: "), body["checks"]
    finally:
        parts.close()
