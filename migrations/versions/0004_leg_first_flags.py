"""Call legs say which is an agent's first ring and first talk in a call (issue 5: agents report <= 2 s).

The agents and billing reports counted calls per agent with COUNT(DISTINCT linkedid), which
sorts or hashes every agent leg of the period (1.2-1.6 s of the agents report over 1,000,000
calls). With `first_ring` (the agent's first leg in the call, by start, then insertion order)
and `first_talk` (the first such leg with talk), a call counts once per agent as a plain sum;
the reports add back the few calls whose first leg started before the period (see reports.py).
The records engine sets both flags as it writes a call (all of its legs at once); here they are
filled for the rows already stored, and the covering index gains them.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

OLD_INDEX = ["role", "started_at", "agent", "linkedid", "talk_s", "hold_s"]
REPEAT_INDEX = ["role", "started_at", "agent", "linkedid", "talk_s", "first_talk"]
NEW_INDEX = ["role", "started_at", "agent", "first_ring", "first_talk", "talk_s", "hold_s", "linkedid"]

# An earlier leg of the same agent in the same call (start time, then insertion order).
_EARLIER = (
    "SELECT 1 FROM call_legs AS e WHERE e.linkedid = call_legs.linkedid AND e.agent = call_legs.agent "
    "AND e.role = 'agent' {extra} AND (e.started_at < call_legs.started_at "
    "OR (e.started_at = call_legs.started_at AND e.id < call_legs.id))"
)


def upgrade() -> None:
    for name in ("first_ring", "first_talk"):
        op.add_column("call_legs", sa.Column(name, sa.Boolean, nullable=False, server_default=sa.false()))
    op.execute(
        "UPDATE call_legs SET first_ring = TRUE WHERE role = 'agent' AND NOT EXISTS ("
        + _EARLIER.format(extra="") + ")"
    )
    op.execute(
        "UPDATE call_legs SET first_talk = TRUE WHERE role = 'agent' AND talk_s > 0 AND NOT EXISTS ("
        + _EARLIER.format(extra="AND e.talk_s > 0") + ")"
    )
    op.drop_index("ix_call_legs_report", table_name="call_legs")
    op.create_index("ix_call_legs_report", "call_legs", NEW_INDEX)
    # Partial: only the legs that are not an agent's first in their call (a few per cent).
    op.create_index("ix_call_legs_repeat", "call_legs", REPEAT_INDEX,
                    sqlite_where=sa.text("first_ring = 0"), postgresql_where=sa.text("first_ring = false"))


def downgrade() -> None:
    op.drop_index("ix_call_legs_repeat", table_name="call_legs")
    op.drop_index("ix_call_legs_report", table_name="call_legs")
    op.create_index("ix_call_legs_report", "call_legs", OLD_INDEX)
    with op.batch_alter_table("call_legs") as batch:
        batch.drop_column("first_talk")
        batch.drop_column("first_ring")
