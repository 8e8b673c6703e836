"""Tasks to grids (任务下达).

A town official assigns a task to a scope (villages, grids or units) with a deadline and
an optional per-unit checklist; each grid in the scope gets one assignment, and its grid
leader gets the task privately and manages it in chat: 领取, 进度 … 60% 说明, 完成 … 说明,
退回 … 原因. With a checklist, 完成 R… <unit> ticks one unit off, and the assignment is
done when every unit is.

Reminders and escalation follow the tickets' SLA machinery (:class:`tickets.sla.SlaPolicy`):
a reminder to the grid leader when the policy's share of the time is left, and at the
deadline the station chief and the issuer are told; each timer has a key recorded in
``fired_timers`` so it fires once, also after a restart.

A shop's checklist item goes to the shop's owner first, and to its second unit leader
when the owner stays silent (双单元长, :mod:`rhythm.shop_tasks`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, false, or_
from sqlalchemy.orm import Mapped
from sqlmodel import Session, col, func, select

from core.clock import format_local_time
from core.config import Settings
from core.messaging import Reply
from core.spreadsheet import csv_row, xlsx_row
from models.enums import Level
from models.org import PATH_SEP, OrgPath, OrgUnit
from models.rhythm import Task, TaskAssignment, TaskChecklistItem, TaskEvent, TaskState
from orgtree import directory
from orgtree.directory import PostHolder
from rhythm.commands import TaskCommand
from rhythm.shop_tasks import close_shop_item, open_shop_items, remind_shop_task_items
from tickets.configured import sla_policy
from tickets.sla import SlaPolicy

__all__ = [
    "REPORT_HEADER",
    "AssignmentRow",
    "TaskError",
    "TaskLine",
    "assign_task",
    "due_task_timers",
    "handle_task_command",
    "report_file",
    "report_lines",
    "run_task_timers",
    "scope_condition",
    "task_lines",
    "task_status",
]

OPEN_TASK_STATES = (TaskState.ASSIGNED, TaskState.ACCEPTED, TaskState.IN_PROGRESS)


class TaskError(Exception):
    """A refused task action; ``message`` is the Chinese reply."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _next_code(session: Session) -> str:
    last = session.exec(select(func.max(Task.id))).one()
    return f"R{(last or 0) + 1:04d}"


def _scope_units(session: Session, town: str, scope: Sequence[str]) -> list[OrgUnit]:
    units = []
    for path in scope:
        full = f"{town}/{path.strip('/')}" if not path.startswith(town) else path
        unit = session.exec(select(OrgUnit).where(OrgUnit.path == full)).first()
        if unit is None:
            raise TaskError(f"找不到范围「{path}」（写法：村、村/网格 或 村/网格/单元）")
        if unit.level is Level.TOWN:
            raise TaskError("任务请下达到村、网格或单元，全镇请列出各村。")
        units.append(unit)
    return units


def _grids_of(session: Session, unit: OrgUnit) -> list[tuple[OrgUnit, list[OrgUnit]]]:
    """(grid, units of the scope in it) for a village, grid or unit."""

    def children(parent: int | None) -> list[OrgUnit]:
        return list(
            session.exec(
                select(OrgUnit).where(OrgUnit.parent_id == parent).order_by(col(OrgUnit.id))
            )
        )

    match unit.level:
        case Level.VILLAGE:
            return [(g, children(g.id)) for g in children(unit.id)]
        case Level.GRID:
            return [(unit, children(unit.id))]
        case _:
            grid = session.get(OrgUnit, unit.parent_id)
            assert grid is not None
            return [(grid, [unit])]


