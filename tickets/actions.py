"""Staff commands and reporters' ratings on one ticket: 接单, 办结, 上报, 吹哨, 改派, 延期,
备注, 退单, 报到, and 满意 / 基本满意 / 不满意.

The ticket is locked (:func:`tickets.rows.lock_ticket`), the lifecycle decides, and the
new view, its event and the notifications come back; a refusal changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from core.config import Settings
from core.messaging import Reply
from models.enums import Role, TicketState
from models.org import OrgUnit
from models.tickets import Ticket, TicketReporter
from orgtree import directory
from orgtree.directory import PostHolder
from tickets.actors import WORKER_ROLES, actors_of, lifecycle_role, notification_replies
from tickets.briefs import department_brief
from tickets.commands import RateCommand, ReassignCommand, TicketCommand
from tickets.configured import lifecycle_rules, sla_policy
from tickets.errors import AmbiguousPerson, PersonNotFound
from tickets.lifecycle import (
    Action,
    Actor,
    Notification,
    Reassign,
    RecipientKind,
    Rules,
    TicketView,
    Transition,
    TransitionRefused,
    Whistle,
    apply,
)
from tickets.rows import id_text, lock_ticket, record_event, reporter_ids, store_view, ticket_view

__all__ = ["ActOutcome", "act", "rate"]

_STAFF_ROLES = WORKER_ROLES | {Role.TOWN_OFFICIAL, Role.STATION_CHIEF, Role.GRID_LEADER}
"""Roster roles that can hold a ticket (the targets of 改派)."""


@dataclass(frozen=True, slots=True)
class ActOutcome:
    """A command applied: the answer to the actor and the messages for everyone else."""

    code: str
    reply: str
    replies: tuple[Reply, ...]
    state: TicketState


def _apply_as(
    view: TicketView,
    attempts: Sequence[tuple[Actor, Action]],
    now: datetime,
    rules: Rules,
) -> tuple[Actor, Transition]:
    """Apply with the first of the sender's posts that is allowed to; when none is,
    refuse with the reason given to the most senior post."""
    refusals: list[TransitionRefused] = []
    for actor, action in attempts:
        try:
            return actor, apply(view, action, actor, now, rules=rules)
        except TransitionRefused as refused:
            refusals.append(refused)
    raise refusals[0]


def act(
    *,
    session: Session,
    settings: Settings,
    command: TicketCommand | ReassignCommand,
    actor_contact_id: str,
    actor_name: str,
    now: datetime,
    mention_ids: Sequence[str] = (),
) -> ActOutcome:
    """A staff command (接单, 办结, 上报, 吹哨, 改派, 延期, 备注, 退单, 报到) on one ticket.

    Raises :class:`TicketNotFound`, :class:`PersonNotFound` / :class:`AmbiguousPerson`
    (改派) or :class:`~tickets.lifecycle.TransitionRefused`; nothing changes then."""
    row = lock_ticket(session, command.code)
    assert row.id is not None
    view = ticket_view(row, reporter_ids(session, row.id))
    actors = actors_of(session, settings, contact_id=actor_contact_id, name=actor_name)
    if isinstance(command, ReassignCommand):
        action: Action = _reassign_action(
            session, view, command, mention_ids=[m for m in mention_ids if m != actor_contact_id]
        )
    else:
        action = command.action
    return _apply_and_store(session, settings, row, view, [(a, action) for a in actors], now)


def _apply_and_store(
    session: Session,
    settings: Settings,
    row: Ticket,
    view: TicketView,
    attempts: Sequence[tuple[Actor, Action]],
    now: datetime,
) -> ActOutcome:
    actor, step = _apply_as(view, attempts, now, lifecycle_rules(settings.tickets))
    person = directory.person_by_contact(session, actor.person_id)
    store_view(session, row, step.ticket, policy=sla_policy(settings.tickets), now=now)
    record_event(session, row, step.event, actor=actor, person_id=person.id if person else None)
    notifications = list(step.notifications)
    if step.event.kind == Whistle.kind:
        # The department gets the whole case, not only the code (吹哨 with what to act on).
        session.flush()
        notifications = [
            Notification(
                n.recipient, department_brief(session, settings, row, step.ticket, heading=n.text)
            )
            if n.recipient.kind is RecipientKind.DEPARTMENT
            else n
            for n in notifications
        ]
    replies = notification_replies(session, settings, notifications, skip=[actor.person_id])
    return ActOutcome(row.code, step.reply, tuple(replies), step.ticket.state)


def _reassign_action(
    session: Session,
    view: TicketView,
    command: ReassignCommand,
    *,
    mention_ids: Sequence[str],
) -> Reassign:
    """改派 T… @某人: find the staff member and the post they would hold the ticket in."""
    name = command.target_name.lstrip("@").strip()
    options = _staff_options(session, view)
    mentioned = [o for o in options if o[1].contact_id in mention_ids]
    by_name = [o for o in options if o[1].name == name]
    candidates = [o for o in mentioned if o[1].name == name] or by_name or mentioned
    if not candidates:
        raise PersonNotFound(
            f"没有找到可以承办工单的工作人员「{name}」。改派只能派给网格员、网格长、"
            f"网格站站长或镇综治中心人员，请核对姓名。正确写法：改派 {view.code} @某人"
        )
    best_rank = min(rank for rank, _, _, _ in candidates)
    best = [o for o in candidates if o[0] == best_rank]
    people = {holder.person_id for _, holder, _, _ in best}
    if len(people) > 1:
        raise AmbiguousPerson(
            f"有{len(people)}位叫「{name}」的工作人员，请在群里@对方，或请镇综治中心改派。"
        )
    _, holder, grid_id, village_id = best[0]
    return Reassign(
        to_person_id=holder.contact_id,
        to_name=holder.name,
        to_role=lifecycle_role(holder.role),
        to_grid_id=grid_id if grid_id and grid_id != view.grid_id else None,
        to_village_id=village_id if village_id and village_id != view.village_id else None,
        note=command.note,
    )


def _staff_options(session: Session, view: TicketView) -> list[tuple[int, PostHolder, str, str]]:
    """Every (preference, staff member, grid id, village id) a ticket could go to; lower
    preference first: the ticket's grid, its village, the town, elsewhere."""
    options: list[tuple[int, PostHolder, str, str]] = []
    for holder in directory.holders(session, roles=_STAFF_ROLES):
        role = holder.role
        unit = session.get(OrgUnit, holder.org_unit_id)
        if unit is None:
            continue
        if role is Role.TOWN_OFFICIAL:
            options.append((2, holder, "", ""))
            continue
        if role is Role.STATION_CHIEF:
            village = str(unit.id)
            options.append((1 if village == view.village_id else 3, holder, "", village))
            continue
        grid = directory.grid_of(session, unit)
        if grid is None:
            continue
        grid_id, village_id = str(grid.id), id_text(grid.parent_id)
        rank = 0 if grid_id == view.grid_id else 1 if village_id == view.village_id else 3
        options.append((rank, holder, grid_id, village_id))
    return options


