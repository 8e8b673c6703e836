"""``LISTEN/NOTIFY``: tell other processes that something changed (PostgreSQL only).

:func:`publish` queues a notification in the caller's transaction: it is delivered when
that transaction commits, and never if it rolls back, so a listener never hears of a change
it cannot read yet. :class:`Listener` receives them on a connection of its own.

NOTIFY is a signal, not a queue: a listener that was disconnected missed what was sent
meanwhile, so after reconnecting it should re-read the state from the tables. Payloads are
short (under 8000 bytes): send ids, not documents. On SQLite both raise
:class:`cluster.backend.ClusterUnsupported`.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from types import TracebackType

import psycopg
from psycopg import sql
from sqlalchemy import text
from sqlmodel import Session

from cluster.backend import ClusterUnsupported, dialect_name, is_postgres_url, libpq_conninfo

__all__ = ["MAX_PAYLOAD_BYTES", "Listener", "Notification", "publish"]

MAX_PAYLOAD_BYTES = 7999
_CHANNEL = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def _check_channel(channel: str) -> None:
    if not _CHANNEL.fullmatch(channel):
        raise ValueError(f"channel {channel!r}: lower-case letters, digits and _ only, at most 63")


def publish(session: Session, *, channel: str, payload: str = "") -> None:
    """Notify ``channel`` when the session's transaction commits."""
    if dialect_name(session) != "postgresql":
        raise ClusterUnsupported("LISTEN/NOTIFY needs PostgreSQL; SQLite runs one process")
    _check_channel(channel)
    if len(payload.encode()) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"payload of {len(payload.encode())} bytes: at most {MAX_PAYLOAD_BYTES}")
    session.execute(
        text("SELECT pg_notify(:channel, :payload)"), {"channel": channel, "payload": payload}
    )


@dataclass(frozen=True, slots=True)
class Notification:
    channel: str
    payload: str
    pid: int
    """The server process that sent it."""


class Listener:
    """``async with Listener(url, ["notices"]) as listener: async for n in listener: …``

    Listening starts when the context is entered: a notification committed after that is
    received. If the connection drops, iteration raises :class:`psycopg.OperationalError`.
    """

    def __init__(self, url: str, channels: Sequence[str]) -> None:
        if not is_postgres_url(url):
            raise ClusterUnsupported("LISTEN/NOTIFY needs PostgreSQL; SQLite runs one process")
        if not channels:
            raise ValueError("listen to at least one channel")
        for channel in channels:
            _check_channel(channel)
        self._url = url
        self._channels = list(channels)
        self._connection: psycopg.AsyncConnection[tuple[object, ...]] | None = None

    async def __aenter__(self) -> Listener:
        connecting = asyncio.ensure_future(
            psycopg.AsyncConnection.connect(libpq_conninfo(self._url), autocommit=True)
        )
        try:
            connection = await asyncio.shield(connecting)
        except asyncio.CancelledError:  # close what the connect opens, then give up
            with contextlib.suppress(Exception):
                await (await connecting).close()
            raise
        try:
            for channel in self._channels:
                await connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
        except BaseException:  # cancelled or failed while entering: __aexit__ will not run
            await asyncio.shield(connection.close())
            raise
        self._connection = connection
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.close()

    async def __aiter__(self) -> AsyncIterator[Notification]:
        if self._connection is None:
            raise RuntimeError("enter the Listener (async with) before iterating")
        async for notify in self._connection.notifies():
            yield Notification(notify.channel, notify.payload, notify.pid)