def assign_task(
    session: Session,
    settings: Settings,
    *,
    title: str,
    scope: Sequence[str],
    deadline: datetime,
    now: datetime,
    issuer_name: str,
    issuer_contact_id: str | None = None,
    issuer_person_id: int | None = None,
    body: str = "",
    checklist: bool = False,
) -> tuple[Task, list[Reply]]:
    """Create the task, one assignment per grid of the scope (with its checklist), and
    the private messages to the grid leaders."""
    if not title.strip():
        raise TaskError("请写明任务名称。")
    if deadline <= now:
        raise TaskError("完成期限必须在现在之后。")
    units = _scope_units(session, settings.town.name, scope)
    task = Task(
        code=_next_code(session),
        title=title.strip(),
        body=body.strip(),
        scope=[u.path.split("/", 1)[1] for u in units],
        checklist=checklist,
        deadline=deadline,
        issuer_name=issuer_name,
        issuer_contact_id=issuer_contact_id,
        issuer_person_id=issuer_person_id,
        created_at=now,
    )
    session.add(task)
    session.flush()
    assert task.id is not None
    grids: dict[int, tuple[OrgUnit, list[OrgUnit]]] = {}
    for unit in units:
        for grid, members in _grids_of(session, unit):
            assert grid.id is not None
            known = grids.setdefault(grid.id, (grid, []))[1]
            known.extend(m for m in members if m not in known)
    policy = sla_policy(settings.tickets)
    replies: list[Reply] = []
    for grid, members in grids.values():
        assert grid.id is not None
        leader = next(iter(directory.grid_leaders(session, grid_id=grid.id)), None)
        assignment = TaskAssignment(
            task_id=task.id,
            grid_id=grid.id,
            village_id=grid.parent_id,
            leader_contact_id=leader.contact_id if leader else None,
            leader_name=leader.name if leader else "",
            assigned_at=now,
            updated_at=now,
        )
        assignment.next_timer_at = _next_timer(task, assignment, policy)
        session.add(assignment)
        session.flush()
        assert assignment.id is not None
        if checklist:
            items = [
                TaskChecklistItem(
                    assignment_id=assignment.id, unit_id=member.id, unit_name=member.name
                )
                for member in members
                if member.id is not None
            ]
            session.add_all(items)
            session.flush()
            # 双单元长: a shop's item goes to its owner first (rhythm.shop_tasks)
            replies.extend(open_shop_items(session, settings, task, items, now))
        session.add(
            TaskEvent(
                task_id=task.id,
                assignment_id=assignment.id,
                kind="assign",
                actor_name=issuer_name,
                at=now,
                note=grid.path,
            )
        )
        if leader is not None:
            replies.append(
                Reply(
                    _assignment_text(task, grid, members if checklist else []),
                    contact_id=leader.contact_id,
                )
            )
    return task, replies


def _assignment_text(task: Task, grid: OrgUnit, units: Sequence[OrgUnit]) -> str:
    lines = [
        f"【任务 {task.code}】{task.title}",
        f"范围：{grid.name}；完成期限：{format_local_time(task.deadline)}；下达：{task.issuer_name}",
    ]
    if task.body:
        lines.append(task.body)
    if units:
        lines.append(f"逐单元清单（{len(units)}个）：" + "、".join(u.name for u in units[:20]))
        lines.append(f"每完成一个单元回复「完成 {task.code} 单元名」。")
    lines.append(
        f"请回复「领取 {task.code}」；进展回复「进度 {task.code} 60% 说明」；"
        f"完成回复「完成 {task.code} 说明」；不属于本网格请回复「退回 {task.code} 原因」。"
    )
    return "\n".join(lines)


# --- chat ---------------------------------------------------------------------------


def _open_assignments(
    session: Session, contact_id: str, code: str | None
) -> list[tuple[Task, TaskAssignment]]:
    statement = (
        select(Task, TaskAssignment)
        .join(TaskAssignment, col(TaskAssignment.task_id) == col(Task.id))
        .where(TaskAssignment.leader_contact_id == contact_id)
        .order_by(col(TaskAssignment.id))
    )
    if code is not None:
        statement = statement.where(Task.code == code)
    else:
        statement = statement.where(col(TaskAssignment.state).in_(list(OPEN_TASK_STATES)))
    return [(t, a) for t, a in session.exec(statement)]


