"""The roster file format: round trips, encodings, headers, and every kind of bad row."""

from __future__ import annotations

import csv
import dataclasses
import io
import zipfile
from functools import cache
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.enums import Role, UnitKind
from orgtree.guohuan import guohuan_roster
from orgtree.records import ContactRecord, PersonRecord, RoleRecord, TownRoster, UnitRow
from orgtree.roster import (
    HEADERS,
    PEOPLE_HEADERS,
    RosterInvalid,
    RosterProblem,
    normalize_grid_name,
    normalize_phone,
    people_file_for,
    read_roster,
    valid_wechat_id,
    write_roster,
)


@cache
def guohuan() -> TownRoster:
    return guohuan_roster()


def slice_of(roster: TownRoster, grids: set[tuple[str, str]]) -> TownRoster:
    """The rows of ``grids`` with the town's posts and those grids' posts and contacts."""
    return TownRoster(
        town=roster.town,
        rows=tuple(row for row in roster.rows if (row.village, row.grid) in grids),
        extra_roles=tuple(
            role for role in roster.extra_roles if role.path == () or role.path[:2] in grids
        ),
        contacts=tuple(contact for contact in roster.contacts if contact.path[:2] in grids),
    )


def pilot_grid() -> TownRoster:
    """黄霞村 grid 16 and the first grid of 国欢村: 73 + a few rows, all three kinds, with
    the town's officials and liaisons and the two grids' 三员 and contact households."""
    return slice_of(guohuan(), {("黄霞村", "第16网格"), ("国欢村", "第1网格")})


def units_only(roster: TownRoster) -> TownRoster:
    """What reading the unit sheet alone gives (no people sheet: posts left alone)."""
    return dataclasses.replace(roster, extra_roles=(), contacts=(), lists_posts=False)


def write_csv(path: Path, table: list[list[str]], encoding: str = "utf-8-sig") -> Path:
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator="\r\n").writerows(table)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def table_of(roster: TownRoster) -> list[list[str]]:
    """The unit sheet as the cells write_roster writes (header first)."""
    out = [list(HEADERS)]
    for row in roster.rows:
        cells = [roster.town, row.village, row.grid, row.unit, row.unit_kind.label]
        cells.append(str(row.households))
        for person in (row.unit_leader, row.second_unit_leader, row.grid_leader, row.station_chief):
            cells += (
                ["", "", ""]
                if person is None
                else [person.name, person.phone, person.wechat_id or ""]
            )
        out.append(cells)
    return out


def people_table_of(roster: TownRoster) -> list[list[str]]:
    """The people sheet as the cells write_roster writes (header first)."""
    out = [list(PEOPLE_HEADERS)]
    for role in roster.extra_roles:
        person = role.person
        place = [*role.path, "", "", ""][:3]
        out.append(
            [role.role.label, person.name, person.phone, person.wechat_id or "", *place,
             role.title or "", role.department or "", ""]
        )  # fmt: skip
    for contact in roster.contacts:
        person = contact.person
        out.append(
            ["联系党员", person.name, person.phone, person.wechat_id or "", *contact.path,
             "", "", str(contact.households)]
        )  # fmt: skip
    return out


def problems_of(path: Path, **kwargs: object) -> list[str]:
    with pytest.raises(RosterInvalid) as caught:
        read_roster(path, **kwargs)  # type: ignore[arg-type]
    return [str(problem) for problem in caught.value.problems]


# --- round trips ----------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_round_trip(tmp_path: Path, suffix: str) -> None:
    roster = pilot_grid()
    path = write_roster(roster, tmp_path / f"roster{suffix}")
    assert path == tmp_path / f"roster{suffix}"
    assert read_roster(path) == roster


def test_full_guohuan_round_trips_through_xlsx(tmp_path: Path) -> None:
    town = guohuan()
    path = write_roster(town, tmp_path / "guohuan.xlsx")
    assert read_roster(path) == town
    again = write_roster(read_roster(path), tmp_path / "again.xlsx")
    assert again.read_bytes() == path.read_bytes()


