"""The roster spreadsheet towns keep, CSV or XLSX: a unit sheet and a people sheet.

The **unit sheet** (单元花名册) has one row per unit (单元) with the unit's leaders. The
**people sheet** (人员) has one row per post of someone who is not one of those leaders —
town officials, department liaisons, the 三员 of each grid — and one row per party-member
contact assignment (党员联系户). In an .xlsx file the people sheet is a second worksheet
(found by its header, whatever its name; :func:`write_roster` names it 人员). A CSV roster
keeps it in a second file beside the first, ``花名册.people.csv`` for ``花名册.csv``
(:func:`people_file_for`), or wherever ``people=`` says.

Reading validates every row of both sheets before anything is returned and reports every
problem at once, with the row number the user sees in Excel (the header is row 1, or the
row the header was found on when a title row sits above it); problems on the people sheet
name the sheet. Problems are in Chinese: the readers are town officials.

Unit sheet columns (Chinese headers as towns write them; English aliases accepted)::

    镇 town (optional; else the ``town`` argument)
    村 village · 网格 grid · 单元 unit · 单元类型 unit_kind (住宅/配套场所/沿街商铺)
    户数 households (住宅: required, 1–999; 配套场所/沿街商铺: 1 when empty)
    单元长 / 单元长电话 / 单元长微信
    第二单元长 / 第二单元长电话 / 第二单元长微信 (required for 沿街商铺 units)
    网格长 / 网格长电话 / 网格长微信
    网格站站长 / 网格站站长电话 / 网格站站长微信

People sheet columns::

    职务 role (镇干部 / 部门联络员 / 党员 / 网格员 / 下沉人员 / 联系党员)
    姓名 name · 电话 phone · 微信 wechat
    村 village · 网格 grid · 单元 unit  (where the post is; empty for 镇干部 and 部门联络员)
    职务名称 title (镇长, 综治办主任, 党员楼栋长 …; required for 镇干部)
    部门 department (部门联络员: a configured department; 下沉人员: where they come from)
    联系户数 contact households (联系党员 only: how many households of that unit)

A person is identified by the phone: one phone number must carry the same name (and
WeChat id, where given) on every row of both sheets. WeChat ids are optional.

The modules, in the order a read goes through them: :mod:`.tables` (files into tables
of text), :mod:`.layout` (the columns and the words cells may hold), :mod:`.cells`
(phone numbers, WeChat ids, counts, grid names), :mod:`.sheet` (one sheet being read),
:mod:`.units` and :mod:`.people` (each sheet's rules), :mod:`.reader` (both sheets
together); :mod:`.writer` writes a roster back; :mod:`.problems` holds the errors.
"""

from __future__ import annotations

from orgtree.roster.cells import normalize_grid_name, normalize_phone, valid_wechat_id
from orgtree.roster.layout import HEADERS, PEOPLE_HEADERS
from orgtree.roster.problems import RosterInvalid, RosterProblem
from orgtree.roster.reader import read_roster
from orgtree.roster.tables import people_file_for
from orgtree.roster.writer import write_roster

__all__ = [
    "HEADERS",
    "PEOPLE_HEADERS",
    "RosterInvalid",
    "RosterProblem",
    "normalize_grid_name",
    "normalize_phone",
    "people_file_for",
    "read_roster",
    "valid_wechat_id",
    "write_roster",
]
