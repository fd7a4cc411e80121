"""device_health: the collectors' device health, for processes that do not poll
(storage/device_health.py); on PostgreSQL, NOTIFY sitewatch_changes on what the control
room shows (api/dashboard/listen.py).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 10:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

CHANNEL = "sitewatch_changes"  # api/dashboard/listen.py listens to it

# Statement-level: one notification per statement whatever its row count, and PostgreSQL
# folds identical notifications of one transaction into one. The payload names the table.
# Every change to an alert or a ticket writes an audit row in its transaction, so the audit
# log's inserts stand for all of them (api/dashboard/signature.py).
# A device_health upsert notifies only when a row is new or some row's state changed: the
# collectors refresh counters and last_success of thousands of rows, which nobody needs to
# hear about. An INSERT ... ON CONFLICT DO UPDATE fires the INSERT trigger too (with only
# the rows it inserted in new_rows), and a trigger function may name only the transition
# tables its trigger declares: hence one function per event.
_FUNCTIONS = f"""
CREATE FUNCTION sitewatch_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('{CHANNEL}', TG_TABLE_NAME);
    RETURN NULL;
END $$;

CREATE FUNCTION sitewatch_notify_rows_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM new_rows) THEN
        PERFORM pg_notify('{CHANNEL}', TG_TABLE_NAME);
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION sitewatch_notify_health_state() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM new_rows n JOIN old_rows o USING (device_id) WHERE n.state <> o.state) THEN
        PERFORM pg_notify('{CHANNEL}', TG_TABLE_NAME);
    END IF;
    RETURN NULL;
END $$;
"""

_TRIGGERS = """
CREATE TRIGGER audit_log_notify AFTER INSERT ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION sitewatch_notify_change();

CREATE TRIGGER device_health_insert_notify AFTER INSERT ON device_health
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sitewatch_notify_rows_inserted();

CREATE TRIGGER device_health_update_notify AFTER UPDATE ON device_health
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sitewatch_notify_health_state();
"""


def upgrade() -> None:
    op.create_table('device_health',
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('last_success', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_failure', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('consecutive_failures', sa.Integer(), nullable=False),
    sa.Column('polls_ok', sa.Integer(), nullable=False),
    sa.Column('polls_failed', sa.Integer(), nullable=False),
    sa.Column('exception_responses', sa.Integer(), nullable=False),
    sa.Column('malformed_replies', sa.Integer(), nullable=False),
    sa.Column('timeouts', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('device_id')
    )
    if op.get_bind().dialect.name == "postgresql":  # SQLite has no LISTEN: its API processes poll
        op.execute(_FUNCTIONS)
        op.execute(_TRIGGERS)


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    if postgresql:
        op.execute("DROP TRIGGER audit_log_notify ON audit_log")  # device_health's go with the table
    op.drop_table('device_health')
    if postgresql:
        op.execute("DROP FUNCTION sitewatch_notify_change(), sitewatch_notify_rows_inserted(), "
                   "sitewatch_notify_health_state()")
