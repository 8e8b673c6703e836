"""Alembic environment: gridcast passes its own connection (see models.db)."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import models  # noqa: F401  (registers every table on SQLModel.metadata)
from models.search import include_object

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "run migrations through `gridcast db upgrade`, which supplies the connection"
    )

context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying
    compare_type=True,
    include_object=include_object,  # the text-search index is not a model (0025)
)
with context.begin_transaction():
    context.run_migrations()
