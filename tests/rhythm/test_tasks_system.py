"""A task from assignment to completion through the sandbox, with the real wechaty client:
the grid leader gets it privately and answers 领取, 进度 and 完成 in chat."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine
from sqlmodel import Session, select

from core.clock import utcnow
from core.messaging import Reply
from models.auth import AuditEntry
from models.db import run_in_session, session_scope
from models.rhythm import TaskAssignment, TaskState
from rhythm.tasks import AssignmentRow, assign_task, run_task_timers, task_status
from sandbox.sandbox import MessageView
from tests.test_system import ROW, System, system, until  # noqa: F401 (fixture)
from web.keys import ENGINE, HUB


async def test_a_task_from_assignment_to_completion(system: System, engine: Engine) -> None:  # noqa: F811
    leader = ROW.grid_leader.wechat_id or ""
    grid = "/".join(ROW.path[:2])
    now = utcnow()
    app_engine = system.client.app[ENGINE]

    def assign(session: Session) -> tuple[str, list[Reply]]:
        task, replies = assign_task(
            session,
            system.settings,
            title="果树丈量",
            scope=[grid],
            deadline=now + timedelta(days=3),
            now=now,
            issuer_name="镇征迁办",
            body="配合征迁队丈量城北工业园片区果树。",
        )
        return task.code, replies

    code, replies = await run_in_session(app_engine, assign)
    hub = system.client.app[HUB]
    for reply in replies:
        await hub.send(reply)
    [(account, _)] = await until(  # type: ignore[misc]
        lambda: [p for p in system.private_from_bots(leader) if code in p[1].text]
    )

    async def private(text: str) -> MessageView:
        before = {m.seq for _, m in system.private_from_bots(leader)}
        system.sandbox.post_private(account, leader, text)
        answers = await until(
            lambda: [m for _, m in system.private_from_bots(leader) if m.seq not in before]
        )
        return answers[-1]  # type: ignore[index,no-any-return]

    assert "已领取" in (await private(f"领取 {code}")).text
    assert "60%" in (await private(f"进度 {code} 60% 已丈量两片果园")).text
    assert (
        "已完成" in (await private("完成 丈量完毕，已交征迁队")).text
    )  # one open task: no code needed

    def read(session: Session) -> tuple[list[AssignmentRow], list[tuple[str, str]]]:
        _, rows = task_status(session, code)
        return rows, [(e.action, e.target) for e in session.exec(select(AuditEntry))]

    rows, trail = await run_in_session(app_engine, read)
    [row] = rows
    assert row.state is TaskState.DONE and row.progress == 100 and "丈量完毕" in row.note
    assert ("task.accept", code) in trail and ("task.done", "") in trail


def test_task_reminder_and_overdue_fire_once_and_a_checklist_gates_completion(
    engine: Engine,
    settings: object,
) -> None:
    from core.config import Settings
    from rhythm.commands import TaskCommand
    from rhythm.tasks import TaskError, handle_task_command
    from tests.tickets.helpers import T0, contact, make_town

    assert isinstance(settings, Settings)
    town = make_town(engine)
    with session_scope(engine) as session:
        task, replies = assign_task(
            session,
            settings,
            title="消防检查",
            scope=["国欢村/第1网格"],
            deadline=T0 + timedelta(days=5),
            now=T0,
            issuer_name="镇安监办",
            checklist=True,
        )
        code = task.code
    leader = contact(town.grid_leader)
    assert [r.contact_id for r in replies] == [leader] and "逐单元清单" in replies[0].text
    with session_scope(engine) as session:
        assert run_task_timers(session, settings, T0 + timedelta(days=3)) == []
        reminded = run_task_timers(session, settings, T0 + timedelta(days=4, hours=1))
        assert [r.contact_id for r in reminded] == [leader]
        assert run_task_timers(session, settings, T0 + timedelta(days=4, hours=2)) == []
        overdue = run_task_timers(session, settings, T0 + timedelta(days=6))
        assert contact(town.station_chief) in {r.contact_id for r in overdue}
        assert run_task_timers(session, settings, T0 + timedelta(days=7)) == []
    with session_scope(engine) as session:
        try:
            handle_task_command(
                session,
                settings,
                TaskCommand("done", code, None, "都查完了"),
                contact_id=leader,
                name="网格长",
                now=T0,
            )
        except TaskError as error:
            assert "单元未完成" in error.message
        else:
            raise AssertionError("completion with open checklist items was accepted")
        assignment = session.exec(select(TaskAssignment)).one()
        assert assignment.state is TaskState.ASSIGNED
