"""A person's scopes as the console's queries take them (the policy decides; this only
lists the org paths its rules are about)."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from core.policy import Permission, Principal, decide
from models.enums import Level, Role
from models.org import PATH_SEP, OrgPath, OrgUnit

__all__ = ["notice_scopes", "org_scopes", "picker_places", "ticket_scopes"]


def _scopes(principal: Principal, permission: Permission) -> list[OrgPath] | None:
    """``None`` when the whole town is allowed, else the post scopes that are allowed."""
    if decide(principal, permission, scope=()):
        return None
    return sorted(
        {
            post.scope
            for post in principal.posts
            if post.role != Role.DEPARTMENT_LIAISON
            and decide(principal, permission, scope=post.scope)
        }
    )


def notice_scopes(principal: Principal) -> list[OrgPath] | None:
    return _scopes(principal, Permission.VIEW_NOTICES)


def org_scopes(principal: Principal) -> list[OrgPath] | None:
    return _scopes(principal, Permission.VIEW_ORG)


def ticket_scopes(principal: Principal) -> list[OrgPath] | None:
    """Where the person sees tickets by place (a liaison's department is not a place)."""
    return _scopes(principal, Permission.VIEW_TICKETS)


def picker_places(session: Session, town: str, root: tuple[str, ...]) -> list[dict[str, Any]]:
    """The town, villages and grids under ``root`` for the scope picker (units are found
    by the search box)."""
    prefix = PATH_SEP.join((town, *root))
    rows = session.exec(
        select(OrgUnit.path, OrgUnit.name, OrgUnit.level)
        .where(
            col(OrgUnit.level).in_([Level.TOWN, Level.VILLAGE, Level.GRID]),
            (col(OrgUnit.path) == prefix) | col(OrgUnit.path).startswith(prefix + PATH_SEP),
        )
        .order_by(col(OrgUnit.id))
    ).all()
    return [
        {"path": path, "name": name, "depth": Level(level).depth, "level": Level(level).label}
        for path, name, level in rows
    ]
