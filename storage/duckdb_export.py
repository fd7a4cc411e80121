"""A consistent copy of a DuckDB store while it keeps being written: the backup's half of
the embedded time series (backup/ restores it).

DuckDB lets one process hold a file for writing, and while it does no other process can
open it at all, not even read-only (measured with duckdb 2.0.1: "Could not set lock on
file", within 10 ms). So the copy is made by whoever holds the file: the running service
through ``DuckDBStore.export`` (reached by the admin API), or the backup command itself on
a read-only connection when no process holds it.

One transaction on one cursor: every table is counted and exported from the same MVCC
snapshot, so ``samples`` and ``latest`` (and any table added later, such as the rollups)
agree with each other and with the counts, while the writer goes on appending. EXPORT
DATABASE writes ``schema.sql``, ``load.sql`` and one Parquet file per table; IMPORT
DATABASE of the folder, even after it was moved, makes the same tables again.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

# Tables of the store's own database (an attached one, or DuckDB's internal ones, are not ours).
_TABLES = """
    SELECT table_name FROM duckdb_tables()
    WHERE database_name = current_database() AND schema_name = 'main' AND NOT internal
    ORDER BY table_name
"""


def export_snapshot(con: duckdb.DuckDBPyConnection, folder: Path) -> dict[str, int]:
    """Export every table of ``con``'s database into ``folder`` (created; must not hold an
    export already) from one snapshot; returns each table's row count in that snapshot.
    ``con`` must be a connection (or cursor) of its own, not one busy with another call."""
    con.execute("BEGIN TRANSACTION")
    try:
        counts = table_counts(con)
        # EXPORT takes no parameters: the path is quoted as an SQL string literal.
        target = str(folder.resolve()).replace("'", "''")
        con.execute(f"EXPORT DATABASE '{target}' (FORMAT parquet, COMPRESSION zstd)")
    finally:
        con.execute("ROLLBACK")  # it only read
    return counts


def table_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Rows per table of ``con``'s database (in its transaction's snapshot, if one is open)."""
    tables = [name for (name,) in con.execute(_TABLES).fetchall()]
    return {name: con.execute(f"SELECT count(*) FROM {_identifier(name)}").fetchone()[0] for name in tables}


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
