"""Backups of the whole database, taken while the system runs, and their restore.

SQLite: the online backup API (a consistent copy, page by page, while the server keeps
writing in WAL mode). PostgreSQL: ``pg_dump --format=custom`` of the deployment's schema
inside a REPEATABLE READ transaction whose snapshot the dump shares, so the row counts
written beside the backup are those of the dump; ``pg_restore`` brings it back.

Every backup has a manifest (``FILE.json``): backend, schema revision, time, and the
rows of every table. A restore compares the restored database with it and fails loudly
when they differ.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sqlite3
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, func, inspect, select, table, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from models.db import DatabaseError, make_engine, schema_status
from models.search import POSTGRES_INDEXES

__all__ = [
    "BackupError",
    "Manifest",
    "backup",
    "manifest_path",
    "prune",
    "restore",
    "table_counts",
]


class BackupError(DatabaseError):
    """A backup or restore could not be made or did not check out."""


@dataclass(frozen=True, slots=True)
class Manifest:
    backend: str
    revision: str | None
    created_at: str
    counts: dict[str, int]

    @property
    def rows(self) -> int:
        return sum(self.counts.values())


def manifest_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def table_counts(connection: Connection) -> dict[str, int]:
    """Rows per table of the current schema (alembic's own table left out)."""
    names = sorted(n for n in inspect(connection).get_table_names() if n != "alembic_version")
    return {
        name: int(connection.execute(select(func.count()).select_from(table(name))).scalar_one())
        for name in names
    }


def _sqlite_file(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(database)


def _pg_target(url: str) -> tuple[str, str | None]:
    """A libpq URI for pg_dump/pg_restore, and the schema named by ``-csearch_path=``."""
    parsed = make_url(url)
    options = parsed.query.get("options")
    option_text = options if isinstance(options, str) else " ".join(options or ())
    schema = None
    for part in option_text.split():
        if part.startswith("-csearch_path="):
            schema = part.split("=", 1)[1].split(",")[0].strip('"')
    plain = parsed.set(drivername="postgresql")
    return plain.render_as_string(hide_password=False), schema


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} not found: install the PostgreSQL client tools (Debian: postgresql-client) "
            "of the server's major version or newer"
        )
    return found


def _run(args: list[str]) -> str:
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tool = Path(args[0]).name
        raise BackupError(f"{tool} failed ({result.returncode}): {result.stderr.strip()[-800:]}")
    return result.stdout


def _trigram_index(listed: str) -> bool:
    """A line of ``pg_restore --list`` that makes one of the text-search indexes."""
    words = listed.split()
    return "INDEX" in words and not set(words).isdisjoint(POSTGRES_INDEXES)


def _trigram_ready(url: str) -> bool:
    """Whether the text-search indexes of a dump (``public.gin_trgm_ops``, migration 0025)
    can be made in the database at ``url``: pg_trgm is created in ``public`` if it may be.
    A dump of one schema does not hold the extension, which lives outside it."""
    engine = make_engine(url)
    try:
        with contextlib.suppress(DBAPIError), engine.begin() as connection:
            connection.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")
        with engine.connect() as connection:
            schema = connection.exec_driver_sql(
                "SELECT n.nspname FROM pg_extension AS e JOIN pg_namespace AS n"
                " ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm'"
            ).scalar()
    finally:
        engine.dispose()
    return schema == "public"


