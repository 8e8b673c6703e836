"""Chat commands of the rhythm, parsed. Pure.

* ``会商 T… 结论 … [责任人 姓名] [期限 12月5日 | 2026-12-05 | 3天]``: a consultation outcome;
* ``已解决 [T…]`` / ``未解决 [T…] 情况``: a resident's answer to a call-back (回访);
* ``领取 [R…]``, ``进度 [R…] 60% 说明``, ``完成 [R…] 说明``, ``退回 [R…] 原因``: a grid
  leader's work on a task (the code may be left out when they have one open task);
* ``#任务 范围[、范围…] 标题 / 说明 期限 3天|12月5日[18:00] [逐户清单]``: a town official or
  station chief assigns a task (任务下达).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, time, timedelta

__all__ = [
    "MAX_CONSULT_DAYS",
    "AssignCommand",
    "CallBackAnswer",
    "ConsultCommand",
    "RhythmError",
    "TaskCommand",
    "consult_due_problem",
    "parse_rhythm_command",
]

_TICKET = r"[Tt]\d{8}-\d{4}"
_TASK = r"[Rr]\d{4,}"


@dataclass(frozen=True, slots=True)
class ConsultCommand:
    code: str
    conclusion: str
    owner_name: str = ""
    due_on: date | None = None


@dataclass(frozen=True, slots=True)
class CallBackAnswer:
    solved: bool
    code: str | None = None
    answer: str = ""


@dataclass(frozen=True, slots=True)
class TaskCommand:
    verb: str
    """``accept`` (领取), ``progress`` (进度), ``done`` (完成), ``return`` (退回)."""
    code: str | None = None
    percent: int | None = None
    note: str = ""


@dataclass(frozen=True, slots=True)
class AssignCommand:
    """``#任务``: the scopes as written (a village, ``村/网格``, ``村网格`` or, for a station
    chief, a bare ``第2网格``), and the deadline: ``within`` from now, or a day (at
    ``at`` local time, 18:00 when not given)."""

    scopes: tuple[str, ...]
    title: str
    body: str
    within: timedelta | None = None
    day: date | None = None
    at: time | None = None
    checklist: bool = False


@dataclass(frozen=True, slots=True)
class RhythmError:
    message: str


_CONSULT = re.compile(rf"^会商\s*[:：]?\s*(?P<code>{_TICKET})?\s*(?P<rest>.*)$", re.S)
_OWNER = re.compile(r"(?:责任人|负责人)\s*[:：]?\s*(?P<owner>[^\s，,；;]+)")
_DUE = re.compile(r"(?:期限|截止|完成期限)\s*[:：]?\s*(?P<due>\S+)")
_ANSWER = re.compile(
    rf"^(?P<verb>已解决|解决了|已经解决|未解决|没解决|没有解决|还没解决|还没有解决)\s*[:：，,]?\s*(?P<code>{_TICKET})?\s*(?P<rest>.*)$",
    re.S,
)
_TASK_VERBS = {"领取": "accept", "进度": "progress", "完成": "done", "退回": "return"}
_TASK_RE = re.compile(
    rf"^(?P<verb>领取|进度|完成|退回)\s*[:：]?\s*(?P<code>{_TASK})?(?:\s+|$)(?P<rest>.*)$", re.S
)
ASSIGN_USAGE = "#任务 范围 标题 / 说明 期限 3天，例如：#任务 城北村 果树丈量 / 配合拆迁组丈量果树 期限 3天 逐户清单"
_ASSIGN = re.compile(r"^#\s*任务(?:下达)?\s*(?P<rest>.*)$", re.S)
_ASSIGN_DUE = re.compile(
    r"(?:期限|截止|完成期限|限期)\s*[:：]?\s*(?P<due>\d{4}-\d{1,2}-\d{1,2}|\d{1,2}月\d{1,2}[日号]?|\d{1,3}\s*(?:天|小时))"
    r"(?:\s*(?P<hour>\d{1,2})[:：点](?P<minute>\d{2})?分?)?(?:前|内|之内)?"
)
_CHECKLIST = re.compile(r"(?:逐户|逐单元|按单元)?(?:清单|打卡)")
_PERCENT = re.compile(r"^(?P<n>\d{1,3})\s*[%％]\s*(?P<rest>.*)$", re.S)
_ODD_PERCENT = re.compile(r"^(?P<n>[-+−－]?\s*[\d.,，．]+)\s*[%％]", re.S)
"""A percentage that is not a whole number from 0 to 100 (negative, a fraction, huge)."""


MAX_CONSULT_DAYS = 366
"""A consultation outcome is due within a year: the weekly consultation follows it up,
and the date is shown without its year (12月5日)."""


def consult_due_problem(due: date, *, today: date) -> str | None:
    """Why ``due`` cannot be a consultation outcome's due date (past, or more than
    :data:`MAX_CONSULT_DAYS` ahead), or None. Pure; chat and the console ask it."""
    if due < today:
        return "期限不能早于今天"
    if due > today + timedelta(days=MAX_CONSULT_DAYS):
        latest = today + timedelta(days=MAX_CONSULT_DAYS)
        return f"期限最晚为一年内（{latest.isoformat()} 之前），请写一个近期能跟进的日期"
    return None


def parse_due(text: str, *, today: date) -> date | None:
    """``12月5日``, ``2026-12-05``, ``3天`` (from today); ``None`` when not a date."""
    text = text.strip().rstrip("前")
    if m := re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", text):
        try:
            return date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            return None
    if m := re.fullmatch(r"(\d{1,2})月(\d{1,2})[日号]?", text):
        try:
            due = date(today.year, int(m[1]), int(m[2]))
        except ValueError:
            return None
        return due if due >= today else due.replace(year=today.year + 1)
    if m := re.fullmatch(r"(\d{1,3})天", text):
        return today + timedelta(days=int(m[1]))
    return None


def parse_assign(text: str, *, today: date) -> AssignCommand | RhythmError:
    """The rest of a ``#任务`` command. Pure."""
    parts = text.strip().split(None, 1)  # the scopes (黄霞村/第1网格 holds a "/" too)
    if len(parts) < 2:
        return RhythmError(f"请写明范围和任务名称。{ASSIGN_USAGE}")
    scopes = tuple(s for s in re.split(r"[、,，;；]", parts[0]) if s.strip())
    title, sep, tail = parts[1].replace("／", "/").partition("/")
    if not sep:
        return RhythmError(f"请用“/”分开任务名称和说明。{ASSIGN_USAGE}")
    title = title.strip()
    due = _ASSIGN_DUE.search(tail)
    if due is None:
        return RhythmError(f"请写明完成期限，例如“期限 3天”或“期限 12月5日18:00”。{ASSIGN_USAGE}")
    spec = re.sub(r"\s+", "", due["due"])
    within = day = None
    at = None
    if spec.endswith("小时"):
        within = timedelta(hours=int(spec[:-2]))
    elif spec.endswith("天") and due["hour"] is None:
        within = timedelta(days=int(spec[:-1]))
    else:
        day = parse_due(spec, today=today)
        if day is None:
            return RhythmError("期限请写成「3天」「12月5日」「2026-12-05」或「12月5日18:00」。")
    if due["hour"] is not None:
        hour, minute = int(due["hour"]), int(due["minute"] or 0)
        if hour > 23 or minute > 59:
            return RhythmError("期限的时间请写成 0:00 到 23:59。")
        at = time(hour, minute)
    checklist = _CHECKLIST.search(tail) is not None
    body = _CHECKLIST.sub("", _ASSIGN_DUE.sub("", tail)).strip(" ，,；;。\n")
    if not title or len(title) > 60:
        return RhythmError("任务名称请写在 1 到 60 字之间。")
    if (within is not None and within <= timedelta(0)) or len(scopes) > 50:
        return RhythmError("期限必须在现在之后，范围最多 50 个。")
    return AssignCommand(scopes, title, body, within, day, at, checklist)