def test_written_files_are_what_excel_expects(tmp_path: Path) -> None:
    roster = pilot_grid()
    data = write_roster(roster, tmp_path / "r.csv").read_bytes()
    assert data.startswith(b"\xef\xbb\xbf\xe9\x95\x87,")  # BOM, then 镇
    assert "沿街商铺".encode() in data and b"shop" not in data
    people = (tmp_path / "r.people.csv").read_bytes()
    assert people.startswith(b"\xef\xbb\xbf" + "职务,姓名,电话".encode())
    assert "联系党员".encode() in people and "镇长".encode() in people
    workbook = openpyxl.load_workbook(write_roster(roster, tmp_path / "r.xlsx"), read_only=True)
    try:
        assert workbook.sheetnames == ["单元花名册", "人员"]
        rows = list(workbook.worksheets[0].iter_rows(values_only=True))
        people_rows = list(workbook.worksheets[1].iter_rows(values_only=True))
    finally:
        workbook.close()
    assert rows[0] == HEADERS
    assert isinstance(rows[1][7], str) and len(rows[1][7]) == 11  # phone kept as text
    assert isinstance(rows[1][5], int)  # 户数 a number, so that Excel can sum it
    assert people_rows[0] == PEOPLE_HEADERS
    assert isinstance(people_rows[-1][9], int)  # 联系户数 too


_CJK = "林陈黄郑吴王李张刘蔡许方郭翁朱文荣燕冰秀英志明国欢霞东楼·"
_PLACE = _CJK + "村号片区商铺AB12-,\"' \n#=（）"
_names = st.text(_CJK, min_size=1, max_size=4)
_places = st.text(_PLACE, min_size=1, max_size=8).filter(lambda s: s == s.strip())
_grids = st.one_of(
    st.integers(1, 300).map(lambda n: f"第{n}网格"),
    _places.filter(lambda s: normalize_grid_name(s) == s),
)


@st.composite
def rosters(draw: st.DrawFn) -> TownRoster:
    """Valid rosters: one record per phone, consistent leaders, shops with two leaders."""
    phones = draw(
        st.lists(
            st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True), min_size=2, max_size=8, unique=True
        )
    )
    wechats = draw(
        st.lists(
            st.one_of(st.none(), st.from_regex(r"[A-Za-z][A-Za-z0-9_-]{5,12}", fullmatch=True)),
            min_size=len(phones),
            max_size=len(phones),
            unique_by=lambda w: w.lower() if w else object(),
        )
    )
    people = [
        PersonRecord(draw(_names), phone, wechat)
        for phone, wechat in zip(phones, wechats, strict=True)
    ]
    person = st.sampled_from(people)
    rows: list[UnitRow] = []
    for village in draw(st.lists(_places, min_size=1, max_size=3, unique=True)):
        chief = draw(person)
        for grid in draw(st.lists(_grids, min_size=1, max_size=2, unique=True)):
            leader = draw(person)
            for unit in draw(st.lists(_places, min_size=1, max_size=3, unique=True)):
                kind = draw(st.sampled_from(UnitKind))
                unit_leader = draw(person)
                others = st.sampled_from([p for p in people if p != unit_leader])
                second = draw(others if kind is UnitKind.SHOP else st.one_of(st.none(), others))
                households = draw(st.integers(1, 999) if kind is UnitKind.RESIDENTIAL else _few)
                rows.append(
                    UnitRow(
                        village, grid, unit, kind, unit_leader, second, leader, chief, households
                    )
                )
    if not draw(st.booleans()):
        return TownRoster(town=draw(_places), rows=tuple(rows), lists_posts=False)
    roles = draw(
        st.lists(
            _posts(people, rows), max_size=8, unique_by=lambda r: (r.role, r.path, r.person.phone)
        )
    )
    members = sorted(
        {r.person for r in roles if r.role is Role.PARTY_MEMBER}, key=lambda p: p.phone
    )
    contacts: list[ContactRecord] = []
    left = {row.path: row.households or 0 for row in rows}
    for member in members:
        for row in draw(st.lists(st.sampled_from(rows), max_size=2, unique_by=lambda r: r.path)):
            if left[row.path]:
                households = draw(st.integers(1, left[row.path]))
                left[row.path] -= households
                contacts.append(ContactRecord(member, row.path, households))
    return TownRoster(draw(_places), tuple(rows), tuple(roles), tuple(contacts))


_few = st.one_of(st.just(1), st.integers(1, 999))
_titles = st.text(_CJK + "办主任镇长书记", min_size=1, max_size=6).filter(lambda s: s == s.strip())