def rate(
    *,
    session: Session,
    settings: Settings,
    command: RateCommand,
    contact_id: str,
    name: str,
    now: datetime,
) -> ActOutcome | None:
    """满意 / 基本满意 / 不满意 from a reporter. Without a code, the sender's ticket that
    waits for their rating (the most recently resolved); ``None`` when there is none
    (the message is then an ordinary one)."""
    code = command.code or _awaiting_rating(session, contact_id)
    if code is None:
        return None
    row = lock_ticket(session, code)
    assert row.id is not None
    view = ticket_view(row, reporter_ids(session, row.id))
    actors = actors_of(session, settings, contact_id=contact_id, name=name)
    return _apply_and_store(
        session, settings, row, view, [(a, command.action()) for a in actors], now
    )


def _awaiting_rating(session: Session, contact_id: str) -> str | None:
    rows = session.exec(
        select(Ticket)
        .join(TicketReporter, col(TicketReporter.ticket_id) == col(Ticket.id))
        .where(
            TicketReporter.contact_id == contact_id,
            col(Ticket.state).in_([TicketState.RESOLVED, TicketState.RATING]),
        )
        .order_by(col(Ticket.resolved_at).desc(), col(Ticket.id).desc())
    ).all()
    for row in rows:
        if not any(pid == contact_id for pid, _ in row.round_ratings):
            return row.code
    return None
