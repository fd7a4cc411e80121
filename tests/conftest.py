"""Fixtures shared across the test tree."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from argon2 import PasswordHasher
from psycopg import sql
from sqlalchemy.orm import Session, sessionmaker

from sitewatch.storage.database import make_engine, session_factory
from sitewatch.storage.duckdb_store import DuckDBStore
from sitewatch.storage.schema import upgrade_schema

# The session's VictoriaMetrics and InfluxDB fixtures (started only by tests that use them).
pytest_plugins = ("tests.servers",)


@pytest.fixture(autouse=True, scope="session")
def cheap_password_hashing() -> Iterator[None]:
    """Argon2id at its cheapest for the suite's hundreds of test users and logins: ~0.1 s a
    hash was a third of the API tests' time. Same code path; the production parameters are
    checked on their own (tests/auth/test_users.py)."""
    from sitewatch.auth import users

    users.HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    yield
    users.HASHER = users.PRODUCTION_HASHER


@pytest.fixture(autouse=True)
async def no_leaked_tasks() -> AsyncIterator[None]:
    """Fail any test that leaves an asyncio task running (the pymodbus test-suite habit)."""
    before = asyncio.all_tasks()
    yield
    for _ in range(5):  # let just-finished callbacks run
        await asyncio.sleep(0)
    leaked = [t for t in asyncio.all_tasks() - before if t is not asyncio.current_task() and not t.done()]
    assert not leaked, f"test left tasks running: {leaked}"


# The server CI starts; override to point the tests elsewhere.
POSTGRES_SERVER_URL = os.environ.get("SITEWATCH_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A PostgreSQL database migrated to the head, which each test's database copies
    (CREATE DATABASE ... TEMPLATE): a copy takes a fraction of migrating again."""
    name = f"sitewatch_template_{uuid.uuid4().hex[:12]}"
    admin = _admin_connection()
    try:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        engine = make_engine(f"{POSTGRES_SERVER_URL}/{name}")
        upgrade_schema(engine)
        engine.dispose()  # a template must have no connections while it is copied
        yield name
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
    finally:
        admin.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to the head, which each test's SQLite database copies (a copy:
    ~1 ms; running the migrations: ~100 ms)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade_schema(engine)
    engine.dispose()  # the last connection folds the WAL into the file, so the file is all
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database at the head of the migrations (upgrade_schema on it finds nothing to
    do): a copy of the SQLite template file, or a uniquely named PostgreSQL database copied
    from the PostgreSQL template."""
    if request.param == "sqlite":
        shutil.copyfile(request.getfixturevalue("sqlite_template"), tmp_path / "sitewatch.db")
        yield f"sqlite:///{tmp_path / 'sitewatch.db'}"
        return
    template = request.getfixturevalue("postgres_template")
    name = f"sitewatch_test_{uuid.uuid4().hex[:12]}"
    admin = _admin_connection()
    try:
        admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template)))
        yield f"{POSTGRES_SERVER_URL}/{name}"
        _drop_database(admin, name)
    finally:
        admin.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_databases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], str]]:
    """Makes empty databases (no schema at all) of one dialect, for what a first start or a
    migration does to them: new SQLite files, or PostgreSQL databases dropped afterwards."""
    if request.param == "sqlite":
        yield lambda: f"sqlite:///{tmp_path / uuid.uuid4().hex[:12]}.db"
        return
    admin, made = _admin_connection(), []

    def make() -> str:
        made.append(f"sitewatch_empty_{uuid.uuid4().hex[:12]}")
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(made[-1])))
        return f"{POSTGRES_SERVER_URL}/{made[-1]}"

    try:
        yield make
        for name in made:
            _drop_database(admin, name)
    finally:
        admin.close()


def _drop_database(admin: psycopg.Connection, name: str) -> None:
    # A leaked engine would make DROP DATABASE fail: end its sessions first.
    admin.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
        (name,),
    )
    admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


def _admin_connection() -> psycopg.Connection:
    try:
        return psycopg.connect(f"{POSTGRES_SERVER_URL}/postgres", autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        # Fail, never skip: a silently skipped PostgreSQL run hides production-only bugs.
        pytest.fail(f"PostgreSQL at {POSTGRES_SERVER_URL} is not reachable (CI must start it): {exc}", pytrace=False)


@pytest.fixture
def db_session_factory(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    try:
        upgrade_schema(engine)
        yield session_factory(engine)
    finally:
        engine.dispose()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DuckDBStore]:
    """An empty embedded time-series store in the test's folder."""
    s = DuckDBStore(tmp_path / "samples.duckdb")
    yield s
    s.close()
