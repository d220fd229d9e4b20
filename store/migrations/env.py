"""Alembic environment: runs migrations online against the URL the service configured."""

from alembic import context
from sqlalchemy import pool
from sqlmodel import SQLModel, create_engine

import store.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from store.db import lock_migrations

config = context.config
target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    engine = create_engine(config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            lock_migrations(connection)
            context.run_migrations()
    engine.dispose()


run_migrations_online()
