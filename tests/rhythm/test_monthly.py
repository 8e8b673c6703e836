"""月结: the report's numbers against a hand-built month, the XLSX and the chart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner
from openpyxl import load_workbook
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from core.config import Settings
from models.broadcast import Delivery, DeliveryState, Notice, NoticeKind, NoticeStatus
from models.chat import ChatGroup
from models.db import session_scope
from models.enums import Level, Rating, TicketLevel, TicketState
from models.org import OrgUnit
from models.rhythm import CadenceRun
from models.tickets import IntakeKind, Ticket
from rhythm.commands import TaskCommand, parse_rhythm_command
from rhythm.monthly import monthly_report, render_png, run_monthly, summary_text, write_xlsx
from rhythm.tasks import assign_task, handle_task_command
from tests.tickets.flows import file
from tests.tickets.helpers import Town, contact

NOV = datetime(2026, 11, 10, 2, 0, tzinfo=UTC)
TEXTS = (
    "隔壁邻居把墙砌到我家地里了，吵了好几次都没结果",
    "楼上邻居装修噪音太大，晚上十一点还在敲",
    "路灯坏了一个星期了没人修，晚上很黑",
    "小区门口垃圾堆了三天没人清运，很臭",
    "楼道里有人乱停电动车充电，很危险",
)


def _month(engine: Engine, settings: Settings, town: Town) -> None:
    """Four tickets in November, one in December:

    A dispute, closed satisfied, resolved at grid, accepted on time;
    B dispute, closed, resolved by the petitions bureau (a petition, 1 reporter);
    C noise, resolved at village, not accepted on time;
    D open; E in December (not counted).
    """
    codes = []
    for i, text in enumerate(TEXTS):
        at = NOV + timedelta(days=i) if i < 4 else datetime(2026, 12, 2, 2, tzinfo=UTC)
        outcome = file(engine, settings, text, f"resident-{i}", unit_id=town.unit_id, now=at)
        assert outcome.kind is IntakeKind.TICKET, text
        codes.append(outcome.ticket_code)
    plan = [
        ("dispute", TicketState.CLOSED, TicketLevel.GRID, Rating.SATISFIED, None, True),
        ("dispute", TicketState.CLOSED, TicketLevel.DEPARTMENT, None, "petitions", True),
        ("noise", TicketState.RESOLVED, TicketLevel.VILLAGE, None, None, False),
        ("other", TicketState.DISPATCHED, None, None, None, False),
    ]
    with session_scope(engine) as session:
        for code, (category, state, level, rating, department, on_time) in zip(
            codes, plan, strict=False
        ):
            row = session.exec(select(Ticket).where(Ticket.code == code)).one()
            row.category, row.state, row.resolved_level, row.rating = category, state, level, rating
            row.department_code = department
            if level is not None:
                row.resolved_at = row.created_at + timedelta(hours=10)
            row.first_accepted_at = row.first_accept_due_at + timedelta(
                minutes=-1 if on_time else 30
            )
    _notice(engine, town)
    _task(engine, settings, town)


def _notice(engine: Engine, town: Town) -> None:
    """N0001 on 12 November: the 国欢村 village group (20 s), 洋中1号片区 (30 s, answered),
    国欢花园1号楼 (60 s, answered only the correction N0002), 霞林苑1号楼1单元 (90 s, silent),
    and a fourth unit it never reached; N0003 in December (not counted)."""
    started = NOV + timedelta(days=2)
    groups = {
        "village": (town.village_id, 20, None),
        "unit-a": (town.unit_id, 30, "original"),
        "unit-b": (town.other_grid_unit_id, 60, "correction"),
        "unit-c": (town.other_village_unit_id, 90, None),
    }
    with session_scope(engine) as session:
        rows = {
            name: ChatGroup(room_id=f"{name}@chatroom", topic=name, org_unit_id=unit_id)
            for name, (unit_id, _, _) in groups.items()
        }
        far = session.exec(
            select(OrgUnit).where(
                OrgUnit.level == Level.UNIT,
                col(OrgUnit.id).not_in([unit_id for unit_id, _, _ in groups.values()]),
            )
        ).first()
        assert far is not None and far.id is not None
        rows["unreached"] = ChatGroup(room_id="unreached@chatroom", topic="x", org_unit_id=far.id)
        session.add_all(rows.values())
        notices = []
        for code, kind, at in (
            ("N0001", NoticeKind.NOTICE, started),
            ("N0002", NoticeKind.CORRECTION, started + timedelta(minutes=10)),
            ("N0003", NoticeKind.NOTICE, datetime(2026, 12, 2, 2, tzinfo=UTC)),
        ):
            notice = Notice(
                code=code,
                kind=kind,
                parent_id=notices[0].id if kind is NoticeKind.CORRECTION else None,
                title="台风预警",
                body="今晚停止户外作业",
                scope_org_unit_id=town.village_id,
                levels=["village", "unit"],
                issuer_name="国欢镇应急办",
                status=NoticeStatus.DONE,
                started_at=at,
            )
            session.add(notice)
            session.flush()
            notices.append(notice)
        original, correction, december = notices
        for name, (_, seconds, answered) in groups.items():
            group = rows[name]
            for notice in (original, correction, december):
                if notice is correction and name == "village":
                    continue
                sent = (notice.started_at or started) + timedelta(seconds=seconds)
                answer = {"original": original, "correction": correction}.get(answered or "")
                session.add(
                    Delivery(
                        notice_id=notice.id or 0,
                        chat_group_id=group.id or 0,
                        room_id=group.room_id,
                        level="village" if name == "village" else "unit",
                        state=DeliveryState.SENT,
                        sent_at=sent,
                        acked_at=sent + timedelta(minutes=5) if answer is notice else None,
                    )
                )
        session.add(
            Delivery(
                notice_id=original.id or 0,
                chat_group_id=rows["unreached"].id or 0,
                room_id="unreached@chatroom",
                level="unit",
                state=DeliveryState.FAILED,
            )
        )


def _task(engine: Engine, settings: Settings, town: Town) -> None:
    """R0001 due 20 November to three grids: 国欢村 第1网格 done on time, 第2网格 done late,
    黄霞村 第1网格 not done."""
    assigned = NOV + timedelta(days=5)
    with session_scope(engine) as session:
        assign_task(
            session,
            settings,
            title="消防检查",
            scope=["国欢村/第1网格", "国欢村/第2网格", "黄霞村/第1网格"],
            deadline=NOV + timedelta(days=10),
            now=assigned,
            issuer_name="镇安监办",
        )
    for leader, days in ((town.grid_leader, 8), (town.other_grid_leader, 12)):
        command = parse_rhythm_command("完成 R0001 已检查", today=assigned.date())
        assert isinstance(command, TaskCommand)
        with session_scope(engine) as session:
            handle_task_command(
                session,
                settings,
                command,
                contact_id=contact(leader),
                name=leader.name,
                now=NOV + timedelta(days=days),
            )


def test_monthly_numbers_of_a_hand_built_month(
    engine: Engine, settings: Settings, town: Town, tmp_path: Path
) -> None:
    _month(engine, settings, town)
    now = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
    with session_scope(engine) as session:
        report = monthly_report(session, settings, "2026-11", now=now)
    s = report.town.tickets
    assert s.total == 4 and s.resolved == 3
    assert s.resolved_by_level == {"grid": 1, "village": 1, "town": 0, "department": 1}
    assert s.resolved_within_town == 2 / 3
    assert (s.responded_on_time, s.response_due) == (2, 4)
    assert s.resolution_rate == 3 / 4 and s.satisfaction_rate == 1 / 2
    assert s.median_time_to_resolve == timedelta(hours=10)
    assert s.by_category == {"dispute": 2, "noise": 1, "other": 1}
    assert report.town.disputes_resolved == 2 and report.town.petition_visits == 1
    village = next(v for v in report.villages if v.scope == "国欢村")
    assert village.tickets.total == 4
    assert sum(v.tickets.total for v in report.villages) == 4
    # notices: one in November (its correction is not a notice; December's is not counted)
    whole = report.town
    assert (whole.notices_sent, whole.groups_reached, whole.median_reach_s) == (1, 4, 90.0)
    # 洋中1号片区 answered, 国欢花园1号楼 answered the correction: 2 of 3 unit groups
    assert (whole.unit_groups, whole.unit_groups_acknowledged) == (3, 2)
    assert whole.ack_coverage == 2 / 3
    far = next(v for v in report.villages if v.scope == "黄霞村")
    assert (village.notices_sent, village.groups_reached, village.median_reach_s) == (1, 3, 60.0)
    assert (village.unit_groups, village.unit_groups_acknowledged) == (2, 2)
    assert (far.groups_reached, far.unit_groups, far.unit_groups_acknowledged) == (1, 1, 0)
    # tasks: three grids due in November, two done, one of them by the deadline
    assert (whole.tasks_due, whole.tasks_done, whole.tasks_on_time) == (3, 2, 1)
    assert (village.tasks_due, village.tasks_done, village.tasks_on_time) == (2, 2, 1)
    assert (far.tasks_due, far.tasks_done, far.tasks_on_time) == (1, 0, 0)
    assert "发布通知1条，送达4个群，单元群回复率66.7%" in summary_text(report)
    assert "任务完成2/3（按期1）" in summary_text(report)
    path = tmp_path / "m.xlsx"
    write_xlsx(report, path)
    sheet = load_workbook(path)["月报"]
    header = [c.value for c in sheet[2]]
    town_row = dict(zip(header, [c.value for c in sheet[3]], strict=True))
    assert town_row["受理"] == 4 and town_row["办结"] == 3 and town_row["化解矛盾纠纷"] == 2
    assert abs(town_row["镇内化解率"] - 2 / 3) < 1e-9 and town_row["文章目标"] == 0.965
    assert (town_row["通知"], town_row["送达群数"], town_row["单元群已回复"]) == (1, 4, 2)
    assert (town_row["任务"], town_row["任务完成"], town_row["按期完成"]) == (3, 2, 1)
    assert render_png(report).startswith(b"\x89PNG")


def test_monthly_cadence_posts_a_chart_once_and_nothing_on_an_empty_month(
    engine: Engine, settings: Settings, town: Town
) -> None:
    first_of_month = datetime(2026, 11, 1, 1, 0, tzinfo=UTC)  # October: empty
    with session_scope(engine) as session:
        assert run_monthly(session, settings, first_of_month) == []
        assert run_monthly(session, settings, first_of_month) is None
    _month(engine, settings, town)
    with session_scope(engine) as session:
        town_unit = session.exec(select(OrgUnit).where(OrgUnit.level == Level.TOWN)).one()
        assert town_unit.id is not None
        session.add(ChatGroup(room_id="town@chatroom", topic="国欢镇", org_unit_id=town_unit.id))
    with session_scope(engine) as session:
        replies = run_monthly(session, settings, datetime(2026, 12, 1, 1, 0, tzinfo=UTC))
        runs = session.exec(select(CadenceRun.period)).all()
    assert replies is not None and sorted(runs) == ["2026-10", "2026-11"]
    [summary, chart] = [r for r in replies if r.room_id is not None]
    assert "受理工单4件" in summary.text and "96.5%" in summary.text
    assert chart.room_id == "town@chatroom" and chart.attachment is not None
    assert chart.attachment.data.startswith(b"\x89PNG")
    # the town officials get a private copy of both
    [text, image] = [r for r in replies if r.room_id is None]
    assert text.contact_id == image.contact_id == contact(town.town_official)
    assert text.text == summary.text and image.attachment == chart.attachment


def test_the_town_officials_get_the_monthly_summary_without_a_town_group(
    engine: Engine, settings: Settings, town: Town
) -> None:
    _month(engine, settings, town)
    with session_scope(engine) as session:
        replies = run_monthly(session, settings, datetime(2026, 12, 1, 1, 0, tzinfo=UTC))
    assert replies is not None
    assert [(r.contact_id, r.attachment is not None) for r in replies] == [
        (contact(town.town_official), False),
        (contact(town.town_official), True),
    ]
    assert replies[0].text.startswith("【月结 2026-11】国欢镇")


def test_report_month_cli(
    engine: Engine, settings: Settings, town: Town, tmp_path: Path, db_url: str
) -> None:
    from gridcast.cli import main

    _month(engine, settings, town)
    config = tmp_path / "cli.yaml"
    config.write_text(f"database:\n  url: '{db_url}'\n", encoding="utf-8")
    xlsx, png = tmp_path / "r.xlsx", tmp_path / "r.png"
    result = CliRunner().invoke(
        main,
        [
            "report",
            "month",
            "2026-11",
            "--village",
            "国欢村",
            "--xlsx",
            str(xlsx),
            "--png",
            str(png),
            "--config",
            str(config),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "受理工单4件" in result.output
    assert load_workbook(xlsx)["月报"]["A3"].value == "国欢村"
    assert png.read_bytes().startswith(b"\x89PNG")


def test_cadence_run_by_hand_once_then_again(
    engine: Engine, settings: Settings, town: Town, tmp_path: Path, db_url: str
) -> None:
    """A period that ran (at a start's catch-up, say) is not repeated by hand unless
    --again, and the refusal says when it ran."""
    from gridcast.cli import main

    config = tmp_path / "cli.yaml"
    config.write_text(f"database:\n  url: '{db_url}'\n", encoding="utf-8")
    run = ["cadence", "run", "daily", "--config", str(config)]
    first = CliRunner().invoke(main, run)
    assert first.exit_code == 0 and "条消息已排队" in first.output, first.output
    refused = CliRunner().invoke(main, run)
    assert refused.exit_code == 0 and "已在" in refused.output and "--again" in refused.output
    again = CliRunner().invoke(main, [*run, "--again"])
    assert again.exit_code == 0 and "再运行一次" in again.output and "条消息已排队" in again.output
    with Session(engine) as session:
        assert len(session.exec(select(CadenceRun)).all()) == 1
