"""Supervisors' web passwords (the wallboard, `homepbx web`): an argon2id hash, NULL = none.

Set with `homepbx supervisor web-password EXT`; a supervisor without one cannot sign in.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.add_column(sa.Column("web_password_hash", sa.String(128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("web_password_hash")
