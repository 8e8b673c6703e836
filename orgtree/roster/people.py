"""The people sheet (人员): one row per post of someone who is not a unit-sheet leader,
and one row per party-member contact assignment (党员联系户).

:func:`read_people` checks every row (职务, the person, the place the post is at, 职务名称,
部门, 联系户数), then checks the rows against the unit sheet: each place is on it, no post
twice, contacts are party members and contact no more households than their unit has.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from models.enums import Role
from models.org import OrgPath
from orgtree.records import PersonRecord
from orgtree.roster.cells import bad_households, header_key, household_count, normalize_grid_name
from orgtree.roster.layout import CONTACT, PEOPLE, PERSON_ROLES, POSTS, SHEET_POSTS, TOWN_POSTS
from orgtree.roster.sheet import Sheet
from orgtree.roster.units import UnitDraft

if TYPE_CHECKING:
    from core.config import Department

__all__ = ["PostDraft", "read_people"]


@dataclass(slots=True)
class PostDraft:
    """A people-sheet row after per-cell checks. ``role`` None with ``contact`` set is a
    contact assignment; ``place`` is None where the place cells were bad."""

    row: int
    role: Role | None
    contact: bool
    person: PersonRecord | None
    place: OrgPath | None
    title: str | None = None
    department: str | None = None
    households: int | None = None


def read_people(
    sheet: Sheet, drafts: list[UnitDraft], *, departments: Iterable[Department]
) -> list[PostDraft]:
    """The rows of the people sheet, checked on their own and against the unit sheet's
    ``drafts``, recording every problem on ``sheet``. Department liaisons must name one
    of ``departments`` (by name or alias)."""
    people = _PeopleSheet(sheet, departments)
    posts = people.read()
    people.check_posts(posts, drafts)
    return posts


class _PeopleSheet:
    def __init__(self, sheet: Sheet, departments: Iterable[Department]) -> None:
        self._sheet = sheet
        self._departments: dict[str, str] = {}
        self._department_names: list[str] = []
        for department in departments:
            self._department_names.append(department.name)
            for alias in (department.name, *department.aliases):
                self._departments.setdefault(header_key(alias), department.name)

    def read(self) -> list[PostDraft]:
        sheet = self._sheet
        if not sheet.read_header("人员表是空的：第1行应为表头（职务、姓名、电话、村、网格……）"):
            return []
        sheet.missing_columns(
            column.header
            for column in PEOPLE.columns
            if column.required and column.key not in sheet.columns
        )
        return [self._post(row, cells) for row, cells in sheet.data_rows()]

    def _post(self, row: int, cells: list[str]) -> PostDraft:
        sheet = self._sheet
        role_text = sheet.cell(cells, "role")
        role: Role | None = None
        contact = False
        known_role = False
        if not role_text:
            sheet.problem(row, "role", "不能为空")
        elif (post := header_key(role_text)) in POSTS:
            role = POSTS[post]
            contact = role is None
            known_role = True
        else:
            sheet.problem(row, "role", _bad_post(role_text))
        person = sheet.person(
            row, cells, ("name", "phone", "wechat"), required=True, one_per_row=True
        )
        draft = PostDraft(row, role, contact, person, None)
        if not known_role:
            return draft
        draft.place = self._post_place(row, cells, role)
        title = sheet.cell(cells, "title")
        department = sheet.cell(cells, "department")
        households = sheet.cell(cells, "households")
        if title:
            if contact:
                sheet.problem(
                    row, "title", "联系党员一行不填职务名称（党员的职务名称写在其「党员」一行）"
                )
            draft.title = title
        elif role is Role.TOWN_OFFICIAL:
            sheet.problem(row, "title", "镇干部须填写职务名称（如 镇长、综治办主任、信访办主任）")
        if role is Role.DEPARTMENT_LIAISON:
            if not department:
                sheet.problem(row, "department", "部门联络员须填写部门（如 区司法局）")
            else:
                draft.department = self._department(row, department)
        elif role is Role.SUNK_CADRE:
            draft.department = department or None  # where they come down from; any office
        elif department:
            sheet.problem(row, "department", "只有部门联络员和下沉人员填写部门")
        if contact:
            if not households:
                sheet.problem(row, "households", "联系党员须填写联系户数（联系该单元的几户）")
            elif (count := household_count(households)) is None:
                sheet.problem(row, "households", bad_households(households))
            else:
                draft.households = count
        elif households:
            sheet.problem(row, "households", "只有职务为「联系党员」的行填写联系户数")
        return draft

    def _post_place(self, row: int, cells: list[str], role: Role | None) -> OrgPath | None:
        sheet = self._sheet
        village = sheet.cell(cells, "village")
        grid_text = sheet.cell(cells, "grid")
        grid = normalize_grid_name(grid_text) if grid_text else ""
        unit = sheet.cell(cells, "unit")
        if role in TOWN_POSTS:
            assert role is not None
            if village or grid or unit:
                key = "village" if village else "grid" if grid else "unit"
                sheet.problem(row, key, f"{role.label}属于全镇：村、网格、单元应留空")
                return None
            return ()
        needed = ["village", "grid"] + (["unit"] if role is None else [])
        values = {"village": village, "grid": grid, "unit": unit}
        missing = [key for key in needed if not values[key]]
        what = CONTACT if role is None else role.label
        for key in missing:
            if key not in sheet.columns:
                sheet.problem(
                    row,
                    None,
                    f"{what}须填写{PEOPLE.by_key[key].header}：人员表缺少「{PEOPLE.by_key[key].header}」列",
                )
            else:
                sheet.problem(row, key, f"{what}须填写{PEOPLE.by_key[key].header}")
        if missing:
            return None
        return (village, grid, unit) if unit else (village, grid)

    def _department(self, row: int, text: str) -> str | None:
        found = self._departments.get(header_key(text))
        if found is None:
            listed = "、".join(self._department_names) or "（无）"
            self._sheet.problem(
                row,
                "department",
                f"「{text}」不是已配置的部门（可填：{listed}；部门在 config.yaml 的 departments 中配置）",
            )
        return found

    def check_posts(self, posts: list[PostDraft], drafts: list[UnitDraft]) -> None:
        """Places exist in the unit sheet; no post twice; contacts are party members and
        contact no more households than the unit has."""
        sheet = self._sheet
        villages = {d.village for d in drafts if d.village}
        grids = {(d.village, d.grid) for d in drafts if d.village and d.grid}
        households: dict[OrgPath, int | None] = {
            (d.village, d.grid, d.unit): d.households
            for d in drafts
            if d.village and d.grid and d.unit
        }
        party_members = {
            p.person.phone for p in posts if p.role is Role.PARTY_MEMBER and p.person is not None
        }
        seen: dict[tuple[object, ...], int] = {}
        contacted: Counter[OrgPath] = Counter()
        for post in posts:
            if post.place is None:
                continue
            place = post.place
            if place and place[0] not in villages:
                sheet.problem(
                    post.row, "village", f"「{place[0]}」不在单元表中（人员表的村须是单元表里的村）"
                )
                continue
            if len(place) >= 2 and place[:2] not in grids:
                sheet.problem(post.row, "grid", f"「{place[0]}{place[1]}」不在单元表中")
                continue
            if len(place) == 3 and place not in households:
                sheet.problem(post.row, "unit", f"「{''.join(place)}」不在单元表中")
                continue
            if post.person is None:
                continue
            what = CONTACT if post.contact else post.role
            key = (what, place, post.person.phone)
            if key in seen:
                sheet.problem(
                    post.row,
                    "phone",
                    f"与第{seen[key]}行重复（同一人在同一处的同一职务只填一行）",
                )
                continue
            seen[key] = post.row
            if not post.contact:
                continue
            if post.person.phone not in party_members:
                sheet.problem(
                    post.row,
                    "phone",
                    f"{post.person.name}（{post.person.phone}）不是人员表中的党员：联系党员须另有一行职务为「党员」",
                )
            unit_households = households.get(place)
            if post.households is not None and unit_households is not None:
                before = contacted[place]
                contacted[place] += post.households
                if before <= unit_households < contacted[place]:
                    sheet.problem(
                        post.row,
                        "households",
                        f"「{''.join(place)}」共{unit_households}户，联系党员合计联系{contacted[place]}户，超过了单元户数",
                    )


def _bad_post(text: str) -> str:
    if header_key(text) in {header_key(zh) for _, zh, _, _ in PERSON_ROLES} | {
        "站长",
        "网格站长",
    }:
        return f"「{text}」填在单元花名册的「{text}」列，人员表不填"
    choices = "、".join([*(role.label for role in SHEET_POSTS), CONTACT])
    return f"「{text}」不是人员表的职务（可填：{choices}）"
