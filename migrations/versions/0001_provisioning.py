"""Provisioning: teams, agents, supervisor scopes, queues, members, nodes, audit log.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _check(column: str, values: tuple[str, ...], name: str) -> sa.CheckConstraint:
    quoted = ", ".join(f"'{v}'" for v in values)
    return sa.CheckConstraint(f"{column} IN ({quoted})", name=name)


def upgrade() -> None:
    op.create_table(
        "teams",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(40), nullable=False, unique=True),
        sa.Column("description", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "agents",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("extension", sa.String(10), nullable=False, unique=True),
        sa.Column("display_name", sa.String(64), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("team_id", sa.Integer, sa.ForeignKey("teams.id", ondelete="RESTRICT"), nullable=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("employment", sa.String(16), nullable=False),
        sa.Column("billing_rate", sa.Numeric(10, 4), nullable=False),
        sa.Column("billing_unit", sa.String(16), nullable=False),
        sa.Column("md5_cred", sa.String(32), nullable=False),
        sa.Column("realm", sa.String(64), nullable=False),
        sa.Column("spy_modes", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        _check("role", ("agent", "supervisor"), "role"),
        _check("employment", ("employee", "independent", "umbrella"), "employment"),
        _check("billing_unit", ("minute", "call"), "billing_unit"),
    )
    op.create_index("ix_agents_team_id", "agents", ["team_id"])
    op.create_table(
        "supervisor_scopes",
        sa.Column("supervisor_id", sa.Integer, sa.ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("team_id", sa.Integer, sa.ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True),
    )
    op.create_table(
        "queues",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(40), nullable=False, unique=True),
        sa.Column("extension", sa.String(10), nullable=False, unique=True),
        sa.Column("strategy", sa.String(16), nullable=False),
        sa.Column("ring_timeout", sa.Integer, nullable=False),
        sa.Column("max_wait", sa.Integer, nullable=False),
        sa.Column("wrapup_time", sa.Integer, nullable=False),
        sa.Column("service_level", sa.Integer, nullable=False),
        sa.Column("record", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        _check(
            "strategy",
            ("ringall", "leastrecent", "fewestcalls", "random", "rrmemory", "linear", "wrandom"),
            "strategy",
        ),
    )
    op.create_table(
        "queue_members",
        sa.Column("queue_id", sa.Integer, sa.ForeignKey("queues.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("agent_id", sa.Integer, sa.ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("penalty", sa.Integer, nullable=False),
    )
    op.create_index("ix_queue_members_agent_id", "queue_members", ["agent_id"])
    op.create_table(
        "nodes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(40), nullable=False, unique=True),
        sa.Column("ami_host", sa.String(255), nullable=False),
        sa.Column("ami_port", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(128), nullable=False),
        sa.Column("details", sa.Text, nullable=False),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])


def downgrade() -> None:
    for table in ("audit_log", "nodes", "queue_members", "queues", "supervisor_scopes", "agents", "teams"):
        op.drop_table(table)
