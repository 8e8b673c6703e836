"""Regression tests of the policy for the hostile probe of 2026-12-03 (A1, A2, A3, A5)."""

from __future__ import annotations

import pytest

from core.policy import (
    ADMIN_ROLE,
    MONITOR_ROLE,
    Permission,
    Post,
    Principal,
    audit_scopes,
    decide,
    post_scope_refusal,
    signature_refusal,
)
from models.enums import Role

VILLAGE = ("黄霞村",)
GRID = ("黄霞村", "第16网格")
UNIT = ("黄霞村", "第16网格", "国湄领涵1号楼")


def token(role: str, scope: tuple[str, ...] = (), *, id: str = "4", **kw: object) -> Principal:
    return Principal("token", id, f"t-{role}", (Post(role, scope),), **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("principal", "scopes"),
    [
        (token(MONITOR_ROLE), []),
        (token(Role.UNIT_LEADER, UNIT), []),
        (token(Role.DEPARTMENT_LIAISON), []),
        (token(Role.STATION_CHIEF, VILLAGE), [VILLAGE]),
        (token(Role.GRID_LEADER, GRID), [GRID]),
        (token(Role.TOWN_OFFICIAL), None),
        (token(ADMIN_ROLE), None),
    ],
)
def test_audit_trail_only_for_town_station_grid_and_admins(
    principal: Principal, scopes: list[tuple[str, ...]] | None
) -> None:
    """A1: a monitor token read the whole trail, a unit leader their unit's."""
    assert audit_scopes(principal) == scopes
    allowed = bool(decide(principal, Permission.VIEW_AUDIT, scope=UNIT))
    assert allowed == (scopes is None or any(UNIT[: len(s)] == s for s in scopes))


def test_a_monitor_is_refused_the_audit_trail_with_a_reason() -> None:
    decision = decide(token(MONITOR_ROLE), Permission.VIEW_AUDIT, scope=())
    assert not decision and "只有镇干部、村网格站站长、网格长和系统管理员" in decision.reason
    village = decide(token(Role.GRID_LEADER, GRID), Permission.VIEW_AUDIT, scope=VILLAGE)
    assert not village and "不在您负责的范围内" in village.reason


@pytest.mark.parametrize(
    ("role", "scope", "ok"),
    [
        (Role.TOWN_OFFICIAL, (), True),
        (Role.TOWN_OFFICIAL, VILLAGE, False),
        (MONITOR_ROLE, VILLAGE, False),
        (ADMIN_ROLE, GRID, False),
        (Role.DEPARTMENT_LIAISON, VILLAGE, False),
        (Role.STATION_CHIEF, VILLAGE, True),
        (Role.STATION_CHIEF, (), False),
        (Role.STATION_CHIEF, GRID, False),
        (Role.GRID_LEADER, GRID, True),
        (Role.GRID_LEADER, VILLAGE, False),
        (Role.GRID_WORKER, UNIT, True),
        (Role.UNIT_LEADER, UNIT, True),
        (Role.UNIT_LEADER, GRID, False),
    ],
)
def test_a_post_scope_the_role_cannot_have_is_refused(
    role: str, scope: tuple[str, ...], ok: bool
) -> None:
    """A2: a town official's token "of 黄霞村" acted for the whole town."""
    refusal = post_scope_refusal(role, scope)
    assert (refusal is None) == ok
    if not ok:
        assert refusal is not None and "范围应为" in refusal


def test_town_official_of_a_village_names_what_is_wrong() -> None:
    assert post_scope_refusal(Role.TOWN_OFFICIAL, VILLAGE) == (
        "镇干部的范围应为全镇（不填范围），不能是「黄霞村」"
    )


def test_a_token_cannot_sign_as_someone_else() -> None:
    """A3: a grid leader's token signed a payment request as 镇长许清鑫."""
    grid = token(Role.GRID_LEADER, GRID)
    assert signature_refusal(grid, None) is None
    assert signature_refusal(grid, grid.name) is None
    refusal = signature_refusal(grid, "镇长许清鑫")
    assert refusal is not None and "「t-grid_leader」" in refusal
    signed = token(Role.TOWN_OFFICIAL, signature="镇防汛办")
    assert signed.signs_as == "镇防汛办"
    assert signature_refusal(signed, "镇防汛办") is None
    assert signature_refusal(signed, "镇长许清鑫") is not None
    person = Principal("person", "7", "林文荣", (Post(ADMIN_ROLE),), person_id=7)
    assert signature_refusal(person, "镇长许清鑫") is not None  # a person signs as themselves
    assert signature_refusal(token(ADMIN_ROLE), "镇政府") is None  # the operator's own token


def test_a_token_manages_the_notice_it_issued() -> None:
    """A5: a notice planned by a token without confirm could not be confirmed by it."""
    grid = token(Role.GRID_LEADER, GRID, id="4")
    assert decide(grid, Permission.MANAGE_NOTICE, scope=GRID, issuer_token_id=4)
    assert not decide(grid, Permission.MANAGE_NOTICE, scope=GRID, issuer_token_id=5)
    assert not decide(grid, Permission.MANAGE_NOTICE, scope=GRID, issuer_person_id=4)
    person = Principal("person", "4", "郭燕冰", (Post(Role.GRID_LEADER, GRID),), person_id=4)
    assert not decide(person, Permission.MANAGE_NOTICE, scope=GRID, issuer_token_id=4)