def _posts(people: list[PersonRecord], rows: list[UnitRow]) -> st.SearchStrategy[RoleRecord]:
    """A people-sheet post: at the town, a grid or a unit, with what each kind needs."""
    person = st.sampled_from(people)
    grid = st.sampled_from(sorted({row.path[:2] for row in rows}))
    unit = st.sampled_from([row.path for row in rows])
    departments = st.sampled_from(["区司法局", "区信访局", "涵江生态环境局", "镇综治中心"])
    optional_title = st.one_of(st.none(), _titles)
    return st.one_of(
        st.builds(RoleRecord, person, st.just(Role.TOWN_OFFICIAL), st.just(()), title=_titles),
        st.builds(
            RoleRecord, person, st.just(Role.DEPARTMENT_LIAISON), st.just(()),
            department=departments, title=optional_title,
        ),
        st.builds(
            RoleRecord, person, st.sampled_from([Role.PARTY_MEMBER, Role.GRID_WORKER]),
            st.one_of(grid, unit), title=optional_title,
        ),
        st.builds(
            RoleRecord, person, st.just(Role.SUNK_CADRE), grid,
            department=st.one_of(st.none(), _titles), title=optional_title,
        ),
    )  # fmt: skip


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(roster=rosters(), suffix=st.sampled_from([".csv", ".xlsx"]))
def test_round_trip_property(tmp_path: Path, roster: TownRoster, suffix: str) -> None:
    assert read_roster(write_roster(roster, tmp_path / f"r{suffix}")) == roster


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_a_roster_without_people_sheet(tmp_path: Path, suffix: str) -> None:
    """Read without a people sheet, a roster says so (its posts are not the whole truth),
    and is written back without one: an old people file beside a CSV goes with it."""
    write_roster(pilot_grid(), tmp_path / f"r{suffix}")
    roster = units_only(pilot_grid())
    path = write_roster(roster, tmp_path / f"r{suffix}")
    assert not people_file_for(path).exists()
    assert read_roster(path) == roster


# --- encodings ------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8", "gbk", "gb18030", "utf-16"])
def test_csv_encodings_as_excel_writes_them(tmp_path: Path, encoding: str) -> None:
    roster = pilot_grid()
    path = write_csv(tmp_path / "r.csv", table_of(roster), encoding)
    write_csv(tmp_path / "r.people.csv", people_table_of(roster), encoding)
    assert read_roster(path) == roster


def test_excel_unicode_text_is_tab_separated_utf16(tmp_path: Path) -> None:
    roster = pilot_grid()
    text = "\r\n".join("\t".join(cells) for cells in table_of(roster))
    path = tmp_path / "r.txt"
    path.write_bytes(text.encode("utf-16"))
    assert read_roster(path) == units_only(roster)


def test_undecodable_csv_says_what_was_tried_and_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    good = "村,网格\r\n黄霞村,第16网格\r\n".encode()
    path.write_bytes(good + b"\x80\xff\xfe\xfa,\x81\r\n")
    [message] = problems_of(path, town="国欢镇")
    assert "无法识别文件编码" in message
    assert "UTF-8" in message and "GBK/GB18030" in message
    assert "第3行" in message
    assert "CSV UTF-8" in message and ".xlsx" in message


# --- headers --------------------------------------------------------------------------

ENGLISH = [
    "town", "village", "grid", "unit", "unit_kind", "households",
    "unit_leader", "unit_leader_phone", "unit_leader_wechat",
    "second_unit_leader", "second_unit_leader_phone", "second_unit_leader_wechat",
    "grid_leader", "grid_leader_phone", "grid_leader_wechat",
    "station_chief", "station_chief_phone", "station_chief_wechat",
]  # fmt: skip


def test_english_headers_and_kind_values(tmp_path: Path) -> None:
    roster = pilot_grid()
    table = table_of(roster)
    table[0] = ENGLISH
    for cells in table[1:]:
        cells[4] = {"住宅": "residential", "配套场所": "Facility", "沿街商铺": "SHOP"}[cells[4]]
    people = people_table_of(roster)
    people[0] = ["Role", "Name", "Phone", "WeChat", "Village", "Grid", "Unit", "Title",
                 "Department", "Households"]  # fmt: skip
    english_roles = {"镇干部": "town_official", "部门联络员": "Department Liaison",
                     "党员": "PARTY_MEMBER", "网格员": "grid_worker", "下沉人员": "sunk_cadre",
                     "联系党员": "contact"}  # fmt: skip
    for cells in people[1:]:
        cells[0] = english_roles[cells[0]]
    write_csv(tmp_path / "r.people.csv", people)
    assert read_roster(write_csv(tmp_path / "r.csv", table)) == roster