def backup(url: str, target: Path, *, now: datetime | None = None) -> Manifest:
    """Back up the database at ``url`` to ``target`` (replaced atomically) and write its
    manifest beside it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    created = (now or datetime.now(UTC)).isoformat()
    backend = make_url(url).get_backend_name()
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    if backend == "sqlite":
        source = _sqlite_file(url)
        if not source.exists():
            raise BackupError(f"no database at {source}")
        with sqlite3.connect(source) as src, sqlite3.connect(partial) as dst:
            src.backup(dst)
        copy = make_engine(f"sqlite:///{partial}")
        try:
            with copy.connect() as connection:
                counts = table_counts(connection)
                revision = schema_status(connection).current
        finally:
            copy.dispose()
    elif backend == "postgresql":
        pg_dump = _tool("pg_dump")
        uri, schema = _pg_target(url)
        engine = make_engine(url)
        try:
            with engine.connect().execution_options(
                isolation_level="REPEATABLE READ"
            ) as connection:
                snapshot = connection.execute(text("SELECT pg_export_snapshot()")).scalar_one()
                counts = table_counts(connection)
                revision = schema_status(connection).current
                args = [pg_dump, "--format=custom", "--no-owner", "--no-privileges"]
                args += [f"--snapshot={snapshot}", f"--file={partial}"]
                if schema:
                    args.append(f"--schema={schema}")
                _run([*args, uri])
                connection.rollback()
        finally:
            engine.dispose()
    else:  # pragma: no cover - the config refuses other URLs
        raise BackupError(f"cannot back up a {backend} database")
    partial.replace(target)
    manifest = Manifest(backend=backend, revision=revision, created_at=created, counts=counts)
    manifest_path(target).write_text(json.dumps(asdict(manifest), ensure_ascii=False, indent=1))
    return manifest


def read_manifest(source: Path) -> Manifest | None:
    path = manifest_path(source)
    if not path.exists():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    return Manifest(
        backend=data["backend"],
        revision=data.get("revision"),
        created_at=data.get("created_at", ""),
        counts={str(k): int(v) for k, v in data["counts"].items()},
    )


def _is_empty(url: str) -> bool:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return not inspect(connection).get_table_names()
    finally:
        engine.dispose()


def restore(url: str, source: Path) -> Manifest:
    """Restore ``source`` into the empty database at ``url``; returns what it holds, after
    checking the counts against the backup's manifest."""
    if not source.exists():
        raise BackupError(f"no backup at {source}")
    expected = read_manifest(source)
    backend = make_url(url).get_backend_name()
    if expected is not None and expected.backend != backend:
        raise BackupError(f"{source} is a {expected.backend} backup; the database is {backend}")
    if backend == "sqlite":
        target = _sqlite_file(url)
        if target.exists() and target.stat().st_size > 0 and not _is_empty(url):
            raise BackupError(f"{target} already holds a database: restore into an empty one")
        target.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
            src.backup(dst)
    else:
        if not _is_empty(url):
            raise BackupError("the database is not empty: restore into an empty one")
        uri, _schema = _pg_target(url)
        pg_restore = _tool("pg_restore")
        args = [pg_restore, "--no-owner", "--no-privileges", "--exit-on-error"]
        args += ["--single-transaction", f"--dbname={uri}"]
        with tempfile.TemporaryDirectory(prefix="gridcast-restore-") as tmp:
            if not _trigram_ready(url):
                # without pg_trgm the restored board searches by scanning, as migration
                # 0025 leaves it: everything but the trigram indexes
                listing = _run([pg_restore, "--list", str(source)]).splitlines()
                kept = Path(tmp) / "list"
                kept.write_text("\n".join(line for line in listing if not _trigram_index(line)))
                args.append(f"--use-list={kept}")
            _run([*args, str(source)])
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            counts = table_counts(connection)
            revision = schema_status(connection).current
    finally:
        engine.dispose()
    got = Manifest(
        backend=backend,
        revision=revision,
        created_at=expected.created_at if expected else "",
        counts=counts,
    )
    if expected is not None and expected.counts != counts:
        diff = sorted(
            f"{name}: {expected.counts.get(name)} -> {counts.get(name)}"
            for name in set(expected.counts) | set(counts)
            if expected.counts.get(name) != counts.get(name)
        )
        raise BackupError("restored rows differ from the backup: " + "; ".join(diff[:10]))
    return got


def verify(url: str, source: Path) -> Manifest:
    """Restore a SQLite backup into a fresh temporary data directory and compare counts."""
    with tempfile.TemporaryDirectory(prefix="gridcast-verify-") as tmp:
        return restore(f"sqlite:///{Path(tmp) / 'gridcast.db'}", source)


def prune(directory: Path, *, keep: int, pattern: str = "gridcast-*.backup") -> list[Path]:
    """Delete all but the newest ``keep`` scheduled backups (and their manifests)."""
    files = sorted(directory.glob(pattern), key=lambda p: p.name, reverse=True)
    removed = files[keep:]
    for path in removed:
        path.unlink(missing_ok=True)
        manifest_path(path).unlink(missing_ok=True)
    return removed
