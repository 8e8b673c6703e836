"""Personal data: export and erasure of a person keep the statistics; old texts are
redacted after the retention period; every use is in the audit trail."""

from __future__ import annotations

from datetime import timedelta

from click.testing import CliRunner
from sqlalchemy import Engine
from sqlmodel import Session, select

from core.config import Settings
from gridcast.cli import main
from models.auth import AuditEntry
from models.db import session_scope
from models.enums import TicketState
from models.tickets import IntakeMessage, Ticket, TicketCreate, TicketEvent, TicketReporter
from tests.tickets.helpers import T0, Town
from tickets.one_stop import create_ticket
from tickets.personal_data import (
    ERASED_NAME,
    REDACTED_TEXT,
    erase_person,
    export_person,
    redact_expired,
)
from tickets.stats import ticket_stats

PHONE = "13912345678"


def file_two(engine: Engine, settings: Settings) -> tuple[str, str]:
    codes = []
    with session_scope(engine) as session:
        for text, phone, name in (
            ("3栋楼下的下水道堵了好几天了，臭死了，我住3栋502", PHONE, "王阿姨"),
            ("村口路灯坏了一个星期", "13800009999", "李先生"),
        ):
            outcome = create_ticket(
                session=session,
                settings=settings,
                ticket_in=TicketCreate(
                    unit_path="国欢村/第1网格/洋中1号片区",
                    text=text,
                    reporter_name=name,
                    reporter_phone=phone,
                ),
                now=T0,
            )
            codes.append(outcome.ticket_code or "")
    return codes[0], codes[1]


def stats_json(engine: Engine, settings: Settings) -> dict[str, object]:
    with Session(engine) as session:
        return ticket_stats(session=session, now=T0 + timedelta(days=1)).to_json()


def test_export_and_erase_keep_the_statistics(
    engine: Engine, settings: Settings, town: Town
) -> None:
    mine, other = file_two(engine, settings)
    before = stats_json(engine, settings)
    with session_scope(engine) as session:
        exported = export_person(session, PHONE)
    assert [t["code"] for t in exported["tickets"]] == [mine]
    assert exported["tickets"][0]["phone"] == PHONE and "502" in exported["tickets"][0]["text"]
    assert exported["messages"] and exported["messages"][0]["name"] == "王阿姨"

    with session_scope(engine) as session:
        erasure = erase_person(session, PHONE)
    assert erasure.ticket_codes == [mine] and erasure.messages == 1
    with Session(engine) as session:
        reporters = {r.ticket_id: r for r in session.exec(select(TicketReporter))}
        tickets = {t.code: t for t in session.exec(select(Ticket))}
        messages = list(session.exec(select(IntakeMessage)))
    gone = reporters[tickets[mine].id]
    assert (gone.name, gone.phone) == (ERASED_NAME, None) and PHONE not in gone.contact_id
    assert "502" not in tickets[mine].text
    assert tickets[other].text.startswith("村口路灯")
    assert not any(PHONE in m.sender_contact_id or "502" in m.text for m in messages)
    # The tickets and every figure stay.
    assert tickets[mine].category and tickets[mine].state is not None
    assert stats_json(engine, settings) == before
    with session_scope(engine) as session:
        again = export_person(session, "13800009999")
    assert len(again["tickets"]) == 1


def test_cli_person_commands_are_audited(
    engine: Engine, settings: Settings, town: Town, tmp_path: object
) -> None:
    file_two(engine, settings)
    env = {"GRIDCAST_DATA_DIR": str(settings.data_dir)}
    args = ["--config", _config(settings, tmp_path)]
    runner = CliRunner()
    exported = runner.invoke(main, ["person", "export", PHONE, *args], env=env)
    assert exported.exit_code == 0, exported.output
    assert PHONE in exported.output
    erased = runner.invoke(main, ["person", "erase", PHONE, "--yes", *args], env=env)
    assert erased.exit_code == 0, erased.output
    unknown = runner.invoke(main, ["person", "export", "13700000000", *args], env=env)
    assert unknown.exit_code != 0 and "没有" in unknown.output
    with Session(engine) as session:
        actions = [e.action for e in session.exec(select(AuditEntry))]
    assert actions.count("person.export") == 1 and actions.count("person.erase") == 1


def _config(settings: Settings, tmp_path: object) -> str:
    from pathlib import Path

    path = Path(str(tmp_path)) / "config.yaml"
    path.write_text(
        f'data_dir: {settings.data_dir}\ndatabase:\n  url: "{settings.database_url}"\n',
        encoding="utf-8",
    )
    return str(path)


def test_old_texts_are_redacted_from_closed_tickets(
    engine: Engine, settings: Settings, town: Town
) -> None:
    closed, still_open = file_two(engine, settings)
    with session_scope(engine) as session:
        row = session.exec(select(Ticket).where(Ticket.code == closed)).one()
        row.state, row.closed_at = TicketState.CLOSED, T0 + timedelta(days=2)
        session.add(row)
    with session_scope(engine) as session:
        assert (
            redact_expired(session, retention=timedelta(days=180), now=T0 + timedelta(days=100))
            == 0
        )
    with session_scope(engine) as session:
        assert (
            redact_expired(session, retention=timedelta(days=180), now=T0 + timedelta(days=200))
            == 1
        )
    with Session(engine) as session:
        tickets = {t.code: t for t in session.exec(select(Ticket))}
        texts = {m.ticket_id: m.text for m in session.exec(select(IntakeMessage))}
    assert tickets[closed].text == REDACTED_TEXT and texts[tickets[closed].id] == REDACTED_TEXT
    assert tickets[still_open].text.startswith("村口路灯")
    assert tickets[closed].category and tickets[closed].closed_at is not None


