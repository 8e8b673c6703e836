"""Issue 11: a long message makes a good ticket; follow-ups add to the open ticket."""

from __future__ import annotations

from sqlalchemy import Engine

from core.config import Settings
from models.tickets import IntakeKind
from tests.tickets.flows import MIN, events, file, new_code, ticket
from tests.tickets.helpers import T0, Town

LETTER = (
    "标题：开元路与延福路交叉口的路灯和垃圾问题\n内容：尊敬的领导：您好！我是开元路的居民。"
    "开元路与延福路交叉口这几个问题希望能一起解决：一是路口西北角的两盏路灯坏了快一个月，"
    "晚上路口一片漆黑，井盖也松动了；二是路口的垃圾桶满了好几天没人清运，垃圾堆在地上臭气熏天，"
    "苍蝇成堆。请有关部门尽快处理，谢谢！"
)


def test_a_letter_becomes_one_ticket_with_its_title_full_text_and_secondary_categories(
    engine: Engine, settings: Settings, town: Town
) -> None:
    outcome = file(engine, settings, LETTER, "resident-1", unit_id=town.unit_id)
    assert outcome.kind is IntakeKind.TICKET and outcome.ticket_code
    row = ticket(engine, outcome.ticket_code)
    assert row.title == "开元路与延福路交叉口的路灯和垃圾问题"
    assert row.text == LETTER  # the full text is kept
    assert {row.category, *row.secondary_categories} >= {"infrastructure", "sanitation"}
    assert "另涉及" in outcome.receipt
    brief = next(r.text for r in outcome.replies if r.contact_id is not None)
    assert "标题：开元路与延福路交叉口的路灯和垃圾问题" in brief and "另涉及" in brief


def test_a_reply_naming_the_ticket_code_adds_to_it(
    engine: Engine, settings: Settings, town: Town
) -> None:
    code = new_code(engine, settings, town)
    reply = file(
        engine, settings, f"{code} 现在水已经漫到单元门口了", "resident-1",
        unit_id=town.unit_id, now=T0 + 10 * MIN,
    )  # fmt: skip
    assert reply.kind is IntakeKind.DUPLICATE and reply.ticket_code == code
    assert "补充" in reply.receipt
    row = ticket(engine, code)
    assert row.follow_up_count == 1 and "现在水已经漫到单元门口了" in row.text
    assert events(engine, code)[-1] == "follow_up"


def test_a_follow_up_from_the_same_resident_in_the_same_unit_adds_to_the_ticket(
    engine: Engine, settings: Settings, town: Town
) -> None:
    code = new_code(engine, settings, town)
    again = file(
        engine, settings, "补充一下：刚才说的下水道，污水已经流到路上了，小孩都踩到了",
        "resident-1", unit_id=town.unit_id, now=T0 + 30 * MIN,
    )  # fmt: skip
    assert again.kind is IntakeKind.DUPLICATE and again.ticket_code == code
    assert ticket(engine, code).follow_up_count == 1
    other = file(
        engine, settings, "补充一下：我家门口的路灯也坏了好几天了", "resident-9",
        unit_id=town.unit_id, now=T0 + 40 * MIN,
    )  # fmt: skip
    assert other.ticket_code != code  # another resident: not their follow-up
