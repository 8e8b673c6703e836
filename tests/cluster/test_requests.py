"""Requests from a web process to the bot process (cluster.requests): taken once, answered,
abandoned when nobody takes them, woken by NOTIFY on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from cluster.requests import (
    RequestServer,
    abandon,
    submit,
    take_waiting,
    wait_for_answer,
)
from models.base import utcnow
from models.cluster import ClusterRequest
from models.db import make_async_engine, session_scope


def test_a_request_is_taken_once_then_answered_and_cannot_be_abandoned(engine: Engine) -> None:
    with session_scope(engine) as session:
        first = submit(session, "echo", {"n": 1}, now=utcnow())
        second = submit(session, "echo", {"n": 2}, now=utcnow())
    with session_scope(engine) as session:
        taken = take_waiting(session, worker="w1", now=utcnow())
        assert taken is not None and taken.id == first and taken.payload == {"n": 1}
    with session_scope(engine) as session:
        assert not abandon(session, first)  # taken: it will be answered
        assert abandon(session, second)  # nobody took it: never done
    with session_scope(engine) as session:
        assert take_waiting(session, worker="w2", now=utcnow()) is None
        assert session.get(ClusterRequest, second).state == "abandoned"  # type: ignore[union-attr]


async def test_the_server_answers_each_request_and_a_failure_is_an_answer(
    db_url: str, engine: Engine
) -> None:
    async def echo(payload: Mapping[str, Any]) -> dict[str, Any]:
        return {"twice": int(payload["n"]) * 2}

    async def broken(payload: Mapping[str, Any]) -> dict[str, Any]:
        raise RuntimeError("boom")

    listen = db_url if db_url.startswith("postgresql") else None
    async_engine = make_async_engine(db_url)
    server = RequestServer(
        async_engine,
        {"echo": echo, "broken": broken},
        worker="w",
        listen_url=listen,
        sweep_every=1.0 if listen else 0.05,  # on PostgreSQL, NOTIFY wakes it sooner
    )
    serving = asyncio.create_task(server.run())
    try:
        await asyncio.sleep(0.3)  # listening
        with session_scope(engine) as session:
            ids = [
                submit(session, "echo", {"n": 21}, now=utcnow()),
                submit(session, "broken", {}, now=utcnow()),
                submit(session, "nonsense", {}, now=utcnow()),
            ]
        answers = [await wait_for_answer(async_engine, i, timeout_s=8.0) for i in ids]
        assert [a.state for a in answers] == ["answered"] * 3
        assert answers[0].result == {"twice": 42}
        assert answers[1].result == {"error": "internal", "message": "处理失败：RuntimeError"}
        assert answers[2].result is not None and answers[2].result["error"] == "unknown"
    finally:
        serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)
        await async_engine.dispose()


async def test_a_request_nobody_takes_is_abandoned(db_url: str, engine: Engine) -> None:
    async_engine = make_async_engine(db_url)
    try:
        with session_scope(engine) as session:
            request_id = submit(session, "echo", {}, now=utcnow())
        outcome = await wait_for_answer(async_engine, request_id, timeout_s=0.2)
        assert outcome.state == "abandoned"
        with Session(engine) as session:
            assert session.get(ClusterRequest, request_id).state == "abandoned"  # type: ignore[union-attr]
    finally:
        await async_engine.dispose()
