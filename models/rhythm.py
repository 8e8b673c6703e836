"""The town's rhythm (日清、周商、旬查、月结) and tasks to grids (任务下达).

* :class:`CadenceRun`: one row per cadence and period that ran, so a restart never
  repeats a digest, an agenda or a check;
* :class:`ConsultationItem`: one hard case on a village's weekly agenda (三员三长会商),
  with the outcome recorded against it;
* :class:`CallBack`: one resident asked in a ten-day check whether a closed ticket is
  really solved (回访), and the answer;
* :class:`Task`, :class:`TaskAssignment`, :class:`TaskChecklistItem`, :class:`TaskEvent`:
  a town task, one assignment per grid, the optional per-unit checklist and the history.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import JSON, Column, Date, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, enum_type, utcnow

__all__ = [
    "CadenceRun",
    "CallBack",
    "ConsultationItem",
    "Task",
    "TaskAssignment",
    "TaskChecklistItem",
    "TaskEvent",
    "TaskState",
]


class CadenceRun(SQLModel, table=True):
    """A cadence that ran for one period (``daily`` / ``2026-11-30``, ``weekly`` /
    ``2026-W48``, ``ten_day`` / ``2026-11-10``, ``monthly`` / ``2026-11``)."""

    __tablename__ = "cadence_run"
    __table_args__ = (UniqueConstraint("cadence", "period"),)

    id: int | None = Field(default=None, primary_key=True)
    cadence: str
    period: str
    ran_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    messages: int = 0
    """Messages it produced (0 on an empty day)."""
    summary: str = Field(default="", sa_type=Text)


class ConsultationItem(SQLModel, table=True):
    """A ticket on a village's weekly consultation agenda, and its outcome (会商结论)."""

    __tablename__ = "consultation_item"
    __table_args__ = (UniqueConstraint("period", "ticket_id"),)

    id: int | None = Field(default=None, primary_key=True)
    period: str
    """The ISO week of the agenda: ``2026-W48``."""
    village_id: int = Field(foreign_key="org_unit.id", index=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    reasons: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    """Why it is on the agenda: ``escalated``, ``reopened``, ``overdue``, ``unreported``."""
    listed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    conclusion: str = Field(default="", sa_type=Text)
    owner_name: str = ""
    owner_person_id: int | None = Field(default=None, foreign_key="person.id")
    due_on: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    recorded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    recorded_by: str = ""


class CallBack(SQLModel, table=True):
    """回访: a reporter of a closed ticket asked whether the problem is really solved."""

    __tablename__ = "call_back"
    __table_args__ = (UniqueConstraint("period", "ticket_id", "contact_id"),)

    id: int | None = Field(default=None, primary_key=True)
    period: str
    """The ten-day check that drew it: ``2026-11-10``."""
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    village_id: int | None = Field(default=None, foreign_key="org_unit.id")
    contact_id: str = Field(index=True)
    asked_at: datetime = Field(sa_type=UTCDateTime)
    answered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    solved: bool | None = None
    answer: str = Field(default="", sa_type=Text)
    reopened: bool = False


class TaskState(enum.StrEnum):
    """Where one grid's assignment of a task is."""

    ASSIGNED = "assigned"  # 已下达
    ACCEPTED = "accepted"  # 已领取
    IN_PROGRESS = "in_progress"  # 进行中
    DONE = "done"  # 已完成
    RETURNED = "returned"  # 已退回

    @property
    def label(self) -> str:
        return _TASK_STATE_LABELS[self]


_TASK_STATE_LABELS = {
    TaskState.ASSIGNED: "已下达",
    TaskState.ACCEPTED: "已领取",
    TaskState.IN_PROGRESS: "进行中",
    TaskState.DONE: "已完成",
    TaskState.RETURNED: "已退回",
}


class Task(SQLModel, table=True):
    """A town task (任务下达): what, to which scope, by when, from whom."""

    __tablename__ = "task"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True)
    """``R0007`` (任务)."""
    title: str
    body: str = Field(default="", sa_type=Text)
    scope: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    """The org paths below the town it was assigned to (villages, grids or units)."""
    checklist: bool = False
    """Each unit of the scope is an item the grid leader ticks off."""
    deadline: datetime = Field(sa_type=UTCDateTime)
    issuer_name: str
    issuer_person_id: int | None = Field(default=None, foreign_key="person.id")
    issuer_contact_id: str | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class TaskAssignment(SQLModel, table=True):
    """One grid's share of a task, managed by its grid leader in chat."""

    __tablename__ = "task_assignment"
    __table_args__ = (UniqueConstraint("task_id", "grid_id"),)

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="task.id", index=True)
    grid_id: int = Field(foreign_key="org_unit.id")
    village_id: int | None = Field(default=None, foreign_key="org_unit.id")
    state: TaskState = Field(default=TaskState.ASSIGNED, sa_type=enum_type(TaskState))
    progress: int = 0
    """Percent reported by 进度 (100 once done)."""
    note: str = Field(default="", sa_type=Text)
    """The latest 进度 / 完成 / 退回 note."""
    leader_contact_id: str | None = None
    leader_name: str = ""
    assigned_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    accepted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    done_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    returned_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    fired_timers: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    next_timer_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class TaskChecklistItem(SQLModel, table=True):
    """One unit of an assignment's checklist."""

    __tablename__ = "task_checklist_item"
    __table_args__ = (UniqueConstraint("assignment_id", "unit_id"),)

    id: int | None = Field(default=None, primary_key=True)
    assignment_id: int = Field(foreign_key="task_assignment.id", index=True)
    unit_id: int = Field(foreign_key="org_unit.id")
    unit_name: str
    done_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    done_by: str = ""
    note: str = ""


class TaskEvent(SQLModel, table=True):
    """One step of a task: assigned, accepted, progress, done, returned, reminded, overdue."""

    __tablename__ = "task_event"

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="task.id", index=True)
    assignment_id: int | None = Field(default=None, foreign_key="task_assignment.id")
    kind: str
    actor_name: str = ""
    actor_contact_id: str | None = None
    at: datetime = Field(sa_type=UTCDateTime)
    progress: int | None = None
    note: str = Field(default="", sa_type=Text)