def test_headers_as_towns_write_them(tmp_path: Path) -> None:
    """Title row above the header, 序号/备注 columns, 必填 marks, other names, no 镇."""
    roster = pilot_grid()
    table = table_of(roster)
    header = ["序号", "村（居）", "所属网格", "单元名称", "单元类型*", "户数（户）", "单元长姓名", "单元长手机号(必填)",
              "单元长微信号", "第二单元长", "第二单元长联系电话", "第二单元长微信", "网格长",
              "网格长电话", "网格长微信", "站长", "站长电话", "站长微信", "备注"]  # fmt: skip
    body = [[str(n), *cells[1:], ""] for n, cells in enumerate(table[1:], start=1)]
    path = write_csv(tmp_path / "r.csv", [["国欢镇网格单元花名册"], header, *body])
    assert read_roster(path, town="国欢镇") == units_only(roster)


def test_missing_columns_are_named(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "r.csv", [["村", "网格", "单元", "单元长"], ["黄霞村", "1", "1号楼", "林一"]]
    )
    problems = problems_of(path, town="国欢镇")
    assert problems == [
        "第1行: 缺少必需的列：单元类型、户数、单元长电话、网格长、网格长电话、网格站站长、网格站站长电话（表头第1行）"
    ]


def test_a_shop_file_without_second_leader_column(tmp_path: Path) -> None:
    table = [
        [c for i, c in enumerate(cells) if i not in (9, 10, 11)] for cells in table_of(pilot_grid())
    ]
    problems = problems_of(write_csv(tmp_path / "r.csv", table))
    assert problems == ["第二单元长: 缺少列：沿街商铺单元必须填写第二单元长（双单元长制度）"]


def test_duplicate_column(tmp_path: Path) -> None:
    table = table_of(pilot_grid())
    table = [[*cells, cells[7]] for cells in table]
    table[0][-1] = "单元长手机"
    assert problems_of(write_csv(tmp_path / "r.csv", table)) == [
        "单元长手机: 列重复：第H列「单元长电话」和第S列「单元长手机」是同一列，请删除其中一列"
    ]


# --- bad rows -------------------------------------------------------------------------

GOOD = {
    "镇": "国欢镇", "村": "黄霞村", "网格": "第16网格", "单元": "国湄领涵1号楼", "单元类型": "住宅", "户数": "24",
    "单元长": "林秀英", "单元长电话": "13800001001", "单元长微信": "",
    "第二单元长": "", "第二单元长电话": "", "第二单元长微信": "",
    "网格长": "郭燕冰", "网格长电话": "13800000002", "网格长微信": "wxid_gh_000002",
    "网格站站长": "林文荣", "网格站站长电话": "13800000001", "网格站站长微信": "wxid_gh_000001",
}  # fmt: skip


def row(**changes: str) -> list[str]:
    values = dict(GOOD)
    for key, value in changes.items():
        values[key] = value
    return [values[header] for header in HEADERS]


