"""Call records and their legs, queue and agent events, recordings, collector cursors.

Natural unique keys (linkedid; linkedid+uniqueid; callid+queue+event+at; agent+queue+event+at;
recording path) make the collector's ingestion idempotent on SQLite and PostgreSQL alike.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "call_records",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("linkedid", sa.String(64), nullable=False, unique=True),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("answered_at", sa.DateTime, nullable=True),
        sa.Column("ended_at", sa.DateTime, nullable=False),
        sa.Column("caller", sa.String(80), nullable=False),
        sa.Column("caller_name", sa.String(80), nullable=False),
        sa.Column("called", sa.String(80), nullable=False),
        sa.Column("queue", sa.String(40), nullable=False),
        sa.Column("agent", sa.String(10), nullable=False),
        sa.Column("last_agent", sa.String(10), nullable=False),
        sa.Column("disposition", sa.String(16), nullable=False),
        sa.Column("hangup_side", sa.String(8), nullable=False),
        sa.Column("wait_s", sa.Float, nullable=False),
        sa.Column("ring_s", sa.Float, nullable=False),
        sa.Column("talk_s", sa.Float, nullable=False),
        sa.Column("hold_s", sa.Float, nullable=False),
        sa.Column("transfers", sa.Integer, nullable=False),
        sa.Column("recording", sa.String(255), nullable=False),
        sa.Column("complete", sa.Boolean, nullable=False),
    )
    # Reports filter on a time range, the agent report also by agent.
    op.create_index("ix_call_records_started_at", "call_records", ["started_at"])
    op.create_index("ix_call_records_agent_started_at", "call_records", ["agent", "started_at"])

    op.create_table(
        "call_legs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "linkedid", sa.String(64), sa.ForeignKey("call_records.linkedid", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("uniqueid", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(128), nullable=False),
        sa.Column("role", sa.String(8), nullable=False),
        sa.Column("agent", sa.String(10), nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("answered_at", sa.DateTime, nullable=True),
        sa.Column("ended_at", sa.DateTime, nullable=True),
        sa.Column("ring_s", sa.Float, nullable=False),
        sa.Column("talk_s", sa.Float, nullable=False),
        sa.Column("hold_s", sa.Float, nullable=False),
        sa.Column("hangup_cause", sa.Integer, nullable=True),
        sa.UniqueConstraint("linkedid", "uniqueid", name="uq_call_legs_linkedid_uniqueid"),
    )
    op.create_index("ix_call_legs_started_at", "call_legs", ["started_at"])

    op.create_table(
        "queue_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "linkedid", sa.String(64), sa.ForeignKey("call_records.linkedid", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("callid", sa.String(64), nullable=False),
        sa.Column("queue", sa.String(40), nullable=False),
        sa.Column("event", sa.String(24), nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("agent", sa.String(10), nullable=False),
        sa.Column("wait_s", sa.Float, nullable=True),
        sa.Column("talk_s", sa.Float, nullable=True),
        sa.UniqueConstraint("callid", "queue", "event", "at", name="uq_queue_events_key"),
    )
    op.create_index("ix_queue_events_linkedid", "queue_events", ["linkedid"])
    op.create_index("ix_queue_events_queue_at", "queue_events", ["queue", "at"])
    op.create_index("ix_queue_events_at", "queue_events", ["at"])

    op.create_table(
        "agent_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("agent", sa.String(10), nullable=False),
        sa.Column("queue", sa.String(40), nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(40), nullable=False),
        sa.Column("linkedid", sa.String(64), nullable=False),
        sa.UniqueConstraint("agent", "queue", "event", "at", name="uq_agent_events_key"),
    )
    op.create_index("ix_agent_events_at", "agent_events", ["at"])

    op.create_table(
        "recordings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("path", sa.String(255), nullable=False, unique=True),
        sa.Column("linkedid", sa.String(64), nullable=False),
        sa.Column("agent", sa.String(10), nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("ended_at", sa.DateTime, nullable=True),
        sa.Column("paused", sa.Text, nullable=False),
    )
    op.create_index("ix_recordings_linkedid", "recordings", ["linkedid"])
    op.create_index("ix_recordings_started_at", "recordings", ["started_at"])

    op.create_table(
        "record_sources",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("inode", sa.BigInteger, nullable=False),
        sa.Column("offset", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    for table in ("record_sources", "recordings", "agent_events", "queue_events", "call_legs", "call_records"):
        op.drop_table(table)