def has_open_task(session: Session, contact_id: str) -> bool:
    return bool(_open_assignments(session, contact_id, None))


def handle_task_command(
    session: Session,
    settings: Settings,
    command: TaskCommand,
    *,
    contact_id: str,
    name: str,
    now: datetime,
) -> tuple[str, list[Reply]]:
    """领取 / 进度 / 完成 / 退回 from a grid leader: (reply, messages for others)."""
    found = _open_assignments(session, contact_id, command.code)
    if not found:
        if (
            command.code is not None
            and session.exec(select(Task).where(Task.code == command.code)).first() is None
        ):
            raise TaskError(f"没有找到任务{command.code}，请核对任务号。")
        raise TaskError(
            f"任务{command.code}不是下达给您的网格的。"
            if command.code
            else "您目前没有待办的任务。"
        )
    if len(found) > 1:
        listed = "、".join(t.code for t, _ in found)
        raise TaskError(
            f"您有多个任务（{listed}），请写上任务号，例如：{_VERB_ZH[command.verb]} {found[0][0].code} …"
        )
    task, assignment = found[0]
    assert task.id is not None and assignment.id is not None
    if assignment.state in (TaskState.DONE, TaskState.RETURNED):
        raise TaskError(
            f"任务{task.code}已{assignment.state.label}，不能再{_VERB_ZH[command.verb]}。"
        )
    others: list[Reply] = []
    grid = session.get(OrgUnit, assignment.grid_id)
    grid_name = grid.name if grid else ""
    progress: int | None = None
    match command.verb:
        case "accept":
            if assignment.state is not TaskState.ASSIGNED:
                return f"任务{task.code}您已领取。", []
            assignment.state, assignment.accepted_at = TaskState.ACCEPTED, now
            reply = (
                f"已领取任务{task.code}（{task.title}），期限{format_local_time(task.deadline)}。"
            )
        case "progress":
            assert command.percent is not None
            if command.percent >= 100:
                raise TaskError(f"完成请回复「完成 {task.code} 说明」。")
            progress = command.percent
            assignment.state = TaskState.IN_PROGRESS
            assignment.accepted_at = assignment.accepted_at or now
            assignment.progress, assignment.note = command.percent, command.note
            reply = f"已记录任务{task.code}进度：{command.percent}%。"
        case "done":
            item = _checklist_item(session, assignment.id, command.note)
            items = _checklist(session, assignment.id)
            if item is not None:
                item.done_at, item.done_by, item.note = (
                    now,
                    name,
                    command.note[len(item.unit_name) :].strip(),
                )
                close_shop_item(session, item, name=name, now=now)
                done = sum(1 for i in items if i.done_at is not None)
                assignment.progress = round(100 * done / len(items))
                assignment.state = TaskState.IN_PROGRESS
                assignment.accepted_at = assignment.accepted_at or now
                progress = assignment.progress
                if done < len(items):
                    session.add(
                        TaskEvent(
                            task_id=task.id,
                            assignment_id=assignment.id,
                            kind="unit_done",
                            actor_name=name,
                            actor_contact_id=contact_id,
                            at=now,
                            progress=progress,
                            note=item.unit_name,
                        )
                    )
                    return f"已记录：{item.unit_name}完成（{done}/{len(items)}）。", []
            else:
                missing = [i.unit_name for i in items if i.done_at is None]
                if missing:
                    raise TaskError(
                        f"任务{task.code}还有{len(missing)}个单元未完成：{'、'.join(missing[:10])}。"
                        f"每完成一个请回复「完成 {task.code} 单元名」。"
                    )
            assignment.state, assignment.done_at, assignment.progress = TaskState.DONE, now, 100
            assignment.accepted_at = assignment.accepted_at or now
            assignment.note = command.note
            progress = 100
            reply = f"任务{task.code}已完成，辛苦了！"
            if task.issuer_contact_id:
                others.append(
                    Reply(
                        f"【任务 {task.code}】{grid_name}已完成：{command.note or task.title}",
                        contact_id=task.issuer_contact_id,
                    )
                )
        case "return":
            assignment.state, assignment.returned_at, assignment.note = (
                TaskState.RETURNED,
                now,
                command.note,
            )
            reply = f"任务{task.code}已退回，原因已转告下达人。"
            text = f"【任务 {task.code}】{grid_name}网格长{name}退回了任务：{command.note}"
            if task.issuer_contact_id:
                others.append(Reply(text, contact_id=task.issuer_contact_id))
            if assignment.village_id is not None:
                others.extend(
                    Reply(text, contact_id=h.contact_id)
                    for h in directory.station_chiefs(session, village_id=assignment.village_id)
                )
        case _:
            raise TaskError("未知的任务指令。")
    assignment.updated_at = now
    assignment.next_timer_at = _next_timer(task, assignment, sla_policy(settings.tickets))
    session.add(
        TaskEvent(
            task_id=task.id,
            assignment_id=assignment.id,
            kind=command.verb,
            actor_name=name,
            actor_contact_id=contact_id,
            at=now,
            progress=progress,
            note=command.note,
        )
    )
    return reply, others


