"""Alembic environment: the URL and connection come from homepbx.db, never from alembic.ini.

Migrations do not import the ORM models: each version file describes its own tables.
"""

from alembic import context

config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("homepbx migrations run through homepbx.db.upgrade(), not the alembic CLI")
    context.configure(
        connection=connection,
        target_metadata=None,
        render_as_batch=connection.dialect.name == "sqlite",
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
