"""What each backend offers the cluster, and how to reach PostgreSQL without SQLAlchemy."""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlmodel import Session


class ClusterUnsupported(Exception):
    """A cluster mechanism that this database cannot provide (SQLite has no LISTEN/NOTIFY)."""


def is_postgres_url(url: str) -> bool:
    return make_url(url).get_backend_name() == "postgresql"


def dialect_name(session: Session) -> str:
    return session.get_bind().dialect.name


def libpq_conninfo(url: str) -> str:
    """The URL for psycopg's own connections (``postgresql+psycopg://`` -> ``postgresql://``).

    Query parameters such as ``options=-csearch_path=…`` are kept: libpq reads them.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise ClusterUnsupported(f"not a PostgreSQL URL: {parsed.get_backend_name()}")
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)