def parse_rhythm_command(
    text: str, *, today: date
) -> AssignCommand | ConsultCommand | CallBackAnswer | TaskCommand | RhythmError | None:
    """The command in ``text``, an error for a malformed one, ``None`` for other text."""
    text = unicodedata.normalize("NFKC", text).strip()
    if m := _ASSIGN.match(text):
        return parse_assign(m["rest"], today=today)
    if m := _CONSULT.match(text):
        if not m["code"]:
            return RhythmError(
                "请写明工单号，例如：会商 T20261130-0012 结论 联系住建局上门 责任人 张三 期限 12月5日"
            )
        rest = m["rest"].strip()
        if not rest.startswith("结论"):
            return RhythmError(f"请写明会商结论：会商 {m['code'].upper()} 结论 …")
        rest = rest[2:].lstrip(" :：")
        owner = _OWNER.search(rest)
        due_match = _DUE.search(rest)
        due = None
        if due_match:
            due = parse_due(due_match["due"], today=today)
            if due is None:
                return RhythmError("期限请写成「12月5日」「2026-12-05」或「3天」。")
            if problem := consult_due_problem(due, today=today):
                return RhythmError(f"{problem}。")
        cut = min([x.start() for x in (owner, due_match) if x] or [len(rest)])
        conclusion = rest[:cut].strip(" ，,；;。")
        if not conclusion:
            return RhythmError(f"请写明会商结论：会商 {m['code'].upper()} 结论 …")
        return ConsultCommand(
            code=m["code"].upper(),
            conclusion=conclusion,
            owner_name=owner["owner"] if owner else "",
            due_on=due,
        )
    if m := _ANSWER.match(text):
        solved = not m["verb"].startswith(("未", "没", "还没"))
        return CallBackAnswer(solved, m["code"].upper() if m["code"] else None, m["rest"].strip())
    if m := _TASK_RE.match(text):
        verb = _TASK_VERBS[m["verb"]]
        rest = m["rest"].strip()
        code = m["code"].upper() if m["code"] else None
        if verb == "progress":
            p = _PERCENT.match(rest)
            if p is None:
                if odd := _ODD_PERCENT.match(rest):  # -5%, 50.5%, 99999999999%
                    shown = odd["n"] if len(odd["n"]) <= 12 else odd["n"][:12] + "…"
                    return RhythmError(
                        f"完成比例「{shown}%」不对：应为0到100之间的整数，"
                        f"例如：进度 {code or 'R0001'} 60% 已丈量两片果园"
                    )
                if code is None:
                    return None  # 进度 in ordinary talk
                return RhythmError(f"请写明完成比例，例如：进度 {code} 60% 已丈量两片果园")
            percent = int(p["n"])
            if percent > 100:
                return RhythmError("完成比例应在0到100之间。")
            return TaskCommand(verb, code, percent, p["rest"].strip())
        if code is None and verb != "accept" and not rest:
            return None
        if verb == "return" and not rest:
            return RhythmError(f"请写明退回原因，例如：退回 {code or 'R0001'} 本网格没有果园")
        if code is None and verb in ("done", "return") and len(rest) > 60:
            return None  # a resident's long message that happens to start with the verb
        return TaskCommand(verb, code, None, rest)
    return None
