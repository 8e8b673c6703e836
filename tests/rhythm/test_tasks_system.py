"""A task from assignment to completion through the sandbox, with the real wechaty client:
the grid leader gets it privately and answers 领取, 进度 and 完成 in chat."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import Engine
from sqlmodel import Session, select

from core.clock import utcnow
from core.messaging import Reply
from models.auth import AuditEntry
from models.db import run_in_session, session_scope
from models.rhythm import TaskAssignment, TaskState
from orgtree.binding import topic_for
from rhythm.tasks import AssignmentRow, assign_task, run_task_timers, task_status
from sandbox.sandbox import MessageView
from tests.test_system import ROSTER, ROW, System, system, until  # noqa: F401 (fixture)
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


async def test_a_station_chief_assigns_a_task_from_chat(system: System) -> None:  # noqa: F811
    """#任务 in chat: a station chief's bare 第N网格 is their village's; the grid leader gets
    it privately; someone else's village and residents are refused."""
    chief = ROW.station_chief.wechat_id or ""
    village_topic = topic_for(system.settings.town.name, ROW.path[:1])
    posted = system.sandbox.post_message(
        village_topic, chief, f"#任务 {ROW.grid} 果树丈量 / 配合征迁队丈量果树 期限 3天 逐户清单"
    )
    [answer] = await until(lambda: system.bot_lines(village_topic, posted.seq))  # type: ignore[misc]
    assert "已下达到 1 位网格长" in answer.text, answer.text
    code = re.search(r"R\d{4}", answer.text).group(0)  # type: ignore[union-attr]
    leader = ROW.grid_leader.wechat_id or ""
    got = await until(lambda: [m for _, m in system.private_from_bots(leader) if code in m.text])
    assert "果树丈量" in got[0].text  # type: ignore[index]

    def rows(session: Session) -> list[AssignmentRow]:
        return task_status(session, code)[1]

    [row] = await run_in_session(system.client.app[ENGINE], rows)
    assert row.grid == ROW.grid and row.units_total > 0  # the checklist: one item per unit

    other = next(r for r in ROSTER.rows if r.village != ROW.village)
    posted = system.sandbox.post_message(
        village_topic, chief, f"#任务 {other.village} 排查 / 消防排查 期限 2天"
    )
    [refused] = await until(lambda: system.bot_lines(village_topic, posted.seq))  # type: ignore[misc]
    assert "不在您的村" in refused.text
    posted = system.sandbox.post_message(village_topic, chief, f"#任务 {ROW.grid} 排查 / 没有期限")
    [usage] = await until(lambda: system.bot_lines(village_topic, posted.seq))  # type: ignore[misc]
    assert "期限" in usage.text
