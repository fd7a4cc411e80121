"""Alembic's entry point: runs the migrations on the connection sitewatch.storage.schema hands over
(built in code: there is no alembic.ini and no URL here)."""

from alembic import context

from sitewatch.storage.database import UtcDateTime
from sitewatch.storage.schema import models_metadata


def render_item(kind: str, obj, _autogen_context):
    # Our UtcDateTime is a Python-side conversion over DateTime(timezone=True): a migration
    # writes the column type the database sees, so it never imports application code that
    # may change after it was written.
    if kind == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False  # Alembic's own rendering


context.configure(
    connection=context.config.attributes["connection"],
    target_metadata=models_metadata(),
    render_as_batch=True,  # ALTERs as SQLite's copy-and-move, the same script on PostgreSQL
    render_item=render_item,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
