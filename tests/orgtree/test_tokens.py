"""API tokens as principals: the local admin token's signature, a token's own."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine

from models.db import session_scope
from orgtree.principals import (
    LOCAL_ADMIN_SIGNATURE,
    create_token,
    ensure_local_admin_token,
    token_principal,
)


def test_the_local_admin_token_signs_as_the_town_government(engine: Engine, tmp_path: Path) -> None:
    """``gridcast notice send`` signed 镇政府 by default through its --issuer; the signature
    now comes from the token, so the local admin token carries it."""
    now = datetime.now(UTC)
    with session_scope(engine) as session:
        path = ensure_local_admin_token(session, tmp_path, now=now)
    token = path.read_text(encoding="utf-8").strip()
    with session_scope(engine) as session:
        principal = token_principal(session, token, now=now)
        assert principal is not None and principal.signs_as == LOCAL_ADMIN_SIGNATURE == "镇政府"
        _row, other = create_token(
            session,
            name="防汛",
            role="town_official",
            signature="镇防汛办",
            created_by="t",
            now=now,
        )
        _row, plain = create_token(
            session, name="12345热线", role="town_official", created_by="t", now=now
        )
    with session_scope(engine) as session:
        signed = token_principal(session, other, now=now)
        unsigned = token_principal(session, plain, now=now)
        assert signed is not None and signed.signs_as == "镇防汛办"
        assert unsigned is not None and unsigned.signs_as == "12345热线"
