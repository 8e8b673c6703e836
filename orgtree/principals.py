"""Who a caller is, from the roster: chat identities, signed-in people and API tokens
as :class:`core.policy.Principal` values.

A chat identity binds to a roster person only through the WeChat id the roster
records, or a binding the person confirmed (by typing a sign-in code the bot sent to
that contact): never through an id pattern someone could take
(:func:`orgtree.directory.person_by_contact`).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from sqlmodel import Session, select

from core.config import Department
from core.departments import department_code, department_name
from core.files import write_private
from core.policy import ADMIN_ROLE, MONITOR_ROLE, Post, Principal, post_scope_refusal
from models.auth import ApiToken, ChatBinding
from models.enums import Role
from models.org import PATH_SEP, OrgPath, OrgUnit, Person
from orgtree import directory

__all__ = [
    "LOCAL_ADMIN_SIGNATURE",
    "LOCAL_ADMIN_TOKEN_FILE",
    "LOCAL_ADMIN_TOKEN_NAME",
    "TOKEN_PREFIX",
    "TOKEN_ROLES",
    "bind_contact",
    "create_token",
    "ensure_local_admin_token",
    "hash_token",
    "new_token",
    "person_principal",
    "token_post",
    "token_principal",
]

LOCAL_ADMIN_TOKEN_FILE = "admin.token"
LOCAL_ADMIN_TOKEN_NAME = "本机管理员"
"""The admin token ``gridcast setup`` writes into the data directory (mode 0600) for the
command line on the server."""
LOCAL_ADMIN_SIGNATURE = "镇政府"
"""The signature under notices sent with the local admin token (``gridcast notice send``
without ``--issuer``)."""

log = logging.getLogger(__name__)

TOKEN_PREFIX = "gct_"
"""API tokens start with this, so a leaked one is easy to recognise and revoke."""


def bind_contact(
    session: Session, *, contact_id: str, person_id: int, via: str, now: datetime
) -> None:
    """Record that ``person_id`` confirmed ``contact_id`` as theirs (idempotent)."""
    existing = session.exec(select(ChatBinding).where(ChatBinding.contact_id == contact_id)).first()
    if existing is None:
        session.add(
            ChatBinding(
                contact_id=contact_id, person_id=person_id, confirmed_via=via, confirmed_at=now
            )
        )
    elif existing.person_id != person_id:
        existing.person_id = person_id
        existing.confirmed_via = via
        existing.confirmed_at = now
        session.add(existing)


def person_principal(
    session: Session,
    person_id: int,
    *,
    admins: Iterable[str] = (),
    departments: Sequence[Department] = (),
) -> Principal | None:
    person = session.get(Person, person_id)
    if person is None or person.id is None:
        return None
    posts = [
        _named(
            replace(
                post, department=department_code(post.department, departments) or post.department
            ),
            departments,
        )
        if post.role == Role.DEPARTMENT_LIAISON
        else post
        for post in directory.posts_of(session, person_id=person.id)
    ]
    if person.phone in set(admins):
        posts.append(Post(ADMIN_ROLE))
    return Principal(
        kind="person", id=str(person.id), name=person.name, posts=tuple(posts), person_id=person.id
    )


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A fresh bearer token (about 190 bits of randomness)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


TOKEN_ROLES = (ADMIN_ROLE, MONITOR_ROLE, *(role.value for role in Role))
"""The posts a token may carry."""


def token_post(
    session: Session,
    *,
    role: str,
    scope: str,
    department: str | None,
    departments: Sequence[Department],
    town: str,
) -> Post | str:
    """The post a token asked for (``POST /api/tokens``, ``gridcast token create``) would
    carry, or why it cannot be made (in Chinese): a known role, a department for a
    liaison and for no one else, and a scope that exists in the org tree at the depth
    the role has (:func:`core.policy.post_scope_refusal`)."""
    if role not in TOKEN_ROLES:
        return f"未知的岗位「{role}」，可选：{'、'.join(TOKEN_ROLES)}"
    code = department_code(department, departments) if department else None
    if role == Role.DEPARTMENT_LIAISON and code is None:
        known = "、".join(d.name for d in departments)
        return f"部门联络员令牌需要有效的部门（可选：{known}）"
    if role != Role.DEPARTMENT_LIAISON and department:
        return "只有部门联络员令牌可以指定部门"
    path: OrgPath = tuple(part.strip() for part in scope.split(PATH_SEP) if part.strip())
    if path[:1] == (town,):
        path = path[1:]  # 国欢镇/黄霞村 means 黄霞村
    refusal = post_scope_refusal(role, path)
    if refusal is not None:
        return f"令牌的范围不符合岗位：{refusal}"
    if path:
        full = PATH_SEP.join((town, *path))
        if session.exec(select(OrgUnit.id).where(OrgUnit.path == full)).first() is None:
            return f"组织架构中没有「{PATH_SEP.join(path)}」"
    return Post(role, path, department=code)


def create_token(
    session: Session,
    *,
    name: str,
    role: str,
    scope: OrgPath = (),
    department: str | None = None,
    signature: str | None = None,
    created_by: str,
    now: datetime,
) -> tuple[ApiToken, str]:
    """A new API token row and the token itself (which is stored only as a hash)."""
    token = new_token()
    row = ApiToken(
        name=name,
        token_hash=hash_token(token),
        prefix=token[:8],
        role=role,
        scope="/".join(scope),
        department=department,
        signature=signature,
        created_by=created_by,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row, token


def ensure_local_admin_token(session: Session, data_dir: Path, *, now: datetime) -> Path:
    """The server's own admin token for the command line: ``DATA_DIR/admin.token``, mode
    0600. A missing, unknown or revoked one is replaced (the old row is revoked)."""
    path = data_dir / LOCAL_ADMIN_TOKEN_FILE
    existing = path.read_text(encoding="utf-8").strip() if path.exists() else ""
    if existing:
        row = session.exec(
            select(ApiToken).where(ApiToken.token_hash == hash_token(existing))
        ).first()
        if row is not None and row.revoked_at is None:
            return path
    for old in session.exec(select(ApiToken).where(ApiToken.name == LOCAL_ADMIN_TOKEN_NAME)):
        if old.revoked_at is None:
            old.revoked_at = now
            session.add(old)
    _row, token = create_token(
        session,
        name=LOCAL_ADMIN_TOKEN_NAME,
        role=ADMIN_ROLE,
        signature=LOCAL_ADMIN_SIGNATURE,
        created_by="gridcast setup",
        now=now,
    )
    write_private(path, token.encode("utf-8") + b"\n")
    return path


def _named(post: Post, departments: Sequence[Department]) -> Post:
    """The post with its department's name (区司法局, not justice) for its label."""
    name = department_name(post.department, departments)
    return replace(post, department_name=name) if name else post


def token_principal(
    session: Session,
    token: str,
    *,
    now: datetime,
    touch_after_s: float = 60.0,
    departments: Sequence[Department] = (),
) -> Principal | None:
    """The principal of a bearer token, or None when it is unknown or revoked; records
    when it was last used (at most once a minute, to keep reads cheap)."""
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == hash_token(token))).first()
    if row is None or row.id is None or row.revoked_at is not None:
        return None
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() > touch_after_s:
        row.last_used_at = now
        session.add(row)
    scope: OrgPath = tuple(part for part in row.scope.split("/") if part)
    refusal = post_scope_refusal(row.role, scope)
    if refusal is not None:  # made before the scope was checked: it would act beyond its label
        log.warning("token %s「%s」refused: %s", row.id, row.name, refusal)
        return None
    kind = "local" if row.name == LOCAL_ADMIN_TOKEN_NAME else "token"
    return Principal(
        kind=kind,
        id=str(row.id),
        name=row.name,
        posts=(_named(Post(row.role, scope, department=row.department), departments),),
        signature=row.signature,
    )
