"""Tamper-evident records: the database refuses UPDATE and DELETE of audit rows, of signed
daily logs and of complaints (triggers, on SQLite and PostgreSQL), and the audit log becomes
a hash chain (storage/audit_chain.py): its rows so far are chained here, once, in id order.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 17:45:00.000000
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

GENESIS = "0" * 64
CHAIN = "audit_log"

# (table, the rows refused (SQL condition on OLD, None: all), why). A complaint is frozen
# once recorded (reports/complaints.py); a daily log once signed (review/sign.py), its
# drafts stay editable; the chain's head may move forward only.
_REFUSED = (
    ("audit_log", None, "the audit log is append-only"),
    ("complaints", None, "a recorded complaint never changes"),
    ("daily_reviews", "OLD.signed_at IS NOT NULL", "a signed operation log never changes"),
)

_PG_FUNCTION = """
CREATE FUNCTION sitewatch_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    which text := '';
BEGIN
    IF TG_LEVEL = 'ROW' THEN
        which := ' row ' || coalesce(to_jsonb(OLD) ->> 'id', to_jsonb(OLD) ->> 'chain', '?');
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'integrity_constraint_violation',
        MESSAGE = 'sitewatch: ' || TG_OP || ' on ' || TG_TABLE_NAME || which || ' refused: ' || TG_ARGV[0];
END $$;
"""
_HEAD_WHY = "the audit chain head only moves forward"


def _pg_triggers() -> list[str]:
    out = []
    for table, when, why in _REFUSED:
        condition = f" WHEN ({when})" if when else ""
        out += [(f"CREATE TRIGGER {table}_refuse_change BEFORE UPDATE OR DELETE ON {table} FOR EACH ROW"
                f"{condition} EXECUTE FUNCTION sitewatch_refuse_change('{why}')"),
                (f"CREATE TRIGGER {table}_refuse_truncate BEFORE TRUNCATE ON {table} FOR EACH STATEMENT "
                f"EXECUTE FUNCTION sitewatch_refuse_change('{why}')")]
    why = _HEAD_WHY
    return out + [
        ("CREATE TRIGGER audit_chain_head_refuse_delete BEFORE DELETE ON audit_chain_head FOR EACH ROW "
        f"EXECUTE FUNCTION sitewatch_refuse_change('{why}')"),
        ("CREATE TRIGGER audit_chain_head_refuse_back BEFORE UPDATE ON audit_chain_head FOR EACH ROW "
        f"WHEN (NEW.seq < OLD.seq) EXECUTE FUNCTION sitewatch_refuse_change('{why}')"),
        ("CREATE TRIGGER audit_chain_head_refuse_truncate BEFORE TRUNCATE ON audit_chain_head FOR EACH STATEMENT "
        f"EXECUTE FUNCTION sitewatch_refuse_change('{why}')"),
    ]


def _sqlite_triggers() -> list[str]:
    # RAISE(ABORT, ...) takes a literal only (SQLite 3.40): the message cannot name the row.
    out = []
    for table, when, why in _REFUSED:
        condition = f" WHEN {when}" if when else ""
        out += [f"CREATE TRIGGER {table}_refuse_{op_.lower()} BEFORE {op_} ON {table}{condition} "
                f"BEGIN SELECT RAISE(ABORT, 'sitewatch: {op_} on {table} refused: {why}'); END"
                for op_ in ("UPDATE", "DELETE")]
    why = _HEAD_WHY
    return out + [
        ("CREATE TRIGGER audit_chain_head_refuse_delete BEFORE DELETE ON audit_chain_head "
        f"BEGIN SELECT RAISE(ABORT, 'sitewatch: DELETE on audit_chain_head refused: {why}'); END"),
        ("CREATE TRIGGER audit_chain_head_refuse_update BEFORE UPDATE ON audit_chain_head WHEN NEW.seq < OLD.seq "
        f"BEGIN SELECT RAISE(ABORT, 'sitewatch: UPDATE on audit_chain_head refused: {why}'); END"),
    ]


def _row_hash(seq, row, prev_hash: str) -> str:
    """storage/audit_chain.py's encoding, version 1, frozen here as it was when this ran."""
    at = row.at.replace(tzinfo=UTC) if row.at.tzinfo is None else row.at.astimezone(UTC)
    fields = [1, seq, at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), row.actor, row.entity, row.entity_id, row.action,
              row.detail, prev_hash]
    return hashlib.sha256(json.dumps(fields, sort_keys=True, separators=(",", ":")).encode("ascii")).hexdigest()


def _chain_existing_rows() -> None:
    log = sa.table("audit_log", sa.column("id", sa.Integer()), sa.column("at", sa.DateTime(timezone=True)),
                   sa.column("actor", sa.String()), sa.column("entity", sa.String()),
                   sa.column("entity_id", sa.String()), sa.column("action", sa.String()),
                   sa.column("detail", sa.JSON()), sa.column("seq", sa.Integer()),
                   sa.column("prev_hash", sa.String()), sa.column("row_hash", sa.String()))
    bind = op.get_bind()
    prev, seq, links = GENESIS, 0, []
    for row in bind.execute(sa.select(log).order_by(log.c.id)):
        seq += 1
        links.append({"row_id": row.id, "row_seq": seq, "row_prev": prev, "row_digest": _row_hash(seq, row, prev)})
        prev = links[-1]["row_digest"]
    if links:
        bind.execute(log.update().where(log.c.id == sa.bindparam("row_id")).values(
            seq=sa.bindparam("row_seq"), prev_hash=sa.bindparam("row_prev"), row_hash=sa.bindparam("row_digest")),
            links)
        head = sa.table("audit_chain_head", sa.column("chain", sa.String()), sa.column("seq", sa.Integer()),
                        sa.column("last_hash", sa.String()))
        bind.execute(head.insert().values(chain=CHAIN, seq=seq, last_hash=prev))


def upgrade() -> None:
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('seq', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('prev_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('row_hash', sa.String(length=64), nullable=True))
    op.create_table('audit_chain_head',
    sa.Column('chain', sa.String(length=32), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('last_hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('chain')
    )
    _chain_existing_rows()
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.alter_column('seq', existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column('prev_hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column('row_hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.create_index('uq_audit_log_seq', ['seq'], unique=True)
    # After the rebuilds above: SQLite drops a table's triggers with it. A later migration
    # that rebuilds one of these tables on SQLite must make its triggers again.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        for statement in _pg_triggers():
            op.execute(statement)
    else:
        for statement in _sqlite_triggers():
            op.execute(statement)


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    names = [f"{table}_refuse_{kind}" for table, _, _ in _REFUSED
             for kind in (("change", "truncate") if postgresql else ("update", "delete"))]
    for name in names:
        op.execute(f"DROP TRIGGER {name} ON {name.split('_refuse_')[0]}" if postgresql else f"DROP TRIGGER {name}")
    op.drop_table('audit_chain_head')  # its triggers go with it
    if postgresql:
        op.execute("DROP FUNCTION sitewatch_refuse_change()")
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index('uq_audit_log_seq')
        batch_op.drop_column('row_hash')
        batch_op.drop_column('prev_hash')
        batch_op.drop_column('seq')