_VERB_ZH = {"accept": "领取", "progress": "进度", "done": "完成", "return": "退回"}


def _checklist(session: Session, assignment_id: int) -> list[TaskChecklistItem]:
    return list(
        session.exec(
            select(TaskChecklistItem)
            .where(TaskChecklistItem.assignment_id == assignment_id)
            .order_by(col(TaskChecklistItem.id))
        )
    )


def _checklist_item(session: Session, assignment_id: int, note: str) -> TaskChecklistItem | None:
    """The open checklist unit the note starts with (longest name first)."""
    items = sorted(_checklist(session, assignment_id), key=lambda i: -len(i.unit_name))
    return next((i for i in items if i.done_at is None and note.startswith(i.unit_name)), None)


# --- timers -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TaskTimer:
    key: str
    at: datetime
    kind: str
    """``remind`` (the grid leader) or ``overdue`` (station chief and issuer)."""


def due_task_timers(
    deadline: datetime, assigned_at: datetime, fired: Sequence[str], policy: SlaPolicy
) -> list[TaskTimer]:
    """The timers of an open assignment not yet fired, earliest first. Pure."""
    remind_at = deadline - policy.lead(deadline - assigned_at)
    timers = []
    if remind_at > assigned_at and "remind" not in fired and "overdue" not in fired:
        timers.append(TaskTimer("remind", remind_at, "remind"))
    if "overdue" not in fired:
        timers.append(TaskTimer("overdue", deadline, "overdue"))
    return timers


def _next_timer(task: Task, assignment: TaskAssignment, policy: SlaPolicy) -> datetime | None:
    if assignment.state not in OPEN_TASK_STATES:
        return None
    timers = due_task_timers(task.deadline, assignment.assigned_at, assignment.fired_timers, policy)
    return timers[0].at if timers else None


