"""Covering indexes for the reports (issue 5: each report <= 2 s over 1,000,000 call records).

Each index holds every column its report reads, in the order of the report's WHERE and GROUP BY,
so the report is an index-only range scan with no lookup into the table:
- agents and billing: agent legs of a period -> calls, talk and hold per agent;
- queues: queue events by event, queue, time -> counts, waits, service level per queue.
The single-column time indexes they replace served only the reports; left in place they also
lured SQLite's planner away from the covering index (and cost every insert).

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

CREATED = (
    ("ix_call_legs_report", "call_legs", ["role", "started_at", "agent", "linkedid", "talk_s", "hold_s"]),
    ("ix_queue_events_report", "queue_events", ["event", "queue", "at", "wait_s"]),
)
DROPPED = (
    ("ix_call_legs_started_at", "call_legs", ["started_at"]),
    ("ix_queue_events_queue_at", "queue_events", ["queue", "at"]),
    ("ix_queue_events_at", "queue_events", ["at"]),
)


def upgrade() -> None:
    for name, table, columns in CREATED:
        op.create_index(name, table, columns)
    for name, table, _ in DROPPED:
        op.drop_index(name, table_name=table)


def downgrade() -> None:
    for name, table, columns in DROPPED:
        op.create_index(name, table, columns)
    for name, table, _ in CREATED:
        op.drop_index(name, table_name=table)
