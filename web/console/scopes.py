"""A person's scopes as the console's queries take them (the policy decides; this only
lists the org paths its rules are about)."""

from __future__ import annotations

from core.policy import Permission, Principal, decide
from core.privacy import Viewer
from models.enums import Role
from models.org import OrgPath

__all__ = ["notice_scopes", "org_scopes", "viewer_of"]


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


def viewer_of(principal: Principal) -> Viewer:
    """The person as :mod:`core.privacy` sees a viewer: staff over the scopes of their
    posts (a liaison's town-wide post opens no phones; an admin's opens all)."""
    return Viewer.staff(
        post.scope for post in principal.posts if post.role != Role.DEPARTMENT_LIAISON
    )