def run_task_timers(session: Session, settings: Settings, now: datetime) -> list[Reply]:
    """Fire every task reminder and overdue escalation due at ``now`` (each once)."""
    policy = sla_policy(settings.tickets)
    rows = session.exec(
        select(Task, TaskAssignment)
        .join(TaskAssignment, col(TaskAssignment.task_id) == col(Task.id))
        .where(
            col(TaskAssignment.next_timer_at).is_not(None), col(TaskAssignment.next_timer_at) <= now
        )
        .with_for_update(skip_locked=True)
    ).all()
    replies: list[Reply] = []
    for task, assignment in rows:
        grid = session.get(OrgUnit, assignment.grid_id)
        grid_name = grid.name if grid else ""
        fired = list(assignment.fired_timers)
        for timer in due_task_timers(task.deadline, assignment.assigned_at, fired, policy):
            if timer.at > now:
                break
            fired.append(timer.key)
            if timer.kind == "remind" and assignment.leader_contact_id:
                replies.append(
                    Reply(
                        f"【任务提醒 {task.code}】{task.title}将于{format_local_time(task.deadline)}到期，"
                        f"当前进度{assignment.progress}%。请抓紧，并回复「进度 {task.code} 百分比 说明」。",
                        contact_id=assignment.leader_contact_id,
                    )
                )
            elif timer.kind == "overdue":
                text = (
                    f"【任务逾期 {task.code}】{grid_name}（网格长{assignment.leader_name or '空缺'}）"
                    f"未按期完成「{task.title}」，当前{assignment.state.label}，进度{assignment.progress}%。"
                )
                holders: list[PostHolder] = []
                if assignment.village_id is not None:
                    holders = directory.station_chiefs(session, village_id=assignment.village_id)
                replies.extend(Reply(text, contact_id=h.contact_id) for h in holders)
                if task.issuer_contact_id:
                    replies.append(Reply(text, contact_id=task.issuer_contact_id))
                if not holders and not task.issuer_contact_id:
                    replies.extend(
                        Reply(text, contact_id=h.contact_id)
                        for h in directory.town_officials(session)
                    )
            session.add(
                TaskEvent(
                    task_id=task.id or 0,
                    assignment_id=assignment.id,
                    kind=timer.kind,
                    actor_name="系统",
                    at=now,
                )
            )
        assignment.fired_timers = fired
        assignment.next_timer_at = _next_timer(task, assignment, policy)
    replies.extend(remind_shop_task_items(session, settings, now))
    return replies


# --- status and export ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AssignmentRow:
    village: str
    grid: str
    leader: str
    state: TaskState
    progress: int
    units_done: int
    units_total: int
    done_at: datetime | None
    note: str
    place: OrgPath = ()
    """The grid's path below the town (what a viewer's scope is compared with)."""


def task_status(session: Session, code: str) -> tuple[Task, list[AssignmentRow]]:
    """Completion per village and grid."""
    task = session.exec(select(Task).where(Task.code == code)).first()
    if task is None:
        raise TaskError(f"没有找到任务{code}")
    rows = []
    for assignment in session.exec(
        select(TaskAssignment)
        .where(TaskAssignment.task_id == task.id)
        .order_by(col(TaskAssignment.id))
    ):
        assert assignment.id is not None
        grid = session.get(OrgUnit, assignment.grid_id)
        village = session.get(OrgUnit, assignment.village_id) if assignment.village_id else None
        items = _checklist(session, assignment.id)
        rows.append(
            AssignmentRow(
                village=village.name if village else "",
                grid=grid.name if grid else "",
                leader=assignment.leader_name,
                state=assignment.state,
                progress=assignment.progress,
                units_done=sum(1 for i in items if i.done_at is not None),
                units_total=len(items),
                done_at=assignment.done_at,
                note=assignment.note,
                place=grid.town_path if grid else (),
            )
        )
    return task, rows


REPORT_HEADER = [
    "村",
    "网格",
    "网格长",
    "状态",
    "进度%",
    "单元完成",
    "单元总数",
    "完成时间",
    "说明",
]
"""The columns of a task's report (``gridcast task export`` and the console's export)."""


def report_lines(rows: Sequence[AssignmentRow]) -> list[list[str | int]]:
    """A task's report, one line per grid, under :data:`REPORT_HEADER`. Pure."""
    return [
        [
            r.village,
            r.grid,
            r.leader,
            r.state.label,
            r.progress,
            r.units_done,
            r.units_total,
            format_local_time(r.done_at) if r.done_at else "",
            r.note,
        ]
        for r in rows
    ]


