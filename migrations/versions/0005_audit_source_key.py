"""Audit entries read from Asterisk carry a unique key, so each is written once by construction.

Feature-code spies (homepbx.records.spies) were written once by checking the log before each
insert, which holds for one collector only: two collectors (a failover pair started together,
or a restart overlapping the old process) could both check, find nothing and both insert. The
key (the supervisor channel's uniqueid) now has its own column with a unique index, and the
insert skips a taken key in the database itself. Entries written by hand (CLI actions) have no
key: NULL, which a unique index never counts as taken, on SQLite and PostgreSQL alike.

Revision ID: 0005
Revises: 0004
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("source_key", sa.String(128), nullable=True))
    conn = op.get_bind()
    # The keys already written (in the details' JSON); a key twice (the race above) stays on
    # its first entry only.
    seen: set[str] = set()
    rows = conn.execute(sa.text(
        "SELECT id, details FROM audit_log WHERE action LIKE 'spy.%' AND details LIKE '%\"key\": %' ORDER BY id"
    ))
    for row_id, details in rows.fetchall():
        try:
            key = json.loads(details).get("key")
        except (ValueError, AttributeError):
            continue
        if isinstance(key, str) and key and key not in seen:
            seen.add(key)
            conn.execute(sa.text("UPDATE audit_log SET source_key = :k WHERE id = :i"), {"k": key, "i": row_id})
    op.create_index("ux_audit_log_source_key", "audit_log", ["source_key"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_audit_log_source_key", table_name="audit_log")
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("source_key")
