"""The roster's newer columns: 户数 on the unit sheet, and the people sheet (town officials,
department liaisons, the 三员 of each grid, party-member contact households)."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest

from core.config import Department
from models.enums import Role, UnitKind
from orgtree.records import ContactRecord, PersonRecord, RoleRecord
from orgtree.roster import HEADERS, PEOPLE_HEADERS, RosterInvalid, read_roster
from tests.orgtree.test_roster import row, write_csv

# Three units of 黄霞村 grid 16: a building of 24 households, a shop, a facility.
UNITS = [
    list(HEADERS),
    row(),  # 2
    row(单元="A01-美发店", 单元类型="沿街商铺", 户数="", 单元长="陈丽", 单元长电话="13800001002",
        第二单元长="翁志明", 第二单元长电话="13800001003"),  # 3
    row(单元="幼儿园", 单元类型="配套场所", 户数="", 单元长="黄美玲", 单元长电话="13800001004"),  # 4
]  # fmt: skip

GOOD_PEOPLE = {
    "职务": "党员", "姓名": "吴素英", "电话": "13800002001", "微信": "", "村": "黄霞村",
    "网格": "第16网格", "单元": "", "职务名称": "", "部门": "", "联系户数": "",
}  # fmt: skip


def person(**changes: str) -> list[str]:
    values = {**GOOD_PEOPLE, **changes}
    return [values[header] for header in PEOPLE_HEADERS]


def official(**changes: str) -> list[str]:
    defaults = {"职务": "镇干部", "姓名": "林国强", "电话": "13800002010", "村": "", "网格": "",
                "职务名称": "镇综治办主任"}  # fmt: skip
    return person(**{**defaults, **changes})


def contact(**changes: str) -> list[str]:
    return person(**{"职务": "联系党员", "单元": "国湄领涵1号楼", "联系户数": "6", **changes})


def roster_files(tmp_path: Path, people: list[list[str]], units: list[list[str]] = UNITS) -> Path:
    write_csv(tmp_path / "r.people.csv", [list(PEOPLE_HEADERS), *people])
    return write_csv(tmp_path / "r.csv", units)


def problems(tmp_path: Path, people: list[list[str]], **kwargs: object) -> list[str]:
    with pytest.raises(RosterInvalid) as caught:
        read_roster(roster_files(tmp_path, people), **kwargs)  # type: ignore[arg-type]
    return [str(problem) for problem in caught.value.problems]


# --- 户数 -------------------------------------------------------------------------------


def test_households_given_or_one_for_shops_and_facilities(tmp_path: Path) -> None:
    units = [*UNITS, row(单元="2号楼", 户数="36户"), row(单元="A02-药店", 单元类型="沿街商铺",
             户数="2", 单元长="陈志明", 单元长电话="13800001005", 第二单元长="翁志明",
             第二单元长电话="13800001003")]  # fmt: skip
    roster = read_roster(write_csv(tmp_path / "r.csv", units))
    assert [(r.unit, r.households) for r in roster.rows] == [
        ("国湄领涵1号楼", 24),
        ("A01-美发店", 1),
        ("幼儿园", 1),
        ("2号楼", 36),
        ("A02-药店", 2),
    ]


def test_bad_households_are_reported_with_the_row(tmp_path: Path) -> None:
    units = [
        list(HEADERS),
        row(户数=""),  # 2
        row(单元="2号楼", 户数="0"),  # 3
        row(单元="3号楼", 户数="二十"),  # 4
        row(单元="4号楼", 户数="1000"),  # 5
        row(单元="5号楼", 户数="12.5"),  # 6
        row(单元="6号楼", 户数="13800001001"),  # 7
        row(单元="幼儿园", 单元类型="配套场所", 户数="-1"),  # 8
    ]
    with pytest.raises(RosterInvalid) as caught:
        read_roster(write_csv(tmp_path / "r.csv", units))
    assert [str(p) for p in caught.value.problems] == [
        "第2行 户数: 住宅单元必须填写户数",
        "第3行 户数: 「0」不是有效的户数（应为1–999的整数，如 24）",
        "第4行 户数: 「二十」不是有效的户数（应为1–999的整数，如 24）",
        "第5行 户数: 「1000」不是有效的户数（应为1–999的整数，如 24）",
        "第6行 户数: 「12.5」不是有效的户数（应为1–999的整数，如 24）",
        "第7行 户数: 「13800001001」是手机号，不是户数：请检查是否填错了列",
        "第8行 户数: 「-1」不是有效的户数（应为1–999的整数，如 24）",
    ]


def test_households_english_header_and_xlsx_number(tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    english = ["village", "grid", "unit", "unit_kind", "Households", "unit_leader",
               "unit_leader_phone", "grid_leader", "grid_leader_phone", "station_chief",
               "station_chief_phone"]  # fmt: skip
    sheet.append(english)
    sheet.append(["黄霞村", 16, "1号楼", "residential", 24, "林秀英", 13800001001,
                  "郭燕冰", 13800000002, "林文荣", 13800000001])  # fmt: skip
    path = tmp_path / "r.xlsx"
    workbook.save(path)
    [unit] = read_roster(path, town="国欢镇").rows
    assert unit.households == 24


# --- the people sheet: good rows --------------------------------------------------------


def test_every_kind_of_post(tmp_path: Path) -> None:
    people = [
        official(),
        official(姓名="陈建华", 电话="13800002011", 职务名称="镇长", 微信="chen_jianhua"),
        person(职务="部门联络员", 姓名="郑海峰", 电话="13800002012", 村="", 网格="", 部门="司法局"),
        person(),  # a party member of the grid
        person(职务="党员", 姓名="林秀英", 电话="13800001001", 单元="国湄领涵1号楼",
               职务名称="党员楼栋长"),  # the unit leader, also the building's party leader
        person(职务="网格员", 姓名="黄丽娟", 电话="13800002002", 网格="16"),
        person(职务="下沉人员", 姓名="许振华", 电话="13800002003", 部门="区委组织部"),
        person(职务="下沉干部", 姓名="方永明", 电话="13800002004"),
        contact(),
        contact(姓名="林秀英", 电话="13800001001", 联系户数="10户"),
        contact(单元="A01-美发店", 联系户数="1"),
    ]  # fmt: skip
    roster = read_roster(roster_files(tmp_path, people))
    assert roster.lists_posts
    wu = PersonRecord("吴素英", "13800002001")
    lin = PersonRecord("林秀英", "13800001001")
    grid = ("黄霞村", "第16网格")
    assert roster.extra_roles == (
        RoleRecord(PersonRecord("林国强", "13800002010"), Role.TOWN_OFFICIAL, (), title="镇综治办主任"),
        RoleRecord(PersonRecord("陈建华", "13800002011", "chen_jianhua"), Role.TOWN_OFFICIAL, (), title="镇长"),
        RoleRecord(PersonRecord("郑海峰", "13800002012"), Role.DEPARTMENT_LIAISON, (), department="区司法局"),
        RoleRecord(wu, Role.PARTY_MEMBER, grid),
        RoleRecord(lin, Role.PARTY_MEMBER, (*grid, "国湄领涵1号楼"), title="党员楼栋长"),
        RoleRecord(PersonRecord("黄丽娟", "13800002002"), Role.GRID_WORKER, grid),
        RoleRecord(PersonRecord("许振华", "13800002003"), Role.SUNK_CADRE, grid, department="区委组织部"),
        RoleRecord(PersonRecord("方永明", "13800002004"), Role.SUNK_CADRE, grid),
    )  # fmt: skip
    assert roster.contacts == (
        ContactRecord(wu, (*grid, "国湄领涵1号楼"), 6),
        ContactRecord(lin, (*grid, "国湄领涵1号楼"), 10),
        ContactRecord(wu, (*grid, "A01-美发店"), 1),
    )
    assert roster.rows[0].unit_leader == lin


def test_people_sheet_in_xlsx_any_order_and_name_with_english_headers(tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    people = workbook.active
    assert people is not None
    people.title = "三员名单"
    people.append(["国欢镇人员名单"])  # a title row above the header
    people.append(["Role", "Name", "Phone", "Village", "Grid", "Unit", "Contact households"])
    people.append(["party_member", "吴素英", 13800002001, "黄霞村", 16, None, None])
    people.append(["contact", "吴素英", 13800002001, "黄霞村", 16, "国湄领涵1号楼", 6])
    units = workbook.create_sheet("单元")
    for cells in UNITS:
        units.append(cells)
    path = tmp_path / "r.xlsx"
    workbook.save(path)
    roster = read_roster(path)
    wu = PersonRecord("吴素英", "13800002001")
    assert roster.extra_roles == (RoleRecord(wu, Role.PARTY_MEMBER, ("黄霞村", "第16网格")),)
    assert roster.contacts == (ContactRecord(wu, ("黄霞村", "第16网格", "国湄领涵1号楼"), 6),)


def test_people_file_given_explicitly(tmp_path: Path) -> None:
    units = write_csv(tmp_path / "units.csv", UNITS)
    elsewhere = write_csv(tmp_path / "三员.csv", [list(PEOPLE_HEADERS), person()])
    assert not read_roster(units).lists_posts
    roster = read_roster(units, people=elsewhere)
    assert [role.person.name for role in roster.extra_roles] == ["吴素英"]
    with pytest.raises(RosterInvalid, match="不是人员表"):
        read_roster(units, people=units)
    with pytest.raises(RosterInvalid, match="是人员表（有「职务」列），不是单元花名册"):
        read_roster(elsewhere)


def test_configured_departments_are_the_choices(tmp_path: Path) -> None:
    path = roster_files(tmp_path, [person(职务="部门联络员", 村="", 网格="", 部门="区教育局")])
    education = Department(code="education", name="区教育局", aliases=["教育局"])
    roster = read_roster(path, departments=[education])
    assert roster.extra_roles[0].department == "区教育局"
    with pytest.raises(RosterInvalid) as caught:
        read_roster(path)
    assert [str(p) for p in caught.value.problems] == [
        "r.people.csv 第2行 部门: 「区教育局」不是已配置的部门（可填：区司法局、区信访局、"
        "涵江生态环境局、镇环卫所、住建局、自来水公司、应急管理局、消防救援大队、派出所、民政局、"
        "卫健局、镇综治中心；部门在 config.yaml 的 departments 中配置）"
    ]


# --- the people sheet: bad rows ---------------------------------------------------------


def test_every_bad_people_row_is_reported_at_once(tmp_path: Path) -> None:
    people = [
        person(),  # 2: fine
        person(职务="", 电话="13800002002"),  # 3
        person(职务="志愿者", 电话="13800002003"),  # 4
        person(职务="网格长", 电话="13800002004"),  # 5
        official(职务名称=""),  # 6
        official(电话="13800002011", 村="黄霞村"),  # 7
        person(职务="部门联络员", 电话="13800002012", 村="", 网格=""),  # 8
        person(职务="网格员", 电话="13800002013", 网格=""),  # 9
        person(电话="13800002014", 部门="区司法局"),  # 10
        person(电话="13800002015", 联系户数="3"),  # 11
        person(电话="13800002016", 网格="第99网格"),  # 12
        person(电话="13800002017", 村="东楼村"),  # 13
        person(电话="13800002018", 单元="9号楼"),  # 14
        person(),  # 15: same as row 2
        person(姓名="吴素英、黄丽娟", 电话="13800002019"),  # 16
        person(姓名="王芳", 电话="13800000002"),  # 17: the grid leader's phone
        person(电话="1380000"),  # 18
        contact(联系户数="", 单元="A01-美发店"),  # 19
        contact(姓名="许振华", 电话="13800002020"),  # 20: not a party member
        contact(单元=""),  # 21
        contact(联系户数="25"),  # 22: 6 (row 20) + 25 > the 24 households of the unit
        contact(职务名称="楼长", 联系户数="1", 单元="幼儿园"),  # 23
        contact(联系户数="2"),  # 24: the same contact and unit as row 22
    ]  # fmt: skip
    assert problems(tmp_path, people) == [
        "r.people.csv 第3行 职务: 不能为空",
        "r.people.csv 第4行 职务: 「志愿者」不是人员表的职务（可填：镇干部、部门联络员、党员、网格员、下沉人员、联系党员）",
        "r.people.csv 第5行 职务: 「网格长」填在单元花名册的「网格长」列，人员表不填",
        "r.people.csv 第6行 职务名称: 镇干部须填写职务名称（如 镇长、综治办主任、信访办主任）",
        "r.people.csv 第7行 村: 镇干部属于全镇：村、网格、单元应留空",
        "r.people.csv 第8行 部门: 部门联络员须填写部门（如 区司法局）",
        "r.people.csv 第9行 网格: 网格员须填写网格",
        "r.people.csv 第10行 部门: 只有部门联络员和下沉人员填写部门",
        "r.people.csv 第11行 联系户数: 只有职务为「联系党员」的行填写联系户数",
        "r.people.csv 第12行 网格: 「黄霞村第99网格」不在单元表中",
        "r.people.csv 第13行 村: 「东楼村」不在单元表中（人员表的村须是单元表里的村）",
        "r.people.csv 第14行 单元: 「黄霞村第16网格9号楼」不在单元表中",
        "r.people.csv 第15行 电话: 与第2行重复（同一人在同一处的同一职务只填一行）",
        "r.people.csv 第16行 姓名: 「吴素英、黄丽娟」：一个单元格只能填写一个人，多人请分行填写",
        "r.people.csv 第17行 电话: 手机号 13800000002 在单元表第2行是「郭燕冰」，这里是「王芳」：同一手机号只能是同一个人",
        "r.people.csv 第18行 电话: 「1380000」不是有效的手机号（应为11位，以13–19开头）",
        "r.people.csv 第19行 联系户数: 联系党员须填写联系户数（联系该单元的几户）",
        "r.people.csv 第20行 电话: 许振华（13800002020）不是人员表中的党员：联系党员须另有一行职务为「党员」",
        "r.people.csv 第21行 单元: 联系党员须填写单元",
        "r.people.csv 第22行 联系户数: 「黄霞村第16网格国湄领涵1号楼」共24户，联系党员合计联系31户，超过了单元户数",
        "r.people.csv 第23行 职务名称: 联系党员一行不填职务名称（党员的职务名称写在其「党员」一行）",
        "r.people.csv 第24行 电话: 与第22行重复（同一人在同一处的同一职务只填一行）",
    ]


def test_problems_on_both_sheets_come_together_in_order(tmp_path: Path) -> None:
    units = [*UNITS, row(单元="2号楼", 户数="")]
    people = [person(电话="138")]
    write_csv(tmp_path / "r.people.csv", [list(PEOPLE_HEADERS), *people])
    with pytest.raises(RosterInvalid) as caught:
        read_roster(write_csv(tmp_path / "r.csv", units))
    assert [str(p) for p in caught.value.problems] == [
        "第5行 户数: 住宅单元必须填写户数",
        "r.people.csv 第2行 电话: 「138」不是有效的手机号（应为11位，以13–19开头）",
    ]


def test_xlsx_people_sheet_problems_name_the_sheet(tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    units = workbook.active
    assert units is not None
    for cells in UNITS:
        units.append(cells)
    people = workbook.create_sheet("人员")
    people.append(list(PEOPLE_HEADERS))
    people.append(person(微信="13800002001"))
    path = tmp_path / "r.xlsx"
    workbook.save(path)
    with pytest.raises(RosterInvalid) as caught:
        read_roster(path)
    assert [str(p) for p in caught.value.problems] == [
        "人员 第2行 微信: 「13800002001」是手机号，不是微信号：微信号以字母开头；不知道微信号可以留空"
    ]


def test_wechat_ids_agree_across_sheets(tmp_path: Path) -> None:
    people = [
        person(姓名="郭燕冰", 电话="13800000002", 微信="wxid_other"),  # 2
        person(电话="13800002001", 微信="wxid_gh_000002"),  # 3: the grid leader's id
    ]
    assert problems(tmp_path, people) == [
        "r.people.csv 第2行 微信: 手机号 13800000002 在单元表第2行的微信号是「wxid_gh_000002」，这里是「wxid_other」",
        "r.people.csv 第3行 微信: 微信号「wxid_gh_000002」在单元表第2行属于手机号 13800000002，这里是 13800002001",
    ]


def test_missing_people_columns(tmp_path: Path) -> None:
    write_csv(
        tmp_path / "r.people.csv", [["职务", "姓名", "电话号码"], ["党员", "吴素英", "13800002001"]]
    )
    with pytest.raises(RosterInvalid) as caught:
        read_roster(write_csv(tmp_path / "r.csv", UNITS))
    assert [str(p) for p in caught.value.problems] == [
        "r.people.csv 第2行: 党员须填写村：人员表缺少「村」列",
        "r.people.csv 第2行: 党员须填写网格：人员表缺少「网格」列",
    ]
    write_csv(
        tmp_path / "r.people.csv", [["职务", "村", "网格", "单元"], ["党员", "黄霞村", "16", ""]]
    )
    with pytest.raises(RosterInvalid) as caught:
        read_roster(tmp_path / "r.csv")
    assert [str(p) for p in caught.value.problems] == [
        "r.people.csv 第1行: 缺少必需的列：姓名、电话（表头第1行）"
    ]


def test_an_empty_people_file_lists_no_posts(tmp_path: Path) -> None:
    roster = read_roster(roster_files(tmp_path, []))
    assert roster.lists_posts and roster.extra_roles == () and roster.contacts == ()
    assert roster.rows[1].unit_kind is UnitKind.SHOP