def test_every_bad_row_is_reported_at_once(tmp_path: Path) -> None:
    shop = {"单元类型": "沿街商铺", "第二单元长": "陈志明", "第二单元长电话": "13900000001"}
    table = [
        list(HEADERS),
        row(),  # 2: fine
        row(单元="2号楼", 单元长=""),  # 3
        row(单元="3号楼", 单元长电话="1380000"),  # 4
        row(单元="4号楼", 单元类型="别墅"),  # 5
        row(),  # 6: duplicate of row 2
        row(单元="5号楼", 网格长="张伟", 网格长电话="13800000099", 网格长微信=""),  # 7
        row(单元="6号楼", 网格站站长="黄建国", 网格站站长电话="13800000098", 网格站站长微信=""),  # 8
        row(单元="A01-美发店", 单元类型="沿街商铺", 单元长电话="13800001002"),  # 9: no 2nd leader
        row(单元="7号楼", 单元长电话="138 0000-1003", 单元长微信="1abc"),  # 10
        row(村="黄霞", 单元="8号楼", 单元长电话="13800001004"),  # 11: unknown village
        [""] * len(HEADERS),  # 12: blank, skipped
        row(单元="9号楼", 单元长="王芳", 单元长电话="13800001001"),  # 13: phone of 林秀英 (row 2)
        row(单元="10号楼", 单元长电话="1.38E+10"),  # 14
        row(单元="A02-药店", **shop, 单元长电话="13900000001"),  # 15: same person twice
        row(单元="11号楼", 单元长电话="05941234567", 第二单元长电话="13800001005"),  # 16
        row(单元="12号楼", 单元长电话="+86 138-0000-1006", 第二单元长="陈丽", 第二单元长电话="13800001007"),  # 17: fine
    ]  # fmt: skip
    problems = problems_of(
        write_csv(tmp_path / "bad.csv", table), known_villages={"黄霞村", "国欢村"}
    )
    assert problems == [
        "第3行 单元长: 不能为空",
        "第4行 单元长电话: 「1380000」不是有效的手机号（应为11位，以13–19开头）",
        "第5行 单元类型: 「别墅」不是有效的单元类型（可填：住宅、配套场所、沿街商铺）",
        "第6行 单元: 「黄霞村第16网格国湄领涵1号楼」与第2行重复（同一网格内单元名不能重复）",
        "第7行 网格长电话: 黄霞村第16网格的网格长在第2行是郭燕冰（13800000002），这里是张伟（13800000099）：一个网格只能有一位网格长",
        "第8行 网格站站长电话: 黄霞村的网格站站长在第2行是林文荣（13800000001），这里是黄建国（13800000098）：一个村只能有一位网格站站长",
        "第9行 第二单元长: 沿街商铺单元必须有第二单元长（双单元长制度）",
        "第10行 单元长微信: 「1abc」不是有效的微信号（以字母开头，6–32位字母、数字、下划线或减号）",
        "第11行 村: 「黄霞」不是本镇已有的村，是否指「黄霞村」？（已有：国欢村、黄霞村）",
        "第13行 单元长电话: 手机号 13800001001 在第2行是「林秀英」，这里是「王芳」：同一手机号只能是同一个人",
        "第14行 单元长电话: 「1.38E+10」被 Excel 显示成了科学计数法，号码已丢失：请把该列设为「文本」格式并重新填写",
        "第15行 第二单元长电话: 第二单元长不能与单元长是同一人",
        "第16行 单元长电话: 「05941234567」是座机号码：请填写11位手机号",
        "第16行 第二单元长: 填写了电话或微信，但没有填写姓名",
    ]


def test_problem_text_and_exception_summary() -> None:
    problem = RosterProblem(12, "单元长电话", "「1380000」不是有效的手机号")
    assert str(problem) == "第12行 单元长电话: 「1380000」不是有效的手机号"
    assert str(RosterProblem(None, None, "文件是空的")) == "文件是空的"
    error = RosterInvalid([problem])
    assert str(error).startswith("花名册有 1 处问题")
    assert error.problems == (problem,)


def test_leaders_may_be_named_once_per_person_with_wechat_on_any_row(tmp_path: Path) -> None:
    """A phone is one person; a WeChat id given on any row is carried to every row."""
    table = [list(HEADERS), row(网格长微信=""), row(单元="2号楼", 单元长电话="13800001009")]
    roster = read_roster(write_csv(tmp_path / "r.csv", table))
    assert {r.grid_leader for r in roster.rows} == {
        PersonRecord("郭燕冰", "13800000002", "wxid_gh_000002")
    }
    assert roster.rows[0].unit_leader.wechat_id is None


def test_conflicting_wechat_ids(tmp_path: Path) -> None:
    table = [
        list(HEADERS),
        row(单元长微信="lin_xiuying"),
        row(单元="2号楼", 单元长微信="lin_xiuying2"),
        row(单元="3号楼", 单元长="陈丽", 单元长电话="13800001010", 单元长微信="LIN_XIUYING"),
    ]
    assert problems_of(write_csv(tmp_path / "r.csv", table)) == [
        "第3行 单元长微信: 手机号 13800001001 在第2行的微信号是「lin_xiuying」，这里是「lin_xiuying2」",
        "第4行 单元长微信: 微信号「LIN_XIUYING」在第2行属于手机号 13800001001，这里是 13800001010",
    ]


