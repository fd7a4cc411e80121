"""The relational store: SQLite by default, PostgreSQL in production, same code for both."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Engine, create_engine, event, inspect
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from domain.time import UTC


class UtcDateTime(TypeDecorator[datetime]):
    """Stores aware UTC; SQLite keeps no zone, so the zone is put back on the way out."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} refused: store UTC-aware times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            # WAL lets the API read while the rules worker writes; FKs are off by default.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True)


def create_schema(engine: Engine) -> None:
    """Create what is missing: tables, and nullable columns and indexes added since a database
    was made (its rows keep their data; the new column starts empty). Nothing is ever dropped.

    What exists is read in three catalogue queries (tables, their columns, their indexes), not
    one per table and index: every process and every test starts here."""
    import storage.paging  # noqa: F401 — registers paging's tables on the same metadata
    from storage.tables import Base

    existing = inspect(engine)
    present_tables = set(existing.get_table_names())
    missing = [t for t in Base.metadata.sorted_tables if t.name not in present_tables]
    if missing:
        Base.metadata.create_all(engine, tables=missing, checkfirst=False)
    old = [t for t in Base.metadata.sorted_tables if t.name in present_tables]
    if not old:
        return
    columns = {name: {c["name"] for c in cols} for (_schema, name), cols in existing.get_multi_columns().items()}
    indexes = {name: {i["name"] for i in found} for (_schema, name), found in existing.get_multi_indexes().items()}
    with engine.begin() as conn:
        for table in old:
            present = columns.get(table.name, set())
            for column in table.columns:
                if column.name in present:
                    continue
                if not column.nullable:
                    raise RuntimeError(f"table {table.name}: new column {column.name} is NOT NULL; write a migration")
                kind = column.type.compile(dialect=engine.dialect)
                conn.exec_driver_sql(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}')
            for index in table.indexes:
                if index.name not in indexes.get(table.name, set()):
                    index.create(conn, checkfirst=True)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
