"""``sitewatch backup`` / ``sitewatch restore``: the relational database and the embedded
time series, copied consistently while the service runs, into a folder with a manifest.

- manifest.py: what a backup holds (versions, row counts, a SHA-256 per file), checked first
  at every restore.
- sqlite.py, postgres.py: the relational database (SQLite's online backup API; pg_dump and
  pg_restore, custom format, one exported snapshot for the dump and its row counts).
- timeseries.py: the DuckDB file: who holds it, the copy made without the service, the
  restore; the copy the service makes is ``DuckDBStore.export`` (storage/duckdb_export.py),
  reached through ``POST /api/admin/backup`` (remote.py, api/routes/backup.py).
- make.py, restore.py: the two commands' steps and refusals; cli.py: their command line.
"""
