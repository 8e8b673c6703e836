"""Group messages: every one stored, acknowledgements and chat passed on, floods limited."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import Session, select

from core.config import Settings
from models.tickets import (
    IntakeKind,
    IntakeMessage,
    Ticket,
)
from tests.tickets.flows import MIN, file
from tests.tickets.helpers import T0, Town, with_tickets


def test_acknowledgements_and_chat_are_stored_not_ticketed(
    engine: Engine, settings: Settings, town: Town
) -> None:
    outcomes = [
        file(engine, settings, text, "r1", unit_id=town.unit_id)
        for text in ("收到", "今天天气不错出去走走", "😀😀", "[图片]", "啊" * 5000)
    ]
    assert [o.kind for o in outcomes] == [
        IntakeKind.ACKNOWLEDGEMENT,
        *[IntakeKind.NOT_TICKET] * 4,
    ]
    assert all(o.replies == () for o in outcomes)
    with Session(engine) as session:
        assert len(session.exec(select(IntakeMessage)).all()) == 5
        assert session.exec(select(Ticket)).all() == []


def test_flood_limit_gives_one_notice_and_keeps_every_message(
    engine: Engine, settings: Settings, town: Town
) -> None:
    settings = with_tickets(settings, flood_limit_per_hour=2)
    texts = [
        "3栋楼下的下水道堵了好几天了，臭死了",
        "楼上邻居天天半夜装修吵死了",
        "小区门口垃圾好几天没人清理了",
        "路灯坏了一个星期了晚上黑乎乎的",
    ]
    outcomes = [
        file(engine, settings, text, "r1", unit_id=town.unit_id, now=T0 + i * MIN)
        for i, text in enumerate(texts)
    ]
    assert [o.kind for o in outcomes] == [
        IntakeKind.TICKET,
        IntakeKind.TICKET,
        IntakeKind.FLOODED,
        IntakeKind.FLOODED,
    ]
    notice = outcomes[2].replies[0]
    assert "一小时内已反映了2个问题" in notice.text and notice.mention_ids == ("r1",)
    assert town.grid_leader.phone not in notice.text
    assert outcomes[3].replies == ()
    # An urgent report is never held back; another resident is not affected.
    urgent = file(engine, settings, "3栋楼道里着火了冒烟了快来人", "r1", unit_id=town.unit_id)
    assert urgent.kind is IntakeKind.TICKET
    other = file(engine, settings, texts[2], "r2", unit_id=town.unit_id, now=T0 + 5 * MIN)
    assert other.kind is IntakeKind.TICKET
    # An hour later the resident files again.
    later = file(engine, settings, texts[3], "r1", unit_id=town.unit_id, now=T0 + 61 * MIN)
    assert later.kind is IntakeKind.TICKET
    with Session(engine) as session:
        kept = session.exec(
            select(IntakeMessage.text).where(IntakeMessage.sender_contact_id == "r1")
        ).all()
    assert len(kept) == 6
