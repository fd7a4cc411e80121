"""Alembic migrations of the relational schema; driven by storage/schema.py, and
``python -m sitewatch.storage.migrations revision MESSAGE`` writes a new one (storage/README.md)."""
