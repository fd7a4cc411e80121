"""Rows in every relational table, and every table read back, for the round trips.

The filler writes each mapped table (FKs pointing at rows it wrote before), with values
that catch a lossy copy: microsecond aware datetimes, non-ASCII text, JSON with nesting
and null, every byte value in binary columns; a table added later is filled too.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, Integer, inspect, text
from sqlalchemy.sql.schema import Column, Table

from sitewatch.storage.schema import models_metadata

BINARY = bytes(range(256))
SINCE = datetime(2026, 3, 1, 2, 3, 4, 567891, tzinfo=UTC)


def fill_every_table(engine: Engine, *, rows: int = 2) -> None:
    keys: dict[str, list[object]] = {}
    with engine.begin() as conn:
        for table in models_metadata().sorted_tables:
            keys[table.name] = []
            for i in range(rows):
                values = {c.name: _value(table, c, i, keys) for c in table.columns if not _generated(table, c)}
                key = conn.execute(table.insert().values(values).returning(*table.primary_key.columns)).one()
                keys[table.name].append(key[0])


def every_table(engine: Engine) -> dict[str, list[tuple]]:
    """Each table's rows as the driver returns them, in primary-key order."""
    found = inspect(engine)
    quote = engine.dialect.identifier_preparer.quote
    out = {}
    with engine.connect() as conn:
        for name in found.get_table_names():
            order = ", ".join(quote(c) for c in found.get_pk_constraint(name)["constrained_columns"])
            out[name] = [tuple(r) for r in conn.execute(text(f"SELECT * FROM {quote(name)} ORDER BY {order}"))]
    return out


def _generated(table: Table, column: Column) -> bool:
    """An integer primary key of its own: the database numbers it (and its sequence must follow)."""
    return column.primary_key and len(table.primary_key.columns) == 1 and isinstance(column.type, Integer)


def _value(table: Table, column: Column, i: int, keys: dict[str, list[object]]) -> object:
    if column.foreign_keys:
        target = next(iter(column.foreign_keys)).column.table.name
        return keys[target][i % len(keys[target])]
    kind = getattr(column.type, "impl_instance", column.type).python_type  # UtcDateTime: its DateTime
    if kind is datetime:
        return SINCE + timedelta(hours=i, microseconds=i)
    if kind is bool:
        return i % 2 == 0
    if kind is int:
        return i + 1
    if kind is float:
        return 0.1 + i
    if kind is bytes:
        return BINARY + bytes([i])
    if kind in (dict, list):
        return {"i": i, "站": ["燃气", 1.5, None, {"nested": True}]} if kind is dict else [i, "燃气", None]
    length = getattr(column.type, "length", None) or 200
    return f"{i}站{table.name}.{column.name}"[:length]
