"""月结: the report's numbers against a hand-built month, the XLSX and the chart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner
from openpyxl import load_workbook
from sqlalchemy import Engine
from sqlmodel import select

from core.config import Settings
from models.db import session_scope
from models.enums import Rating, TicketLevel, TicketState
from models.rhythm import CadenceRun
from models.tickets import IntakeKind, Ticket
from rhythm.monthly import monthly_report, render_png, run_monthly, write_xlsx
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
    path = tmp_path / "m.xlsx"
    write_xlsx(report, path)
    sheet = load_workbook(path)["月报"]
    header = [c.value for c in sheet[2]]
    town_row = dict(zip(header, [c.value for c in sheet[3]], strict=True))
    assert town_row["受理"] == 4 and town_row["办结"] == 3 and town_row["化解矛盾纠纷"] == 2
    assert abs(town_row["镇内化解率"] - 2 / 3) < 1e-9 and town_row["文章目标"] == 0.965
    assert render_png(report).startswith(b"\x89PNG")


def test_monthly_cadence_posts_a_chart_once_and_nothing_on_an_empty_month(
    engine: Engine, settings: Settings, town: Town
) -> None:
    first_of_month = datetime(2026, 11, 1, 1, 0, tzinfo=UTC)  # October: empty
    with session_scope(engine) as session:
        assert run_monthly(session, settings, first_of_month) == []
        assert run_monthly(session, settings, first_of_month) is None
    _month(engine, settings, town)
    from models.chat import ChatGroup
    from models.enums import Level
    from models.org import OrgUnit

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
