"""A deployment's configuration, one with rows in every table and samples (the source of a
backup), a second empty database to restore into, and a process holding the stores."""

from __future__ import annotations

import math
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from sitewatch.config.load import config_from_dict
from sitewatch.config.models import Config
from sitewatch.demo import example_config
from sitewatch.domain.samples import Quality, Sample
from sitewatch.storage.database import make_engine
from sitewatch.storage.duckdb_store import DuckDBStore
from sitewatch.storage.schema import upgrade_schema
from tests.backup.rows import fill_every_table
from tests.conftest import POSTGRES_SERVER_URL

NOW = datetime(2026, 11, 18, 1, 30, tzinfo=UTC)
SAMPLES = [
    Sample(f"rs-00{n % 3}", channel, NOW - timedelta(seconds=5 * n), value, unit, quality)
    for n in range(400)
    for channel, value, unit, quality in (("outlet_kpa", 2.5 + n / 1000, "kPa", Quality.GOOD),
                                          ("inlet_kpa", math.nan, "kPa", Quality.COMM_ERROR))
]


def url_of(config: Config) -> str:
    return config.storage.database_url.format(data_dir=config.storage.data_dir.as_posix())


@pytest.fixture
def source(tmp_path: Path, database_url: str) -> Config:
    """A deployment with rows in every relational table and samples in the time series."""
    config = deployment(tmp_path / "source", database_url)
    config.storage.data_dir.mkdir()
    engine = make_engine(url_of(config))
    try:
        upgrade_schema(engine)
        fill_every_table(engine)
    finally:
        engine.dispose()
    store = DuckDBStore(config.storage.data_dir / config.storage.timeseries_path)
    store.write(SAMPLES)
    store.close()
    return config


def deployment(data_dir: Path, database_url: str, **storage: object) -> Config:
    raw = example_config()
    raw["storage"] = {"data_dir": str(data_dir), "database_url": database_url, **storage}
    return config_from_dict(raw)


@pytest.fixture
def empty_database_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A database of the same kind as ``database_url``, with nothing in it, not even a schema."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'restored' / 'sitewatch.db'}"
        return
    name = f"sitewatch_restore_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{POSTGRES_SERVER_URL}/postgres", autocommit=True, connect_timeout=5) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield f"{POSTGRES_SERVER_URL}/{name}"
        finally:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


_HOLDER = """
import sys
import duckdb
from sqlalchemy import text
from sitewatch.storage.database import make_engine
series = duckdb.connect(sys.argv[1])  # the lock DuckDBStore takes
engine = make_engine(sys.argv[2])
with engine.connect() as conn:
    conn.execute(text("SELECT * FROM alembic_version"))  # a read, as the service's connections have all made
    print("holding", flush=True)
    if sys.stdin.readline().strip() == "release":
        series.close()
        print("released", flush=True)
        sys.stdin.read()
"""


@contextmanager
def held_as_by_the_service(config: Config) -> Iterator[Callable[[], None]]:
    """Another process holding the DuckDB file and a database connection open, as the service
    does; what it yields lets go of the DuckDB file alone."""
    url = config.storage.database_url.format(data_dir=config.storage.data_dir.as_posix())
    series = str(config.storage.data_dir / config.storage.timeseries_path)
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, series, url],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdin is not None and holder.stdout is not None

    def release_timeseries() -> None:
        holder.stdin.write("release\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "released", "the holder did not let go of the time series"

    try:
        assert holder.stdout.readline().strip() == "holding", "the holder did not start"
        yield release_timeseries
    finally:
        holder.communicate(timeout=10)
