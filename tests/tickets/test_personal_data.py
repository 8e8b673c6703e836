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
from models.tickets import IntakeMessage, Ticket, TicketCreate, TicketReporter
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
