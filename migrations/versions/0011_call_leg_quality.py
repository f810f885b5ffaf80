"""Line quality per agent leg (issue 12): RTCP loss both ways, jitter, round trip, estimated MOS.

A table of its own keyed like call_legs (linkedid, uniqueid): only the legs whose PBX reported
their RTCP summary have a row. No backfill: older calls carried no figures.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "call_leg_quality",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "linkedid", sa.String(64), sa.ForeignKey("call_records.linkedid", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("uniqueid", sa.String(64), nullable=False),
        sa.Column("agent", sa.String(10), nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("loss_from_pct", sa.Float, nullable=False),
        sa.Column("loss_to_pct", sa.Float, nullable=True),
        sa.Column("jitter_ms", sa.Float, nullable=False),
        sa.Column("rtt_ms", sa.Float, nullable=True),
        sa.Column("mos", sa.Float, nullable=False),
        sa.UniqueConstraint("linkedid", "uniqueid", name="uq_call_leg_quality_linkedid_uniqueid"),
    )
    op.create_index("ix_call_leg_quality_at", "call_leg_quality", ["at", "agent"])


def downgrade() -> None:
    op.drop_index("ix_call_leg_quality_at", table_name="call_leg_quality")
    op.drop_table("call_leg_quality")
