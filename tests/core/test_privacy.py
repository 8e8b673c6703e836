"""The personal-data policy (core/privacy.py): who sees a phone in full."""

from __future__ import annotations

from core.policy import ADMIN_ROLE, Post, Principal
from core.privacy import ANONYMOUS, PhoneOwner, Viewer, may_see_phone, show_phone, viewer_of
from models.enums import Role

UNIT = ("黄霞村", "第16网格", "国湄领涵1号楼")
OTHER_UNIT = ("黄霞村", "第16网格", "国湄领涵2号楼")
GRID = UNIT[:2]
VILLAGE = UNIT[:1]
PHONE = "13800001288"


def test_a_leaders_work_phone_is_public_to_the_residents_of_their_area() -> None:
    grid_leader = PhoneOwner.leader(PHONE, GRID)
    assert show_phone(Viewer.resident_of(UNIT), grid_leader) == PHONE
    assert show_phone(Viewer.resident_of(OTHER_UNIT), grid_leader) == PHONE
    assert show_phone(Viewer.resident_of(GRID), grid_leader) == PHONE
    unit_leader = PhoneOwner.leader(PHONE, UNIT)
    assert show_phone(Viewer.resident_of(UNIT), unit_leader) == PHONE
    assert show_phone(Viewer.resident_of(OTHER_UNIT), unit_leader) == "138****1288"
    assert show_phone(Viewer.resident_of(("国欢村", "第1网格")), grid_leader) == "138****1288"


def test_staff_over_or_inside_the_post_see_it_others_do_not() -> None:
    grid_leader = PhoneOwner.leader(PHONE, GRID)
    assert may_see_phone(Viewer.staff([()]), grid_leader)  # the town
    assert may_see_phone(Viewer.staff([VILLAGE]), grid_leader)
    assert may_see_phone(Viewer.staff([UNIT]), grid_leader)  # a unit leader of the grid
    assert not may_see_phone(Viewer.staff([("国欢村",)]), grid_leader)


def test_a_residents_own_phone_only_to_whoever_handles_their_ticket() -> None:
    caller = PhoneOwner.resident(PHONE)
    assert show_phone(Viewer.handler(), caller) == PHONE
    for viewer in (Viewer.resident_of(UNIT), Viewer.staff([()]), ANONYMOUS):
        assert show_phone(viewer, caller) == "138****1288"


def test_nobody_in_particular_sees_every_phone_masked() -> None:
    assert show_phone(ANONYMOUS, PhoneOwner.leader(PHONE, GRID)) == "138****1288"
    assert show_phone(ANONYMOUS, PhoneOwner.leader(None, GRID)) == ""


def test_a_principal_is_staff_over_their_posts_but_a_liaisons_post_opens_nothing() -> None:
    def principal(*posts: Post) -> Principal:
        return Principal(kind="person", id="1", name="某人", posts=posts)

    grid_leader = PhoneOwner.leader(PHONE, GRID)
    resident = PhoneOwner.resident(PHONE)
    assert may_see_phone(viewer_of(principal(Post(Role.GRID_LEADER.value, GRID))), grid_leader)
    assert may_see_phone(viewer_of(principal(Post(ADMIN_ROLE))), grid_leader)
    liaison = principal(Post(Role.DEPARTMENT_LIAISON.value, (), department="区司法局"))
    assert not may_see_phone(viewer_of(liaison), grid_leader)
    assert may_see_phone(viewer_of(liaison, handles_ticket=True), resident)
    assert not may_see_phone(viewer_of(principal(Post(ADMIN_ROLE))), resident)
    assert viewer_of(None) == ANONYMOUS
