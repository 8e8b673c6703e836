"""双单元长 on task checklists: a shop's item goes to its owner first.

When a task with a per-unit checklist (任务下达, :mod:`rhythm.tasks`) covers a shop
(沿街商铺), the shop's owner (法人单元长) gets the item privately and answers ``完成 R…``,
which ticks the shop off the grid's checklist. When the owner has neither done it nor
answered after ``tickets.shop_owner_silence``, the shop's second unit leader is reminded
privately to follow up with the owner by name; either of them (or the grid leader) can
then tick it. Each step, and who acted, is a :class:`models.rhythm.TaskEvent` of the
task and is recorded on the item's :class:`models.shops.ShopFollowUp`
(:mod:`tickets.shops` holds the shared rules).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, col, select

from core.clock import format_local_time
from core.config import Settings
from core.messaging import Reply
from models.enums import Role
from models.org import OrgUnit
from models.rhythm import Task, TaskAssignment, TaskChecklistItem, TaskEvent, TaskState
from models.shops import ShopFollowUp, ShopSubject
from tickets.shops import (
    act_on_follow_up,
    acting_role,
    due_follow_ups,
    open_follow_up,
    shop_leaders,
)

__all__ = ["close_shop_item", "open_shop_items", "remind_shop_task_items", "shop_task_done"]

_OPEN = (TaskState.ASSIGNED, TaskState.ACCEPTED, TaskState.IN_PROGRESS)
_ROLE_ZH = {Role.UNIT_LEADER: "店主", Role.SECOND_UNIT_LEADER: "第二单元长"}


def open_shop_items(
    session: Session,
    settings: Settings,
    task: Task,
    items: Sequence[TaskChecklistItem],
    now: datetime,
) -> list[Reply]:
    """Tell the owner of each shop on the checklist (and record it, once per item)."""
    replies: list[Reply] = []
    assert task.id is not None
    for item in items:
        leaders = shop_leaders(session, item.unit_id)
        if leaders is None or item.id is None:
            continue
        open_follow_up(
            session,
            subject=ShopSubject.TASK_ITEM,
            subject_id=item.id,
            leaders=leaders,
            now=now,
            silence=settings.tickets.shop_owner_silence,
        )
        owner = leaders.owner
        session.add(
            TaskEvent(
                task_id=task.id,
                assignment_id=item.assignment_id,
                kind="shop_owner_notified",
                actor_name="系统",
                at=now,
                note=f"{item.unit_name}：告知店主{owner.name}" if owner else item.unit_name,
            )
        )
        if owner is None:
            continue
        lines = [
            f"【任务 {task.code}】{task.title}",
            f"完成期限：{format_local_time(task.deadline)}；下达：{task.issuer_name}",
            *([task.body] if task.body else []),
            f"{item.unit_name}在本任务的逐单元清单中，您是本店的单元长（店主），请落实。"
            f"完成后回复「完成 {task.code}」，可附说明。",
        ]
        replies.append(Reply("\n".join(lines), contact_id=owner.contact_id))
    return replies


def _open_shop_items(
    session: Session, contact_id: str, code: str | None
) -> list[tuple[ShopFollowUp, TaskChecklistItem, TaskAssignment, Task]]:
    statement = (
        select(ShopFollowUp, TaskChecklistItem, TaskAssignment, Task)
        .join(TaskChecklistItem, col(TaskChecklistItem.id) == col(ShopFollowUp.subject_id))
        .join(TaskAssignment, col(TaskAssignment.id) == col(TaskChecklistItem.assignment_id))
        .join(Task, col(Task.id) == col(TaskAssignment.task_id))
        .where(
            ShopFollowUp.subject == ShopSubject.TASK_ITEM,
            (col(ShopFollowUp.owner_contact_id) == contact_id)
            | (col(ShopFollowUp.second_contact_id) == contact_id),
            col(TaskChecklistItem.done_at).is_(None),
            col(TaskAssignment.state).in_(list(_OPEN)),
        )
        .order_by(col(ShopFollowUp.id))
    )
    if code is not None:
        statement = statement.where(Task.code == code)
    return [(f, i, a, t) for f, i, a, t in session.exec(statement)]


def shop_task_done(
    session: Session,
    *,
    contact_id: str,
    name: str,
    code: str | None,
    note: str,
    now: datetime,
) -> tuple[str, list[Reply]] | None:
    """``完成 R…`` from a shop's owner or second unit leader: tick the shop's item and tell
    the grid leader. ``None`` when the writer has no open shop item (or is the grid
    leader the task was assigned to: their 完成 is the assignment's)."""
    if code is not None:
        leads = session.exec(
            select(TaskAssignment.id)
            .join(Task, col(Task.id) == col(TaskAssignment.task_id))
            .where(Task.code == code, TaskAssignment.leader_contact_id == contact_id)
        ).first()
        if leads is not None:
            return None
    found = _open_shop_items(session, contact_id, code)
    if not found:
        return None
    if len(found) > 1:
        listed = "、".join(f"{t.code}（{i.unit_name}）" for _, i, _, t in found[:5])
        return f"您有多项待完成的任务（{listed}），请写上任务号，例如：完成 {found[0][3].code}", []
    follow_up, item, assignment, task = found[0]
    assert task.id is not None and assignment.id is not None
    role = acting_role(
        contact_id,
        owner_contact_id=follow_up.owner_contact_id,
        second_contact_id=follow_up.second_contact_id,
    )
    assert role is not None
    item.done_at, item.done_by, item.note = now, name, note[:200]
    act_on_follow_up(follow_up, name=name, role=role, now=now)
    items = list(
        session.exec(
            select(TaskChecklistItem).where(TaskChecklistItem.assignment_id == assignment.id)
        )
    )
    done = sum(1 for i in items if i.done_at is not None)
    assignment.progress = round(100 * done / len(items)) if items else assignment.progress
    assignment.updated_at = now
    who = f"{_ROLE_ZH[role]}{name}"
    session.add(
        TaskEvent(
            task_id=task.id,
            assignment_id=assignment.id,
            kind="unit_done",
            actor_name=name,
            actor_contact_id=contact_id,
            at=now,
            progress=assignment.progress,
            note=f"{item.unit_name}（{who}）" + (f"：{note}" if note else ""),
        )
    )
    others: list[Reply] = []
    if assignment.leader_contact_id:
        text = f"【任务 {task.code}】{item.unit_name}{who}已完成（{done}/{len(items)}）。"
        if done == len(items):
            text += f"清单已全部完成，请回复「完成 {task.code} 说明」结束任务。"
        others.append(Reply(text, contact_id=assignment.leader_contact_id))
    return f"已记录：{item.unit_name}完成任务 {task.code}（{task.title}），已告知网格长。", others


def close_shop_item(session: Session, item: TaskChecklistItem, *, name: str, now: datetime) -> None:
    """The grid leader ticked a shop's item themselves: nobody is reminded any more."""
    if item.id is None:
        return
    follow_up = session.exec(
        select(ShopFollowUp).where(
            ShopFollowUp.subject == ShopSubject.TASK_ITEM, ShopFollowUp.subject_id == item.id
        )
    ).first()
    if follow_up is not None:
        act_on_follow_up(follow_up, name=name, role=Role.GRID_LEADER, now=now)


def remind_shop_task_items(session: Session, settings: Settings, now: datetime) -> list[Reply]:
    """Remind the second unit leader of each shop item whose owner stayed silent (once)."""
    del settings  # the silence was applied when the item was opened
    replies: list[Reply] = []
    for follow_up in due_follow_ups(session, ShopSubject.TASK_ITEM, now):
        follow_up.remind_at = None
        item = session.get(TaskChecklistItem, follow_up.subject_id)
        assignment = session.get(TaskAssignment, item.assignment_id) if item else None
        task = session.get(Task, assignment.task_id) if assignment else None
        if (
            item is None
            or assignment is None
            or task is None
            or task.id is None
            or item.done_at is not None
            or assignment.state not in _OPEN
            or follow_up.second_contact_id is None
        ):
            continue
        follow_up.reminded_at = now
        unit = session.get(OrgUnit, follow_up.org_unit_id)
        shop = unit.name if unit is not None else item.unit_name
        owner = follow_up.owner_name
        if owner:
            text = (
                f"【督促店主】任务 {task.code}「{task.title}」：{shop}的店主{owner}至今没有完成或回复"
                f"（期限{format_local_time(task.deadline)}）。请您联系店主{owner}跟进；"
                f"完成后您或店主回复「完成 {task.code}」。"
            )
        else:
            text = (
                f"【督促店主】任务 {task.code}「{task.title}」：{shop}在逐单元清单中，花名册没有登记店主，"
                f"请您代为落实（期限{format_local_time(task.deadline)}），完成后回复「完成 {task.code}」。"
            )
        session.add(
            TaskEvent(
                task_id=task.id,
                assignment_id=assignment.id,
                kind="shop_second_reminded",
                actor_name="系统",
                at=now,
                note=f"{shop}：店主{owner or '空缺'}未回复，提醒第二单元长{follow_up.second_name}督促",
            )
        )
        replies.append(Reply(text, contact_id=follow_up.second_contact_id))
    return replies
