"""Agents' transport (issue 12): TLS + SRTP for new agents, clear text kept for existing ones.

Agents provisioned before this revision registered over UDP/TCP without SRTP: their softphones
are configured that way, so they keep "udp" (switching them silently would cut every one off at
the next `homepbx apply`); the sysadmin moves them with `homepbx agent update EXT --transport tls`
once each softphone has its new settings. New rows default to "tls".

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.add_column(sa.Column("transport", sa.String(8), nullable=False, server_default="udp"))
    with op.batch_alter_table("agents") as batch:
        batch.alter_column("transport", server_default="tls", existing_type=sa.String(8), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("transport")