def test_names_that_hold_two_things(tmp_path: Path) -> None:
    table = [
        list(HEADERS),
        row(单元长="林秀英13800001001"),
        row(单元="2号楼", 单元长="林秀英、陈丽"),
    ]
    assert problems_of(write_csv(tmp_path / "r.csv", table)) == [
        "第2行 单元长: 「林秀英13800001001」像是把姓名和电话写在了一起，请分开填写",
        "第3行 单元长: 「林秀英、陈丽」：一个单元格只能填写一个人",
    ]


def test_town_from_argument_or_column(tmp_path: Path) -> None:
    no_town = [cells[1:] for cells in [list(HEADERS), row()]]
    path = write_csv(tmp_path / "r.csv", no_town)
    assert read_roster(path, town="国欢镇").town == "国欢镇"
    assert problems_of(path) == [
        "不知道是哪个镇：请在文件中加一列「镇」并填写镇名，或导入时指定镇名"
    ]
    with_town = write_csv(
        tmp_path / "t.csv", [list(HEADERS), row(), row(镇="梧塘镇", 单元="2号楼")]
    )
    assert problems_of(with_town, town="国欢镇") == [
        "第3行 镇: 「梧塘镇」与第2行的「国欢镇」不同：一个文件只能是一个镇",
    ]
    assert problems_of(write_csv(tmp_path / "u.csv", [list(HEADERS), row()]), town="江口镇") == [
        "第2行 镇: 文件中的镇「国欢镇」不是「江口镇」",
    ]


def test_empty_files(tmp_path: Path) -> None:
    assert problems_of(write_csv(tmp_path / "e.csv", [])) == [
        "文件是空的：第1行应为表头（村、网格、单元、单元类型、单元长……）"
    ]
    assert problems_of(write_csv(tmp_path / "h.csv", [list(HEADERS)])) == ["文件中没有数据行"]


def test_file_type_problems(tmp_path: Path) -> None:
    assert "另存为" in problems_of(tmp_path / "old.xls")[0]
    assert "不支持的文件类型" in problems_of(tmp_path / "roster.pdf")[0]
    assert "无法读取文件" in problems_of(tmp_path / "missing.csv")[0]
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    assert "无法打开 Excel 文件" in problems_of(broken)[0]


# --- xlsx as towns have them ----------------------------------------------------------


def test_xlsx_numbers_title_row_and_second_sheet(tmp_path: Path) -> None:
    """Phones and grid numbers typed as numbers, a title row, the roster on sheet 2."""
    workbook = openpyxl.Workbook()
    notes = workbook.active
    assert notes is not None
    notes.title = "填表说明"
    notes.append(["单元类型填写：住宅、配套场所、沿街商铺"])
    sheet = workbook.create_sheet("花名册")
    sheet.append(["黄霞村网格花名册"])
    sheet.append(list(HEADERS))
    sheet.append([None, "黄霞村", 16, "国湄领涵1号楼", "住宅", 48.0, "林秀英", 13800001001, None,
                  None, None, None, "郭燕冰", 13800000002.0, None, "林文荣", "138 0000 0001"])  # fmt: skip
    sheet.append([])
    sheet.append([None, "黄霞村", "16网格", "A01-美发店", "沿街商铺", None, "陈丽", 13800001002,
                  None, "翁志明", 13800001003, None, "郭燕冰", 13800000002, None, "林文荣", 13800000001])  # fmt: skip
    sheet.append([None, "黄霞村", "第十六网格", "2号楼", "住宅", "36户", "", 13800001004, None,
                  None, None, None, "郭燕冰", 13800000002, None, "林文荣", 13800000001])  # fmt: skip
    path = tmp_path / "r.xlsx"
    workbook.save(path)
    assert problems_of(path, town="国欢镇") == ["第6行 单元长: 不能为空"]
    sheet.delete_rows(6)
    workbook.save(path)
    roster = read_roster(path, town="国欢镇")
    assert [r.grid for r in roster.rows] == ["第16网格", "第16网格"]
    assert roster.rows[0].unit_leader.phone == "13800001001"
    assert roster.rows[0].station_chief == PersonRecord("林文荣", "13800000001")
    assert roster.rows[1].second_unit_leader == PersonRecord("翁志明", "13800001003")
    assert [r.households for r in roster.rows] == [48, 1]
    assert not roster.lists_posts