def report_file(task: Task, rows: Sequence[AssignmentRow], kind: str) -> bytes:
    """A task's report as ``csv`` (UTF-8 with BOM, for Excel) or ``xlsx`` (a title row,
    then the header and one line per grid)."""
    lines = report_lines(rows)
    if kind == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(REPORT_HEADER)
        writer.writerows(csv_row(line) for line in lines)
        return ("\ufeff" + buffer.getvalue()).encode("utf-8")
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = task.code
    sheet.append(xlsx_row(sheet, [task.title]))
    sheet.append(REPORT_HEADER)
    for line in lines:
        sheet.append(xlsx_row(sheet, line))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@dataclass(frozen=True, slots=True)
class TaskLine:
    """One task as a list shows it: counts of its grids' assignments by state (only the
    grids within the viewer's scopes), and how many are late."""

    code: str
    title: str
    deadline: datetime
    issuer: str
    created_at: datetime
    counts: dict[TaskState, int]
    overdue: int

    @property
    def grids(self) -> int:
        return sum(self.counts.values())


def scope_condition(path: Mapped[str], town: str, scopes: Sequence[OrgPath]) -> ColumnElement[bool]:
    """SQL: ``path`` (an org unit's full path) is within one of ``scopes``."""
    clauses = [
        (path == prefix) | path.startswith(prefix + PATH_SEP)
        for prefix in (PATH_SEP.join((town, *scope)) for scope in scopes)
    ]
    return or_(*clauses) if clauses else false()


def task_lines(
    session: Session,
    *,
    town: str,
    scopes: Sequence[OrgPath] | None,
    now: datetime,
    limit: int = 200,
) -> list[TaskLine]:
    """The latest ``limit`` tasks with a grid within ``scopes`` (``None``: the whole
    town), newest first, with those grids counted by state."""
    joined = (
        select(Task, TaskAssignment.state)
        .join(TaskAssignment, col(TaskAssignment.task_id) == col(Task.id))
        .join(OrgUnit, col(OrgUnit.id) == col(TaskAssignment.grid_id))
    )
    ids = (
        select(Task.id)
        .join(TaskAssignment, col(TaskAssignment.task_id) == col(Task.id))
        .join(OrgUnit, col(OrgUnit.id) == col(TaskAssignment.grid_id))
    )
    if scopes is not None:
        joined = joined.where(scope_condition(col(OrgUnit.path), town, scopes))
        ids = ids.where(scope_condition(col(OrgUnit.path), town, scopes))
    wanted = list(
        session.exec(ids.group_by(col(Task.id)).order_by(col(Task.id).desc()).limit(limit)).all()
    )
    if not wanted:
        return []
    tasks: dict[int, Task] = {}
    counts: dict[int, dict[TaskState, int]] = {}
    late: dict[int, int] = {}
    for task, state in session.exec(joined.where(col(Task.id).in_(wanted))):
        assert task.id is not None
        tasks[task.id] = task
        counts.setdefault(task.id, dict.fromkeys(TaskState, 0))[TaskState(state)] += 1
        if state in OPEN_TASK_STATES and task.deadline < now:
            late[task.id] = late.get(task.id, 0) + 1
    return [
        TaskLine(
            code=task.code,
            title=task.title,
            deadline=task.deadline,
            issuer=task.issuer_name,
            created_at=task.created_at,
            counts=counts[task_id],
            overdue=late.get(task_id, 0),
        )
        for task_id, task in sorted(tasks.items(), reverse=True)
    ]


def tasks_in(
    session: Session, start: datetime, end: datetime, village_id: int | None = None
) -> tuple[int, int, int]:
    """(assignments due in [start, end), done, done by the deadline) — the monthly figure."""
    statement = (
        select(Task, TaskAssignment)
        .join(TaskAssignment, col(TaskAssignment.task_id) == col(Task.id))
        .where(col(Task.deadline) >= start, col(Task.deadline) < end)
    )
    if village_id is not None:
        statement = statement.where(TaskAssignment.village_id == village_id)
    total = done = on_time = 0
    for task, assignment in session.exec(statement):
        total += 1
        if assignment.state is TaskState.DONE:
            done += 1
            if assignment.done_at is not None and assignment.done_at <= task.deadline:
                on_time += 1
    return total, done, on_time
