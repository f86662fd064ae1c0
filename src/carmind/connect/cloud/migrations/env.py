"""Alembic environment: runs on the connection that `db.migrate` hands over in
`config.attributes["connection"]` (the cloud migrates itself at start; there is no alembic.ini)."""

from __future__ import annotations

from alembic import context

from carmind.connect.cloud.db import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "the cloud's migrations run through carmind.connect.cloud.db.migrate, not the alembic CLI"
    )
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