def test_erase_leaves_nothing_with_their_name_phone_or_contact_id(
    engine: Engine, settings: Settings, town: Town
) -> None:
    """Probe B3: the timeline (ticket_event), the refusal log and the rest held the
    resident after an erase. Every table is read back (the audit trail excepted: it is
    append-only, and the database refuses to rewrite it)."""
    from sqlmodel import SQLModel

    from models.broadcast import Notice, NoticeAttempt, Receipt
    from models.chat import ChatGroup, UnreachableContact
    from models.households import HouseholdConfirmation
    from models.rhythm import CallBack
    from models.tickets import TicketEvent, TicketOutbox

    mine, _other = file_two(engine, settings)
    with session_scope(engine) as session:
        ticket = session.exec(select(Ticket).where(Ticket.code == mine)).one()
        reporter = session.exec(
            select(TicketReporter).where(TicketReporter.ticket_id == ticket.id)
        ).one()
        contact = reporter.contact_id
        assert ticket.id is not None
        session.add(
            TicketEvent(
                ticket_id=ticket.id,
                kind="rate",
                actor_id=contact,
                actor_role="resident",
                actor_name="王阿姨",
                at=T0,
                to_state=ticket.state,
                to_level=ticket.level,
                note=f"满意，谢谢，有事打{PHONE}",
            )
        )
        session.add(
            NoticeAttempt(
                contact_id=contact, name="王阿姨", text="#通知 全村 停水", reason="no post"
            )
        )
        session.add(
            CallBack(
                period="2026-06-10",
                ticket_id=ticket.id,
                contact_id=contact,
                asked_at=T0,
                answer="还没修好",
            )
        )
        session.add(
            TicketOutbox(
                ticket_id=ticket.id,
                room_id="unit-room",
                mention_ids=[contact],
                text="@王阿姨 您反映的问题已受理",
            )
        )
        session.add(TicketOutbox(ticket_id=ticket.id, contact_id=contact, text="您的工单已办结"))
        session.add(UnreachableContact(contact_id=contact, name="王阿姨", held=["您的工单已办结"]))
        # A 收到 to a notice in her unit's group, and a 已通知 claim she made.
        notice = Notice(
            code="N0001",
            title="停水通知",
            body="明天停水",
            scope_org_unit_id=ticket.unit_id,
            levels=["unit"],
            issuer_name="林文荣",
        )
        group = ChatGroup(
            room_id="unit-room-erase", topic="洋中1号片区", org_unit_id=ticket.unit_id
        )
        session.add(notice)
        session.add(group)
        session.flush()
        assert notice.id is not None and group.id is not None
        session.add(
            Receipt(
                notice_id=notice.id,
                chat_group_id=group.id,
                contact_id=contact,
                name="王阿姨",
                text="收到",
            )
        )
        session.add(
            HouseholdConfirmation(
                notice_id=notice.id,
                org_unit_id=ticket.unit_id,
                contact_id=contact,
                name="王阿姨",
                role="resident",
                reached=3,
                channel="chat",
                text="已通知 3户",
            )
        )
    with Session(engine) as session:
        events = session.exec(select(TicketEvent).where(TicketEvent.actor_id == contact)).all()
    assert any(e.actor_name == "王阿姨" for e in events)  # the timeline names her

    with session_scope(engine) as session:
        erasure = erase_person(session, PHONE)

    left: list[tuple[str, str]] = []
    with Session(engine) as session:
        for table in SQLModel.metadata.sorted_tables:
            if table.name == "audit_entry":
                continue
            for row in session.execute(select(table)).all():
                text = repr(tuple(row))
                for needle in ("王阿姨", PHONE, contact, "住3栋502"):
                    if needle in text:
                        left.append((table.name, needle))
    assert left == []
    assert erasure.other_rows >= 8


def test_erase_takes_their_follow_up_out_of_someone_elses_ticket(
    engine: Engine, settings: Settings, town: Town
) -> None:
    """A 补充 to a ticket another resident reported first is their words too."""
    from tests.tickets.flows import MIN, file, new_code, ticket

    code = new_code(engine, settings, town)
    words = f"{code} 我是7楼的张伯，水已经漫到单元门口了，电话13700001111"
    added = file(engine, settings, words, "resident-7", unit_id=town.unit_id, now=T0 + 10 * MIN)
    before = ticket(engine, code).text
    assert added.ticket_code == code and "13700001111" in before
    with session_scope(engine) as session:
        erase_person(session, "resident-7")
    row = ticket(engine, code)
    assert "13700001111" not in row.text and "张伯" not in row.text
    assert row.text.split("\n")[0] == before.split("\n")[0]  # the first report stays


def test_erase_takes_them_out_of_the_ticket_timeline(
    engine: Engine, settings: Settings, town: Town
) -> None:
    """Probe B3 as it was found: a resident's chat report, erased; the 流转记录 still
    named them (受理 by the resident)."""
    from tests.tickets.flows import new_code
    from tickets.queries import ticket_detail

    code = new_code(engine, settings, town)
    with Session(engine) as session:
        before = ticket_detail(session=session, settings=settings, code=code, now=T0)
    assert before.events[0]["kind"] == "create" and before.events[0]["actor"] == "居民"
    with session_scope(engine) as session:
        erase_person(session, "resident-1")
    with Session(engine) as session:
        after = ticket_detail(session=session, settings=settings, code=code, now=T0)
        actor_ids = [e.actor_id for e in session.exec(select(TicketEvent))]
    assert "resident-1" not in actor_ids
    assert after.events[0]["actor"] == ERASED_NAME
