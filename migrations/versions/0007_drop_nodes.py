"""The `nodes` table goes: nothing ever read or wrote it.

The PBX a site runs on is in the settings (`backend`, `[ami]` / `[esl]`), and a Control talks
to it; when several nodes come (behind Kamailio), their list will be designed with that work.
The downgrade puts the empty table back as 0001 made it.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table("nodes")


def downgrade() -> None:
    op.create_table(
        "nodes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(40), nullable=False, unique=True),
        sa.Column("ami_host", sa.String(255), nullable=False),
        sa.Column("ami_port", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
