"""Hourly roll-ups for the reports (issue 5: each report <= 2 s over 1,000,000 call records).

Four tables of sums per UTC hour (see homepbx.records.rollup), filled here from the rows already
stored; from then on the store adds each batch's new calls and purge rebuilds what it deleted
from. Also a partial index of the agent events that are not wrap-ups (logins, pauses), which
the agents report replays: it read them through the time index among a million wrap-ups.

The tables are created here by hand; the filling is homepbx.records.rollup.rebuild, plain SQL
by table name (no ORM models), the same function purge and bench/records.py use. If a later
revision changes these tables, give this one a frozen copy of today's rebuild.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

STATE_INDEX = ["at", "agent", "event", "queue", "reason"]


def _i(name: str) -> sa.Column:
    return sa.Column(name, sa.Integer, nullable=False)


def _f(name: str) -> sa.Column:
    return sa.Column(name, sa.Float, nullable=False)


def upgrade() -> None:
    op.create_table(
        "rollup_agent_hours",
        sa.Column("hour", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("agent", sa.String(10), nullable=False),
        _i("legs"), _i("rang"), _i("talked"), _i("talk_legs"), _f("talk_s"), _f("hold_s"), _i("wrapups"), _f("wrapup_s"),
        sa.PrimaryKeyConstraint("hour", "agent"),
    )
    op.create_table(
        "rollup_wrapup_weights",
        sa.Column("hour", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("queue", sa.String(40), nullable=False),
        _i("wrapup_time"),
        sa.PrimaryKeyConstraint("hour", "queue"),
    )
    op.create_table(
        "rollup_queue_hours",
        sa.Column("hour", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("queue", sa.String(40), nullable=False),
        _i("threshold"), _i("entered"), _i("answered"), _i("answer_waits"), _f("answer_wait_s"), _i("within"),
        _i("abandoned"), _i("abandon_waits"), _f("abandon_wait_s"), _i("timeouts"),
        sa.PrimaryKeyConstraint("hour", "queue"),
    )
    op.create_table(
        "rollup_span_hours",
        sa.Column("hour", sa.Integer, nullable=False, autoincrement=False),
        _f("span_s"),
        sa.PrimaryKeyConstraint("hour"),
    )
    op.create_index("ix_agent_events_state", "agent_events", STATE_INDEX,
                    sqlite_where=sa.text("event <> 'wrapup'"), postgresql_where=sa.text("event <> 'wrapup'"))
    from homepbx.records.rollup import rebuild

    rebuild(op.get_bind())


def downgrade() -> None:
    op.drop_index("ix_agent_events_state", table_name="agent_events")
    for table in ("rollup_span_hours", "rollup_queue_hours", "rollup_wrapup_weights", "rollup_agent_hours"):
        op.drop_table(table)
