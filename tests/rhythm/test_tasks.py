"""A grid leader's 退回 of a task, as data functions with time as a parameter."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from core.config import Settings
from models.db import session_scope
from models.rhythm import TaskAssignment, TaskEvent, TaskState
from rhythm.commands import TaskCommand, parse_rhythm_command
from rhythm.tasks import TaskError, assign_task, handle_task_command, task_status
from tests.tickets.helpers import T0, Town, contact


def _task(engine: Engine, settings: Settings, town: Town) -> str:
    with session_scope(engine) as session:
        task, _ = assign_task(
            session,
            settings,
            title="果树丈量",
            scope=["国欢村/第1网格"],
            deadline=T0 + timedelta(days=3),
            now=T0,
            issuer_name="镇征迁办",
            issuer_contact_id=contact(town.town_official),
        )
        return task.code


def _command(text: str) -> TaskCommand:
    command = parse_rhythm_command(text, today=T0.date())
    assert isinstance(command, TaskCommand), command
    return command


def test_a_returned_task_is_returned_and_the_station_chief_and_issuer_are_told(
    engine: Engine, settings: Settings, town: Town
) -> None:
    code = _task(engine, settings, town)
    command = _command(f"退回 {code} 本网格没有果树")
    assert (command.verb, command.code, command.note) == ("return", code, "本网格没有果树")
    leader = town.grid_leader
    at = T0 + timedelta(hours=1)
    with session_scope(engine) as session:
        reply, others = handle_task_command(
            session, settings, command, contact_id=contact(leader), name=leader.name, now=at
        )
    assert reply == f"任务{code}已退回，原因已转告下达人。"
    told = f"【任务 {code}】第1网格网格长{leader.name}退回了任务：本网格没有果树"
    assert sorted((r.contact_id or "", r.text) for r in others) == sorted(
        [(contact(town.town_official), told), (contact(town.station_chief), told)]
    )
    with Session(engine) as session:
        [assignment] = session.exec(select(TaskAssignment)).all()
        [event] = session.exec(select(TaskEvent).where(TaskEvent.kind == "return")).all()
        _, [row] = task_status(session, code)
    assert assignment.state is TaskState.RETURNED and assignment.returned_at == at
    assert assignment.note == "本网格没有果树" and assignment.next_timer_at is None
    assert (event.actor_name, event.note) == (leader.name, "本网格没有果树")
    assert row.state is TaskState.RETURNED and row.note == "本网格没有果树"
    # a returned task takes no more commands, and nothing changes
    with session_scope(engine) as session, pytest.raises(TaskError, match="已退回"):
        handle_task_command(
            session,
            settings,
            _command(f"完成 {code} 已丈量"),
            contact_id=contact(leader),
            name=leader.name,
            now=at,
        )
    with Session(engine) as session:
        assert session.exec(select(TaskAssignment)).one().state is TaskState.RETURNED


def test_returning_a_task_of_another_grid_or_an_unknown_one_is_refused(
    engine: Engine, settings: Settings, town: Town
) -> None:
    code = _task(engine, settings, town)
    other = town.other_grid_leader
    for text, message in (
        (f"退回 {code} 不归我们", "不是下达给您的网格"),
        ("退回 R0099 无", "没有找到任务R0099"),
    ):
        with session_scope(engine) as session, pytest.raises(TaskError, match=message):
            handle_task_command(
                session,
                settings,
                _command(text),
                contact_id=contact(other),
                name=other.name,
                now=T0,
            )
    with Session(engine) as session:
        assert session.exec(select(TaskAssignment)).one().state is TaskState.ASSIGNED


@pytest.mark.parametrize(
    "text", ["进度 R0001 -5%", "进度 R0001 99999999999999999999%", "进度 R0001 50.5%", "进度 -5%"]
)
def test_regression_an_odd_percentage_is_refused_by_name(text: str) -> None:
    """Probe item F6: these got the generic 请写明完成比例 hint."""
    from datetime import date

    from rhythm.commands import RhythmError, parse_rhythm_command

    parsed = parse_rhythm_command(text, today=date(2026, 12, 3))
    assert isinstance(parsed, RhythmError), parsed
    assert "应为0到100之间的整数" in parsed.message


@pytest.mark.parametrize("due", ["9999-12-31", "2099-01-01", "400天", "2026-11-30"])
def test_regression_a_consultation_due_date_is_within_a_year(due: str) -> None:
    from datetime import date

    from rhythm.commands import RhythmError, parse_rhythm_command

    parsed = parse_rhythm_command(
        f"会商 T20261203-0001 结论 联系住建局上门 期限 {due}", today=date(2026, 12, 3)
    )
    assert isinstance(parsed, RhythmError), parsed
    assert "一年内" in parsed.message or "早于今天" in parsed.message