def _handmade_xlsx(rows: list[list[str]]) -> bytes:
    """An .xlsx as other tools write it: a style sheet without named styles, a
    data-validation extension and a wrong <dimension>; openpyxl warns about the first two
    and would read only A1 if it trusted the third."""
    from openpyxl.utils import get_column_letter

    def cell(ref: str, value: str) -> str:
        return f'<c r="{ref}" t="inlineStr"><is><t>{value}</t></is></c>'

    sheet_rows = "".join(
        f'<row r="{r}">'
        + "".join(cell(f"{get_column_letter(c)}{r}", v) for c, v in enumerate(cells, 1) if v)
        + "</row>"
        for r, cells in enumerate(rows, 1)
    )
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    pkg = "http://schemas.openxmlformats.org/package/2006/relationships"
    ct = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    parts = {
        "[Content_Types].xml": '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/xl/workbook.xml" ContentType="{ct}.sheet.main+xml"/>'
        f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{ct}.worksheet+xml"/>'
        f'<Override PartName="/xl/styles.xml" ContentType="{ct}.styles+xml"/></Types>',
        "_rels/.rels": f'<Relationships xmlns="{pkg}"><Relationship Id="rId1" '
        f'Type="{rel}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": f'<workbook xmlns="{main}" xmlns:r="{rel}"><sheets>'
        '<sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": f'<Relationships xmlns="{pkg}">'
        f'<Relationship Id="rId1" Type="{rel}/worksheet" Target="worksheets/sheet1.xml"/>'
        f'<Relationship Id="rId2" Type="{rel}/styles" Target="styles.xml"/></Relationships>',
        "xl/styles.xml": f'<styleSheet xmlns="{main}"><cellXfs count="1"><xf numFmtId="0"/>'
        "</cellXfs></styleSheet>",
        "xl/worksheets/sheet1.xml": f'<worksheet xmlns="{main}"><dimension ref="A1"/>'
        f"<sheetData>{sheet_rows}</sheetData>"
        '<extLst><ext uri="{CCE6A557-97BC-4b89-ADB6-D9C93CAAB3DF}"/></extLst></worksheet>',
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, xml in parts.items():
            archive.writestr(name, '<?xml version="1.0" encoding="UTF-8"?>' + xml)
    return buffer.getvalue()


def test_xlsx_from_other_tools_reads_without_warnings(tmp_path: Path) -> None:
    roster = pilot_grid()
    path = tmp_path / "wps.xlsx"
    path.write_bytes(_handmade_xlsx(table_of(roster)))
    roster = units_only(roster)
    with pytest.warns(UserWarning):  # the file does trigger openpyxl's warnings ...
        workbook = openpyxl.load_workbook(path, read_only=True)
        list(workbook.worksheets[0].iter_rows())
        workbook.close()
    assert read_roster(path) == roster  # ... which read_roster handles (filterwarnings=error)


# --- cell helpers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "phone"),
    [
        ("13800001234", "13800001234"),
        ("138-0000-1234", "13800001234"),
        (" 138 0000 1234 ", "13800001234"),
        ("+86 13800001234", "13800001234"),
        ("8613800001234", "13800001234"),
        ("１３８００００１２３４", "13800001234"),
        ("13800001234.0", "13800001234"),
        ("1380000123", None),
        ("12800001234", None),
        ("05941234567", None),
        ("", None),
    ],
)
def test_normalize_phone(text: str, phone: str | None) -> None:
    assert normalize_phone(text) == phone


@pytest.mark.parametrize(
    ("text", "grid"),
    [
        ("16", "第16网格"),
        ("16网格", "第16网格"),
        ("第016网格", "第16网格"),
        ("第十六网格", "第16网格"),
        ("第二十网格", "第20网格"),
        ("第一百零二网格", "第102网格"),
        (" 第16网格 ", "第16网格"),
        ("国湄领涵网格", "国湄领涵网格"),
        ("十六", "十六"),
        ("Ａ网格", "Ａ网格"),
    ],
)
def test_normalize_grid_name(text: str, grid: str) -> None:
    assert normalize_grid_name(text) == grid


