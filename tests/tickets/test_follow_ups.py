"""Issue 11: a long message makes a good ticket; follow-ups add to the open ticket."""

from __future__ import annotations

from sqlalchemy import Engine

from core.config import Settings
from models.enums import Urgency
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


STREET_LIGHT = "小区门口的路灯坏了"


def test_regression_an_emergency_is_not_added_to_an_older_ticket_that_is_not_urgent(
    engine: Engine, settings: Settings, town: Town
) -> None:
    """Probe item E1: 还有，3楼有人晕倒了 sank into a street-light ticket at 2 h."""
    code = new_code(engine, settings, town, STREET_LIGHT)
    urgent = file(
        engine, settings, "还有，3楼有人晕倒了，快来人", "resident-1",
        unit_id=town.unit_id, now=T0 + 10 * MIN,
    )  # fmt: skip
    assert urgent.kind is IntakeKind.TICKET and urgent.ticket_code not in (None, code)
    assert urgent.receipt.startswith("【紧急】")
    assert urgent.ticket_code is not None
    row = ticket(engine, urgent.ticket_code)
    assert row.urgency is Urgency.URGENT
    assert row.first_accept_due_at == T0 + 10 * MIN + settings.tickets.sla.urgent.accept
    old = ticket(engine, code)
    assert old.urgency is Urgency.NORMAL and old.follow_up_count == 0
    assert "晕倒" not in old.text


def test_regression_an_urgent_report_of_the_same_category_opens_its_own_urgent_ticket(
    engine: Engine, settings: Settings, town: Town
) -> None:
    """The same resident, the same category (市政设施), but an emergency: not 您已反映过."""
    code = new_code(engine, settings, town, STREET_LIGHT)
    sewer = file(
        engine, settings, "楼下的下水道堵了，污水漫出来了", "resident-1",
        unit_id=town.unit_id, now=T0 + 10 * MIN,
    )  # fmt: skip
    assert sewer.kind is IntakeKind.TICKET and sewer.ticket_code != code
    assert sewer.ticket_code is not None
    assert ticket(engine, sewer.ticket_code).urgency is Urgency.URGENT
    # Another resident's urgent report of it joins the urgent ticket, not the street light.
    again = file(
        engine, settings, "楼下下水道堵了污水漫出来了", "resident-2",
        unit_id=town.unit_id, now=T0 + 12 * MIN,
    )  # fmt: skip
    assert again.kind is IntakeKind.DUPLICATE and again.ticket_code == sewer.ticket_code


def test_regression_an_urgent_reply_naming_a_ticket_that_is_not_urgent_is_its_own_ticket(
    engine: Engine, settings: Settings, town: Town
) -> None:
    code = new_code(engine, settings, town, STREET_LIGHT)
    reply = file(
        engine, settings, f"{code} 还有，3楼有人晕倒了，快来人", "resident-1",
        unit_id=town.unit_id, now=T0 + 10 * MIN,
    )  # fmt: skip
    assert reply.kind is IntakeKind.TICKET and reply.ticket_code != code
    assert ticket(engine, code).follow_up_count == 0


def test_regression_a_follow_up_about_another_clear_category_is_its_own_ticket(
    engine: Engine, settings: Settings, town: Town
) -> None:
    """还有 after a street light, about rubbish (环境卫生): a new problem, a new ticket."""
    code = new_code(engine, settings, town, STREET_LIGHT)
    rubbish = file(
        engine, settings, "还有，楼道里堆满了垃圾没人清理", "resident-1",
        unit_id=town.unit_id, now=T0 + 10 * MIN,
    )  # fmt: skip
    assert rubbish.kind is IntakeKind.TICKET and rubbish.ticket_code != code
    assert rubbish.ticket_code is not None
    assert ticket(engine, rubbish.ticket_code).category == "sanitation"
    assert ticket(engine, code).follow_up_count == 0
    # Of the same category it still goes on the ticket.
    more = file(
        engine, settings, "补充一下：路灯那里晚上一片漆黑，老人走路不方便", "resident-1",
        unit_id=town.unit_id, now=T0 + 20 * MIN,
    )  # fmt: skip
    assert more.kind is IntakeKind.DUPLICATE and more.ticket_code == code
    assert ticket(engine, code).follow_up_count == 1


def test_an_urgent_follow_up_adds_to_an_urgent_ticket(
    engine: Engine, settings: Settings, town: Town
) -> None:
    first = file(engine, settings, "楼下的下水道堵了，污水漫出来了", "resident-1",
                 unit_id=town.unit_id)  # fmt: skip
    assert first.ticket_code is not None
    again = file(
        engine, settings, "刚才说的下水道，现在水漫进一楼家里了，老人被困在屋里出不来",
        "resident-1", unit_id=town.unit_id, now=T0 + 10 * MIN,
    )  # fmt: skip
    assert again.kind is IntakeKind.DUPLICATE and again.ticket_code == first.ticket_code
    assert ticket(engine, first.ticket_code).follow_up_count == 1
