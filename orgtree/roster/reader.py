"""Reading a roster: find the unit sheet and the people sheet among the files, read each
(:mod:`.units`, :mod:`.people`), check that one phone is one person across both, and
return the :class:`~orgtree.records.TownRoster`, or raise every problem at once."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from orgtree.records import ContactRecord, PersonRecord, RoleRecord, TownRoster, UnitRow
from orgtree.roster.layout import PEOPLE, PEOPLE_HEADERS, UNITS
from orgtree.roster.people import PostDraft, read_people
from orgtree.roster.problems import RosterInvalid, file_problem
from orgtree.roster.sheet import Problems, Sheet
from orgtree.roster.tables import Table, find_header, is_people_sheet, people_file_for, read_tables
from orgtree.roster.units import UnitDraft, read_units

if TYPE_CHECKING:
    from core.config import Department

__all__ = ["read_roster"]


def read_roster(
    path: str | os.PathLike[str],
    *,
    town: str | None = None,
    known_villages: Iterable[str] | None = None,
    people: str | os.PathLike[str] | None = None,
    departments: Iterable[Department] | None = None,
) -> TownRoster:
    """Read and validate a roster file (.csv or .xlsx) with its people sheet.

    ``town`` names the town when the file has no 镇 column (and must agree with it when
    it has one). With ``known_villages`` (re-importing into an existing town) a row
    naming any other village is a problem. The people sheet is ``people`` when given,
    else the .xlsx file's second sheet or the CSV's :func:`people_file_for`; without one
    the result has ``lists_posts=False``. Department liaisons must name one of
    ``departments`` (by name or alias; default: those of a default config). Raises
    :class:`RosterInvalid` listing every problem.
    """
    file = Path(path)
    tables = read_tables(file)
    people_table = next((t for t in tables if is_people_sheet(t[1])), None)
    others = [t for t in tables if t is not people_table]
    unit_table = next((t for t in others if find_header(t[1], UNITS) is not None), None)
    if unit_table is None:
        if people_table is not None and not others:
            raise file_problem(
                f"「{file.name}」是人员表（有「职务」列），不是单元花名册：请导入单元花名册；"
                "人员表放在同一个 Excel 文件的另一个工作表，或在 CSV 单元花名册旁边命名为"
                f"「{people_file_for(file.name).name}」"
            )
        unit_table = others[0] if others else (file.name, [])
    if people is not None:
        people_path = Path(people)
        people_tables = read_tables(people_path)
        found = next((t for t in people_tables if is_people_sheet(t[1])), None)
        if found is None:
            raise file_problem(
                f"「{people_path.name}」不是人员表：表头应有 职务、姓名、电话 等列（{'、'.join(PEOPLE_HEADERS)}）"
            )
        people_table = (
            people_path.name if people_path.suffix.lower() != ".xlsx" else found[0],
            found[1],
        )
    elif file.suffix.lower() not in (".xlsx", ".xlsm"):
        sibling = people_file_for(file)
        if sibling.exists():
            [(_, sibling_table)] = read_tables(sibling)
            people_table = (sibling.name, sibling_table)
    if departments is None:
        from core.config import Settings

        departments = Settings().departments
    known = None if known_villages is None else frozenset(known_villages)
    return _Reader(
        unit_table[1],
        people_table,
        town=town,
        known_villages=known,
        departments=departments,
    ).parse()


@dataclass(frozen=True, slots=True)
class _Sighting:
    """A person as one cell group of one row gave them (for the one-phone-one-person check)."""

    sheet: Sheet
    row: int
    phone_key: str
    wechat_key: str
    person: PersonRecord


class _Reader:
    def __init__(
        self,
        unit_table: Table,
        people_table: tuple[str, Table] | None,
        *,
        town: str | None,
        known_villages: frozenset[str] | None,
        departments: Iterable[Department],
    ) -> None:
        self._problems: Problems = []
        self._units = Sheet(
            unit_table, UNITS, index=0, label=None, reference="单元表", problems=self._problems
        )
        self._people: Sheet | None = None
        if people_table is not None:
            label, table = people_table
            self._people = Sheet(
                table, PEOPLE, index=1, label=label, reference="人员表", problems=self._problems
            )
        self._town = town
        self._known = known_villages
        self._departments = departments

    def parse(self) -> TownRoster:
        units = self._units
        if not units.read_header("文件是空的：第1行应为表头（村、网格、单元、单元类型、单元长……）"):
            raise self._invalid()
        drafts, town = read_units(units, town=self._town, known_villages=self._known)
        posts: list[PostDraft] = []
        if self._people is not None:
            posts = read_people(self._people, drafts, departments=self._departments)
        self._check_people(drafts, posts)
        if self._problems:
            raise self._invalid()
        assert town is not None
        rows, roles, contacts = self._result(drafts, posts)
        return TownRoster(
            town=town,
            rows=rows,
            extra_roles=roles,
            contacts=contacts,
            lists_posts=self._people is not None,
        )

    def _invalid(self) -> RosterInvalid:
        # Stable: problems at the same sheet, row and column keep the order they were found.
        self._problems.sort(key=lambda item: item[:3])
        return RosterInvalid([problem for *_, problem in self._problems])

    # -- both sheets

    def _sightings(self, drafts: list[UnitDraft], posts: list[PostDraft]) -> Iterator[_Sighting]:
        for draft in drafts:
            for key, person in draft.people.items():
                if person is None or (
                    key == "second_unit_leader"
                    and person.phone == getattr(draft.people.get("unit_leader"), "phone", None)
                ):
                    continue  # missing, bad, or reported by the unit sheet's dual-leader check
                yield _Sighting(self._units, draft.row, f"{key}_phone", f"{key}_wechat", person)
        if self._people is not None:
            for post in posts:
                if post.person is not None:
                    yield _Sighting(self._people, post.row, "phone", "wechat", post.person)

    def _check_people(self, drafts: list[UnitDraft], posts: list[PostDraft]) -> None:
        """One phone, one person: the same name and WeChat id wherever it appears."""
        by_phone: dict[str, _Sighting] = {}
        wechat_owner: dict[str, _Sighting] = {}
        for seen in self._sightings(drafts, posts):
            person, sheet = seen.person, seen.sheet
            first = by_phone.setdefault(person.phone, seen)
            if first.person.name != person.name:
                sheet.problem(
                    seen.row,
                    seen.phone_key,
                    f"手机号 {person.phone} 在{first.sheet.where(first.row, sheet)}是「{first.person.name}」，这里是「{person.name}」：同一手机号只能是同一个人",
                )
            if person.wechat_id is None:
                continue
            owner = wechat_owner.setdefault(person.wechat_id.lower(), seen)
            if owner.person.phone != person.phone:
                sheet.problem(
                    seen.row,
                    seen.wechat_key,
                    f"微信号「{person.wechat_id}」在{owner.sheet.where(owner.row, sheet)}属于手机号 {owner.person.phone}，这里是 {person.phone}",
                )
            elif first.person.wechat_id is None:
                by_phone[person.phone] = dataclasses.replace(first, person=person)
            elif first.person.wechat_id != person.wechat_id:
                sheet.problem(
                    seen.row,
                    seen.wechat_key,
                    f"手机号 {person.phone} 在{first.sheet.where(first.row, sheet)}的微信号是「{first.person.wechat_id}」，这里是「{person.wechat_id}」",
                )

    # -- result

    def _result(
        self, drafts: list[UnitDraft], posts: list[PostDraft]
    ) -> tuple[tuple[UnitRow, ...], tuple[RoleRecord, ...], tuple[ContactRecord, ...]]:
        # One record per phone, carrying the WeChat id wherever any row gave it.
        canonical: dict[str, PersonRecord] = {}
        for seen in self._sightings(drafts, posts):
            person = seen.person
            if person.phone not in canonical or canonical[person.phone].wechat_id is None:
                canonical[person.phone] = person

        def canonical_of(draft: UnitDraft, key: str) -> PersonRecord | None:
            found = draft.people.get(key)
            return None if found is None else canonical[found.phone]

        rows: list[UnitRow] = []
        for draft in drafts:
            unit_leader = canonical_of(draft, "unit_leader")
            grid_leader = canonical_of(draft, "grid_leader")
            station_chief = canonical_of(draft, "station_chief")
            assert draft.village and draft.grid and draft.unit and draft.kind
            assert unit_leader and grid_leader and station_chief and draft.households
            rows.append(
                UnitRow(
                    village=draft.village,
                    grid=draft.grid,
                    unit=draft.unit,
                    unit_kind=draft.kind,
                    unit_leader=unit_leader,
                    second_unit_leader=canonical_of(draft, "second_unit_leader"),
                    grid_leader=grid_leader,
                    station_chief=station_chief,
                    households=draft.households,
                )
            )
        roles: list[RoleRecord] = []
        contacts: list[ContactRecord] = []
        for post in posts:
            assert post.person is not None and post.place is not None
            person = canonical[post.person.phone]
            if post.contact:
                assert post.households is not None
                contacts.append(ContactRecord(person, post.place, post.households))
            else:
                assert post.role is not None
                roles.append(
                    RoleRecord(
                        person, post.role, post.place, department=post.department, title=post.title
                    )
                )
        return tuple(rows), tuple(roles), tuple(contacts)