@pytest.mark.parametrize(
    ("text", "valid"),
    [("wxid_gh_000123", True), ("lin-xiuying", True), ("abc12", False), ("1abcdef", False),
     ("13800001234", False), ("林秀英abc", False), ("a" * 33, False)],
)  # fmt: skip
def test_valid_wechat_id(text: str, valid: bool) -> None:
    assert valid_wechat_id(text) is valid


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_formula_like_names_are_neutralised_and_still_round_trip(
    tmp_path: Path, suffix: str
) -> None:
    """A name that starts like a formula is written so no spreadsheet evaluates it (a
    "'" in CSV, a text cell in XLSX), and reads back as it was, byte for byte."""
    roster = pilot_grid()
    first = roster.rows[0]
    assert first.unit_leader is not None
    second = roster.rows[1]
    assert second.unit_leader is not None
    rows = (
        dataclasses.replace(
            first, unit_leader=dataclasses.replace(first.unit_leader, name="=HYPERLINK(1)")
        ),
        dataclasses.replace(
            second, unit_leader=dataclasses.replace(second.unit_leader, name="-张三")
        ),
    )
    roster = dataclasses.replace(roster, rows=(*rows, *roster.rows[2:]))
    path = write_roster(roster, tmp_path / f"roster{suffix}")
    if suffix == ".csv":
        text = path.read_text(encoding="utf-8-sig")
        assert "'=HYPERLINK(1)" in text and "'-张三" in text
    else:
        sheet = openpyxl.load_workbook(path).worksheets[0]
        cells = [c for row in sheet.iter_rows() for c in row if c.value == "=HYPERLINK(1)"]
        assert cells and all(c.data_type == "s" for c in cells)
    assert read_roster(path) == roster
    again = write_roster(read_roster(path), tmp_path / f"again{suffix}")
    assert again.read_bytes() == path.read_bytes()


# --- hostile .xlsx files (probe item C4) ------------------------------------------------


def _rewrite_xlsx(source: Path, target: Path, part: str, data: bytes) -> Path:
    """``source`` with one part replaced by ``data`` (deflated, as Excel packs it)."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            content = data if info.filename == part else old.read(info.filename)
            new.writestr(info.filename, content, compress_type=zipfile.ZIP_DEFLATED)
    return target


SHEET = "xl/worksheets/sheet1.xml"


def test_regression_an_xlsx_with_a_doctype_is_refused_by_name(tmp_path: Path) -> None:
    """It was a 500 (ParseError: undefined entity) from the console's roster upload."""
    good = write_roster(pilot_grid(), tmp_path / "good.xlsx")
    with zipfile.ZipFile(good) as archive:
        sheet = archive.read(SHEET)
    declaration = b'<?xml version="1.0" encoding="UTF-8"?>'
    doctype = b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    for hostile in (
        declaration + doctype + sheet,
        declaration + b"<!-- a comment -->\n" + doctype + sheet,
        b"\xef\xbb\xbf" + declaration + doctype + sheet,
        doctype + sheet,
    ):
        path = _rewrite_xlsx(good, tmp_path / "xxe.xlsx", SHEET, hostile)
        [problem] = problems_of(path)
        assert "DOCTYPE 或实体声明" in problem and "拒绝导入" in problem
    assert read_roster(good) == pilot_grid()  # an ordinary file still reads


def test_regression_an_xlsx_that_unpacks_too_far_is_refused_before_it_is_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A zip bomb (310 KB holding 300 MB) was unpacked into the server's memory."""
    good = write_roster(pilot_grid(), tmp_path / "good.xlsx")
    with zipfile.ZipFile(good) as archive:
        sheet = archive.read(SHEET)
    padded = sheet.replace(b"</worksheet>", b" " * (4 * 1024 * 1024) + b"</worksheet>")
    bomb = _rewrite_xlsx(good, tmp_path / "bomb.xlsx", SHEET, padded)
    assert bomb.stat().st_size < 100_000
    opened: list[object] = []
    monkeypatch.setattr(openpyxl, "load_workbook", lambda *a, **k: opened.append(a))
    [problem] = problems_of(bomb)
    assert "压缩了" in problem and "疑似压缩炸弹" in problem
    monkeypatch.setattr("orgtree.roster.tables.MAX_XLSX_UNCOMPRESSED", 1024 * 1024)
    [problem] = problems_of(bomb)
    assert "解压后有" in problem and "超过上限 1 MB" in problem
    assert opened == []  # openpyxl never saw either file
