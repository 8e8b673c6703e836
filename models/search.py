"""The tickets' text-search index (全文检索), made by migration 0025.

The board's text filter is a plain, case-sensitive substring match over a ticket's code,
text, location and assignee. Chinese has no spaces between words, so the index is one of
character trigrams, the databases' own:

- SQLite: the FTS5 table :data:`SQLITE_TABLE` with the ``trigram`` tokenizer
  (``case_sensitive 1``; SQLite 3.34 or later), an external-content index of ``ticket``
  kept in sync by triggers.
- PostgreSQL: one ``pg_trgm`` GIN index per searched column (:data:`POSTGRES_INDEXES`),
  which ``LIKE '%…%'`` uses.

A trigram index cannot serve a search shorter than :data:`TRIGRAM_MIN` characters: those
(and a database without the index) keep the plain scan. The objects are not in the
SQLModel metadata (neither a virtual table nor an operator class is a model), so
:func:`include_object` keeps Alembic's comparison from reading them as extra.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text

__all__ = [
    "POSTGRES_INDEXES",
    "SEARCHED_COLUMNS",
    "SQLITE_TABLE",
    "TRIGRAM_MIN",
    "include_object",
    "sqlite_index_ready",
]

SEARCHED_COLUMNS = ("code", "text", "location", "assignee_name")
"""The ``ticket`` columns the board's text filter searches."""

SQLITE_TABLE = "ticket_search"
"""The FTS5 table (its shadow tables are ``ticket_search_data``, ``_idx`` and so on)."""

POSTGRES_INDEXES = tuple(f"ix_ticket_search_{column}" for column in SEARCHED_COLUMNS)

TRIGRAM_MIN = 3
"""The shortest search a trigram index can answer (a search of 1 or 2 characters scans)."""


def include_object(
    object_: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Alembic's ``include_object`` hook: leave the search index out of the comparison."""
    if type_ == "table" and name is not None and name.startswith(SQLITE_TABLE):
        return False
    return not (type_ == "index" and name in POSTGRES_INDEXES)


def sqlite_index_ready(connection: Connection) -> bool:
    """Whether this SQLite database has the FTS5 index (migration 0025 skips it on a
    SQLite older than 3.34, which has no trigram tokenizer)."""
    found = connection.execute(
        text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :name"),
        {"name": SQLITE_TABLE},
    ).first()
    return found is not None
