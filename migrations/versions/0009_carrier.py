"""The carrier side (issue 11): trunks, opening-hours schedules, public numbers; teams' outbound
policy, queues' overflow, and the direction, number and trunk of call records.

Existing teams may call out nowhere (outbound none) and existing queues keep hanging up at their
maximum wait (overflow hangup, now with a goodbye); existing call records are internal.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _columns() -> tuple[tuple[str, sa.Column], ...]:
    return (
        ("teams", sa.Column("outbound", sa.String(16), nullable=False, server_default="none")),
        ("teams", sa.Column("outbound_premium", sa.Boolean, nullable=False, server_default=sa.false())),
        ("teams", sa.Column("caller_id", sa.String(16), nullable=False, server_default="")),
        ("queues", sa.Column("overflow", sa.String(16), nullable=False, server_default="hangup")),
        ("queues", sa.Column("overflow_target", sa.String(80), nullable=False, server_default="")),
        ("call_records", sa.Column("direction", sa.String(8), nullable=False, server_default="internal")),
        ("call_records", sa.Column("number", sa.String(32), nullable=False, server_default="")),
        ("call_records", sa.Column("trunk", sa.String(40), nullable=False, server_default="")),
    )


def upgrade() -> None:
    op.create_table(
        "trunks",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(40), nullable=False, unique=True),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("host", sa.String(253), nullable=False),
        sa.Column("port", sa.Integer, nullable=False),
        sa.Column("transport", sa.String(8), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("realm", sa.String(253), nullable=False),
        sa.Column("md5_cred", sa.String(32), nullable=False),
        sa.Column("match", sa.Text, nullable=False),
        sa.Column("outbound_proxy", sa.String(260), nullable=False),
        sa.Column("codecs", sa.String(80), nullable=False),
        sa.Column("max_channels", sa.Integer, nullable=False),
        sa.Column("caller_id", sa.String(16), nullable=False),
        sa.Column("outbound", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "schedules",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(40), nullable=False, unique=True),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("weekly", sa.Text, nullable=False),
        sa.Column("holidays", sa.String(8), nullable=False),
        sa.Column("closures", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "numbers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("e164", sa.String(16), nullable=False, unique=True),
        sa.Column("trunk_id", sa.Integer, sa.ForeignKey("trunks.id", ondelete="RESTRICT"), nullable=False),
        sa.Column("route", sa.String(16), nullable=False),
        sa.Column("target", sa.String(40), nullable=False),
        sa.Column("schedule_id", sa.Integer, sa.ForeignKey("schedules.id", ondelete="RESTRICT"), nullable=True),
        sa.Column("closed_sound", sa.String(80), nullable=False),
        sa.Column("closed_queue", sa.String(40), nullable=False),
        sa.Column("label", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_numbers_trunk_id", "numbers", ["trunk_id"])
    op.create_index("ix_numbers_schedule_id", "numbers", ["schedule_id"])
    # Plain ALTER TABLE (SQLite >= 3.35 and PostgreSQL both have ADD/DROP COLUMN): a batch
    # rebuild would drop and recreate these tables, and with foreign keys on, dropping
    # call_records cascades to every leg and queue event.
    for table, column in _columns():
        op.add_column(table, column)


def downgrade() -> None:
    for table, column in reversed(_columns()):
        op.drop_column(table, column.name)
    op.drop_index("ix_numbers_schedule_id", "numbers")
    op.drop_index("ix_numbers_trunk_id", "numbers")
    op.drop_table("numbers")
    op.drop_table("schedules")
    op.drop_table("trunks")
