"""Tickets at every stage and the people who act on them, for the lifecycle tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from models.enums import ActorRole, Rating, Urgency
from tickets.lifecycle import (
    SYSTEM,
    Accept,
    Action,
    Actor,
    Dispatch,
    Escalate,
    Rate,
    Recipient,
    Remark,
    Report,
    Resolve,
    Return,
    TicketView,
    Transition,
    TransitionRefused,
    Whistle,
    apply,
    new_ticket,
)

CODE = "T20261130-0012"

NOW = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)
GRID, OTHER_GRID = "grid-16", "grid-17"
VILLAGE, OTHER_VILLAGE = "huangxia", "xinhan"
UNIT = "unit-3"

reporter = Actor("r1", ActorRole.RESIDENT, "林女士")
neighbour = Actor("r2", ActorRole.RESIDENT, "林先生")
stranger = Actor("r9", ActorRole.RESIDENT, "路人")
unit_leader = Actor("u1", ActorRole.UNIT_LEADER, "郭单元长", unit_ids=frozenset({UNIT}))
grid_leader = Actor("g1", ActorRole.GRID_LEADER, "张三", grid_ids=frozenset({GRID}))
other_grid_leader = Actor("g2", ActorRole.GRID_LEADER, "李四", grid_ids=frozenset({OTHER_GRID}))
worker = Actor("w1", ActorRole.GRID_WORKER, "王五", grid_ids=frozenset({GRID}))
chief = Actor("s1", ActorRole.STATION_CHIEF, "陈书记", village_ids=frozenset({VILLAGE}))
other_chief = Actor("s2", ActorRole.STATION_CHIEF, "黄书记", village_ids=frozenset({OTHER_VILLAGE}))
town = Actor("o1", ActorRole.TOWN_OFFICIAL, "黄主任")
town2 = Actor("o2", ActorRole.TOWN_OFFICIAL, "吴科长")
justice = Actor("d1", ActorRole.DEPARTMENT_LIAISON, "郑律师", department_code="justice")
housing = Actor("d2", ActorRole.DEPARTMENT_LIAISON, "蔡工", department_code="housing")

WHISTLE_JUSTICE = Whistle("justice", "区司法局", "邻里纠纷需调解")
EVERYONE = (
    SYSTEM,
    reporter,
    neighbour,
    stranger,
    unit_leader,
    grid_leader,
    other_grid_leader,
    worker,
    chief,
    other_chief,
    town,
    town2,
    justice,
    housing,
)


# ------------------------------------------------------------------- factories


def received(urgency: Urgency = Urgency.NORMAL) -> TicketView:
    return new_ticket(
        code=CODE,
        now=NOW,
        urgency=urgency,
        unit_id=UNIT,
        grid_id=GRID,
        village_id=VILLAGE,
        reporter_id=reporter.person_id,
    )


def run(ticket: TicketView, *steps: tuple[Action, Actor]) -> TicketView:
    for action, actor in steps:
        ticket = apply(ticket, action, actor, NOW).ticket
    return ticket


def dispatched() -> TicketView:
    return run(received(), (Dispatch("g1", "张三", ActorRole.GRID_LEADER), SYSTEM))


def accepted() -> TicketView:
    return run(dispatched(), (Accept(), grid_leader))


def in_progress() -> TicketView:
    return run(accepted(), (Remark("已到现场查看"), grid_leader))


def resolved(ticket: TicketView | None = None) -> TicketView:
    return run(ticket or in_progress(), (Resolve("已疏通下水道"), grid_leader))


def at_village() -> TicketView:
    return run(accepted(), (Escalate("涉及两个网格"), grid_leader))


def at_town() -> TicketView:
    return run(at_village(), (Escalate("村里协调不了"), chief))


def whistled() -> TicketView:
    return run(accepted(), (WHISTLE_JUSTICE, grid_leader))


def reported() -> TicketView:
    return run(whistled(), (Report(), justice))


def closed() -> TicketView:
    return run(resolved(), (Rate(Rating.SATISFIED), reporter))


def returned() -> TicketView:
    return run(dispatched(), (Return("不属于本网格"), grid_leader))


def reopened() -> TicketView:
    return run(resolved(), (Rate(Rating.UNSATISFIED), reporter))


def refused(ticket: TicketView, action: Action, actor: Actor, *fragments: str) -> str:
    before = ticket
    with pytest.raises(TransitionRefused) as info:
        apply(ticket, action, actor, NOW)
    assert ticket == before
    for fragment in fragments:
        assert fragment in info.value.reason, info.value.reason
    return info.value.reason


def recipients(transition: Transition) -> list[Recipient]:
    return [n.recipient for n in transition.notifications]


__all__ = [
    "CODE",
    "EVERYONE",
    "GRID",
    "LATER",
    "NOW",
    "OTHER_GRID",
    "OTHER_VILLAGE",
    "UNIT",
    "VILLAGE",
    "WHISTLE_JUSTICE",
    "accepted",
    "at_town",
    "at_village",
    "chief",
    "closed",
    "dispatched",
    "grid_leader",
    "housing",
    "in_progress",
    "justice",
    "neighbour",
    "other_chief",
    "other_grid_leader",
    "received",
    "recipients",
    "refused",
    "reopened",
    "reported",
    "reporter",
    "resolved",
    "returned",
    "run",
    "stranger",
    "town",
    "town2",
    "unit_leader",
    "whistled",
    "worker",
]
