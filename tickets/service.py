"""Tickets as data: intake, one-stop intake, commands, queries and timers.

Data functions are synchronous, take keyword-only arguments including the ``session``
and ``now``, never commit (the caller's transaction does: ``session_scope`` in the CLI,
``run_in_session`` in the server) and never send anything: what people must be told
comes back as :class:`~bot.dispatcher.Reply` objects for the caller to post.

Identity: the lifecycle's person ids are WeChat contact ids (``bot.store.contact_id_of``
for people of the roster, the sender's id for residents, ``tel-<phone>`` for a phone
caller, ``offline-…`` for a walk-in without a phone, who gets no messages). Org unit
ids appear in :class:`~tickets.lifecycle.TicketView` as strings.

Concurrency: every change to a ticket starts with ``UPDATE ticket SET version =
version + 1`` (:func:`_lock_ticket`): on PostgreSQL that takes the row lock, on SQLite
the database write lock, so two people acting on one ticket at once are applied one
after the other and never overwrite each other. Codes come from a per-day counter row
updated in the same transaction (:func:`allocate_code`).
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from core.clock import local_day
from core.config import Settings, TicketSettings
from core.ids import format_ticket_code
from core.messaging import Reply
from core.privacy import mask_phone, mask_phones_in_text
from models.enums import ActorRole, Level, Rating, Role, TicketLevel, TicketState, Urgency
from models.org import OrgUnit, Person, RoleAssignment
from models.tickets import (
    IntakeKind,
    IntakeMessage,
    Ticket,
    TicketChannel,
    TicketCodeSequence,
    TicketCreate,
    TicketOutbox,
    TicketPublic,
    TicketReporter,
)
from models.tickets import TicketEvent as TicketEventRow
from orgtree.directory import contact_id_of
from orgtree.service import OrgPathNotFound, resolve_path
from tickets.commands import (
    RateCommand,
    ReassignCommand,
    TicketCommand,
    match_department,
)
from tickets.intake import ParsedMessage, Parser, parser_for
from tickets.lifecycle import (
    AWAITING_ACCEPTANCE,
    LEVEL_ZH,
    OPEN_STATES,
    ROLE_ZH,
    STATE_ZH,
    SYSTEM,
    Action,
    Actor,
    AddReporter,
    Dispatch,
    Notification,
    Reassign,
    Recipient,
    RecipientKind,
    Rules,
    TicketView,
    Transition,
    TransitionRefused,
    apply,
    describe,
    ensure_can_view,
    format_local_time,
    holder_label,
    holder_recipient,
    new_ticket,
)
from tickets.lifecycle import TicketEvent as LifecycleEvent
from tickets.sla import SlaPolicy, SlaWindow, deadlines_for, next_wakeup, run_due

__all__ = [
    "ActOutcome",
    "AmbiguousPerson",
    "IntakeOutcome",
    "PersonNotFound",
    "TicketDetail",
    "TicketError",
    "TicketNotFound",
    "UnitNotFound",
    "act",
    "allocate_code",
    "create_ticket",
    "due_ticket_codes",
    "fire_timers",
    "intake",
    "lifecycle_rules",
    "list_tickets",
    "log_message",
    "my_tickets",
    "query",
    "queue_replies",
    "rate",
    "refresh_timer_schedule",
    "similarity",
    "sla_policy",
    "take_outbox",
    "ticket_detail",
    "ticket_view",
]

MAX_PRIVATE_TEXT = 500
"""The original text is cut to this many characters in private notices."""
FLOOD_PERIOD = timedelta(hours=1)


# --------------------------------------------------------------------------- errors


class TicketError(Exception):
    """A ticket request that cannot be done; ``message`` is Chinese and shown as is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TicketNotFound(TicketError):
    def __init__(self, code: str) -> None:
        super().__init__(f"没有找到工单{code}，请核对编号（如 T20261130-0012）。")
        self.code = code


class UnitNotFound(TicketError):
    """The org unit of a one-stop intake does not exist."""


class PersonNotFound(TicketError):
    """改派 names nobody who can hold a ticket."""


class AmbiguousPerson(TicketError):
    """改派 names several staff members."""


# ------------------------------------------------------------------ configuration


def sla_policy(settings: TicketSettings) -> SlaPolicy:
    """The SLA policy of ``tickets.sla`` and ``tickets.rating_timeout``."""
    sla = settings.sla
    return SlaPolicy(
        urgent=SlaWindow(sla.urgent.accept, sla.urgent.resolve),
        normal=SlaWindow(sla.normal.accept, sla.normal.resolve),
        remind_fraction=sla.remind_before,
        rating_window=settings.rating_timeout,
    )


def lifecycle_rules(settings: TicketSettings) -> Rules:
    return Rules(
        max_extensions=settings.max_extensions, max_extension_days=settings.max_extension_days
    )


def _category_name(settings: Settings, code: str) -> str:
    for category in settings.tickets.categories:
        if category.code == code:
            return category.name
    return code


def _category_department_name(settings: Settings, code: str) -> str:
    department = next((c.department for c in settings.tickets.categories if c.code == code), None)
    for configured in settings.departments:
        if configured.code == department:
            return configured.name
    return settings.departments[0].name if settings.departments else "区司法局"


# ---------------------------------------------------------------------- similarity

_FILLER = frozenset("了的吗呢啊吧呀哦嘛啦哈都又还很太也就是在有我你他她们这那个")


def _bigrams(text: str) -> set[str]:
    chars = "".join(c for c in re.sub(r"[\W_]", "", text.casefold()) if c not in _FILLER)
    if len(chars) < 2:
        return {chars} if chars else set()
    return {chars[i : i + 2] for i in range(len(chars) - 1)}


def similarity(a: str, b: str) -> float:
    """How alike two reports are, 0-1: the overlap coefficient of their character bigrams
    (shared bigrams / bigrams of the shorter text), ignoring punctuation and particles.

    The overlap coefficient rather than Jaccard, because a second report of the same
    problem is usually much shorter than the first ("3栋下水道又堵了").
    """
    grams_a, grams_b = _bigrams(a), _bigrams(b)
    if not grams_a or not grams_b:
        return 0.0
    return len(grams_a & grams_b) / min(len(grams_a), len(grams_b))


def _locations_conflict(a: str | None, b: str | None) -> bool:
    """Two known locations that are not the same place (3栋 vs 5栋)."""
    if not a or not b:
        return False
    return a not in b and b not in a


# ----------------------------------------------------------------------- directory


@dataclass(frozen=True, slots=True)
class _Holder:
    """A person who can be told something or hold a ticket."""

    person_id: int
    contact_id: str
    name: str
    phone: str
    role: Role

    @property
    def label(self) -> str:
        return f"{self.role.label}{self.name}"


_STAFF_ORG_ROLES = frozenset(
    {
        Role.TOWN_OFFICIAL,
        Role.STATION_CHIEF,
        Role.GRID_LEADER,
        Role.GRID_WORKER,
        Role.SUNK_CADRE,
        Role.PARTY_MEMBER,
    }
)
_WORKER_ORG_ROLES = frozenset({Role.GRID_WORKER, Role.SUNK_CADRE, Role.PARTY_MEMBER})
_ACTOR_ORDER = (
    ActorRole.TOWN_OFFICIAL,
    ActorRole.STATION_CHIEF,
    ActorRole.GRID_LEADER,
    ActorRole.DEPARTMENT_LIAISON,
    ActorRole.GRID_WORKER,
    ActorRole.UNIT_LEADER,
)


def _person_by_contact(session: Session, contact_id: str) -> Person | None:
    """The roster person behind a contact id (as ``bot.store.sender_info`` finds them)."""
    person = session.exec(select(Person).where(Person.wechat_id == contact_id)).first()
    if person is None and contact_id.startswith("tel-"):
        person = session.exec(select(Person).where(Person.phone == contact_id[4:])).first()
    return person


class _Directory:
    """Who is who, read from the org tree (one per transaction, with small caches)."""

    def __init__(self, session: Session, settings: Settings) -> None:
        self.session = session
        self.settings = settings
        self._units: dict[int, OrgUnit | None] = {}

    def unit(self, unit_id: int | None) -> OrgUnit | None:
        if unit_id is None:
            return None
        if unit_id not in self._units:
            self._units[unit_id] = self.session.get(OrgUnit, unit_id)
        return self._units[unit_id]

    def person_by_contact(self, contact_id: str) -> Person | None:
        return _person_by_contact(self.session, contact_id)

    def _holders(self, roles: Iterable[Role], unit_id: int | None = None) -> list[_Holder]:
        statement = (
            select(RoleAssignment.role, Person)
            .join(Person, col(Person.id) == col(RoleAssignment.person_id))
            .where(col(RoleAssignment.role).in_(list(roles)))
            .order_by(col(RoleAssignment.id))
        )
        if unit_id is not None:
            statement = statement.where(RoleAssignment.org_unit_id == unit_id)
        out: list[_Holder] = []
        for role, person in self.session.exec(statement):
            assert person.id is not None
            out.append(
                _Holder(person.id, contact_id_of(person), person.name, person.phone, Role(role))
            )
        return out

    def grid_leaders(self, grid_id: int) -> list[_Holder]:
        return self._holders([Role.GRID_LEADER], grid_id)

    def station_chiefs(self, village_id: int) -> list[_Holder]:
        return self._holders([Role.STATION_CHIEF], village_id)

    def town_officials(self) -> list[_Holder]:
        """The town officials who receive ticket notices: those of the 综治 office when
        titles say so, otherwise all of them."""
        rows = self.session.exec(
            select(RoleAssignment.title, Person)
            .join(Person, col(Person.id) == col(RoleAssignment.person_id))
            .where(RoleAssignment.role == Role.TOWN_OFFICIAL)
            .order_by(col(RoleAssignment.id))
        ).all()
        holders = [
            (
                title or "",
                _Holder(p.id or 0, contact_id_of(p), p.name, p.phone, Role.TOWN_OFFICIAL),
            )
            for title, p in rows
        ]
        office = [h for title, h in holders if "综治" in title]
        return office or [h for _, h in holders]

    def department_code(self, name: str | None) -> str | None:
        """The configured department a liaison's ``department`` field names."""
        if not name:
            return None
        found = match_department(name, self.settings.departments)
        if found is not None:
            return found.code
        return next((d.code for d in self.settings.departments if d.code == name), None)

    def liaisons(self, department_code: str) -> list[_Holder]:
        rows = self.session.exec(
            select(RoleAssignment.department, Person)
            .join(Person, col(Person.id) == col(RoleAssignment.person_id))
            .where(RoleAssignment.role == Role.DEPARTMENT_LIAISON)
            .order_by(col(RoleAssignment.id))
        ).all()
        return [
            _Holder(p.id or 0, contact_id_of(p), p.name, p.phone, Role.DEPARTMENT_LIAISON)
            for department, p in rows
            if self.department_code(department) == department_code
        ]

    def grid_of(self, unit: OrgUnit) -> OrgUnit | None:
        if unit.level is Level.GRID:
            return unit
        if unit.level is Level.UNIT:
            return self.unit(unit.parent_id)
        return None

    def actors(self, contact_id: str, name: str) -> list[Actor]:
        """Every post the sender holds, most senior first, then the sender as a resident
        (reporters who are also staff rate their own tickets)."""
        resident = Actor(person_id=contact_id, role=ActorRole.RESIDENT, name=name)
        person = self.person_by_contact(contact_id)
        if person is None or person.id is None:
            return [resident]
        name = person.name
        assignments = self.session.exec(
            select(RoleAssignment).where(RoleAssignment.person_id == person.id)
        ).all()
        grids: dict[ActorRole, set[str]] = {
            ActorRole.GRID_LEADER: set(),
            ActorRole.GRID_WORKER: set(),
        }
        villages: set[str] = set()
        units: set[str] = set()
        departments: list[str] = []
        town = False
        for assignment in assignments:
            role = Role(assignment.role)
            unit = self.unit(assignment.org_unit_id)
            if role is Role.TOWN_OFFICIAL:
                town = True
            elif role is Role.STATION_CHIEF:
                villages.add(str(assignment.org_unit_id))
            elif role is Role.GRID_LEADER:
                grids[ActorRole.GRID_LEADER].add(str(assignment.org_unit_id))
            elif role in _WORKER_ORG_ROLES and unit is not None:
                grid = self.grid_of(unit)
                if grid is not None:
                    grids[ActorRole.GRID_WORKER].add(str(grid.id))
            elif role in (Role.UNIT_LEADER, Role.SECOND_UNIT_LEADER):
                units.add(str(assignment.org_unit_id))
            elif role is Role.DEPARTMENT_LIAISON:
                code = self.department_code(assignment.department)
                if code is not None:
                    departments.append(code)
        actors: list[Actor] = []
        for post in _ACTOR_ORDER:
            if post is ActorRole.TOWN_OFFICIAL and town:
                actors.append(Actor(contact_id, post, name))
            elif post is ActorRole.STATION_CHIEF and villages:
                actors.append(Actor(contact_id, post, name, village_ids=frozenset(villages)))
            elif post in (ActorRole.GRID_LEADER, ActorRole.GRID_WORKER) and grids[post]:
                actors.append(Actor(contact_id, post, name, grid_ids=frozenset(grids[post])))
            elif post is ActorRole.DEPARTMENT_LIAISON:
                actors.extend(
                    Actor(contact_id, post, name, department_code=code)
                    for code in dict.fromkeys(departments)
                )
            elif post is ActorRole.UNIT_LEADER and units:
                actors.append(Actor(contact_id, post, name, unit_ids=frozenset(units)))
        return [*actors, dataclasses.replace(resident, name=name)]

    # --- recipients -------------------------------------------------------------------

    def post_holders(self, level: TicketLevel | None, area_id: str | None) -> list[_Holder]:
        """Holders of a post; an empty post falls back to the next one up, so a notice
        is never addressed to nobody."""
        if level is TicketLevel.GRID and area_id:
            holders = self.grid_leaders(int(area_id))
            if holders:
                return holders
            grid = self.unit(int(area_id))
            if grid is not None and grid.parent_id is not None:
                return self.post_holders(TicketLevel.VILLAGE, str(grid.parent_id))
        if level is TicketLevel.VILLAGE and area_id:
            holders = self.station_chiefs(int(area_id))
            if holders:
                return holders
        return self.town_officials()

    def contacts_of(self, recipient: Recipient) -> list[str]:
        match recipient.kind:
            case RecipientKind.PERSON:
                return [recipient.person_id] if recipient.person_id else []
            case RecipientKind.POST:
                return [h.contact_id for h in self.post_holders(recipient.level, recipient.area_id)]
            case RecipientKind.DEPARTMENT:
                holders = self.liaisons(recipient.department_code or "")
                return [h.contact_id for h in holders or self.town_officials()]
        return []  # pragma: no cover


def _reachable(contact_id: str) -> bool:
    """Walk-ins without a phone have no WeChat to write to."""
    return not contact_id.startswith("offline-")


def _notification_replies(
    directory: _Directory, notifications: Iterable[Notification], *, skip: Iterable[str] = ()
) -> list[Reply]:
    """Private messages for the notifications (the actor, who got the reply, is skipped)."""
    skipped = set(skip)
    replies: list[Reply] = []
    seen: set[tuple[str, str]] = set()
    for notification in notifications:
        for contact_id in directory.contacts_of(notification.recipient):
            key = (contact_id, notification.text)
            if contact_id in skipped or key in seen or not _reachable(contact_id):
                continue
            seen.add(key)
            replies.append(Reply(text=notification.text, contact_id=contact_id))
    return replies


# -------------------------------------------------------------------- ticket rows


def _id_text(value: int | None) -> str:
    return "" if value is None else str(value)


def _id_int(value: str) -> int | None:
    return int(value) if value else None


def _reporter_ids(session: Session, ticket_id: int) -> tuple[str, ...]:
    rows = session.exec(
        select(TicketReporter.contact_id)
        .where(TicketReporter.ticket_id == ticket_id)
        .order_by(col(TicketReporter.id))
    )
    return tuple(rows)


def ticket_view(row: Ticket, reporter_ids: Sequence[str]) -> TicketView:
    """The lifecycle's view of a stored ticket."""
    return TicketView(
        code=row.code,
        state=row.state,
        level=row.level,
        urgency=row.urgency,
        unit_id=str(row.unit_id),
        grid_id=_id_text(row.grid_id),
        village_id=_id_text(row.village_id),
        reporter_ids=tuple(reporter_ids),
        created_at=row.created_at,
        window_started_at=row.window_started_at,
        window=row.sla_window,
        assignee_id=row.assignee_contact_id,
        assignee_name=row.assignee_name,
        assignee_role=row.assignee_role,
        department_code=row.department_code,
        department_name=row.department_name,
        whistled_from=row.whistled_from,
        accepted_at=row.accepted_at,
        resolved_at=row.resolved_at,
        resolved_level=row.resolved_level,
        closed_at=row.closed_at,
        extension_count=row.extension_count,
        extended_days=row.extended_days,
        reopen_count=row.reopen_count,
        ratings=tuple((pid, Rating(score)) for pid, score in row.round_ratings),
        rating=row.rating,
        fired_timers=frozenset(row.fired_timers),
    )


def _store_view(
    row: Ticket, view: TicketView, *, directory: _Directory, policy: SlaPolicy, now: datetime
) -> None:
    """Write every field of ``view`` into ``row`` and schedule its next timer."""
    if view.assignee_id != row.assignee_contact_id:
        person = directory.person_by_contact(view.assignee_id) if view.assignee_id else None
        row.assignee_person_id = person.id if person is not None else None
    row.state, row.level, row.urgency = view.state, view.level, view.urgency
    row.unit_id = int(view.unit_id)
    row.grid_id, row.village_id = _id_int(view.grid_id), _id_int(view.village_id)
    row.assignee_contact_id = view.assignee_id
    row.assignee_name, row.assignee_role = view.assignee_name, view.assignee_role
    row.department_code, row.department_name = view.department_code, view.department_name
    row.whistled_from = view.whistled_from
    row.sla_window, row.window_started_at = view.window, view.window_started_at
    row.accepted_at = view.accepted_at
    if view.accepted_at is not None and row.first_accepted_at is None:
        row.first_accepted_at = view.accepted_at
    row.resolved_at, row.resolved_level, row.closed_at = (
        view.resolved_at,
        view.resolved_level,
        view.closed_at,
    )
    row.extension_count, row.extended_days = view.extension_count, view.extended_days
    row.reopen_count = view.reopen_count
    row.round_ratings = [[pid, score.value] for pid, score in view.ratings]
    row.rating = view.rating
    row.fired_timers = sorted(view.fired_timers)
    row.next_timer_at = next_wakeup(view, policy)
    row.updated_at = now


def _record_event(
    session: Session,
    row: Ticket,
    event: LifecycleEvent,
    *,
    actor: Actor,
    person_id: int | None = None,
    note: str | None = None,
) -> None:
    assert row.id is not None
    session.add(
        TicketEventRow(
            ticket_id=row.id,
            kind=event.kind,
            actor_id=event.actor_id,
            actor_person_id=person_id,
            actor_name=actor.name,
            actor_role=event.actor_role,
            at=event.at,
            from_state=event.from_state,
            to_state=event.to_state,
            from_level=event.from_level,
            to_level=event.to_level,
            note=_storable(event.note if note is None else note),
        )
    )


def _lock_ticket(session: Session, code: str) -> Ticket:
    """The ticket, locked for this transaction (see the module docstring)."""
    result = session.exec(
        update(Ticket).where(col(Ticket.code) == code).values(version=col(Ticket.version) + 1)
    )
    if result.rowcount == 0:
        raise TicketNotFound(code)
    return session.exec(
        select(Ticket).where(Ticket.code == code).execution_options(populate_existing=True)
    ).one()


def _load_ticket(session: Session, code: str) -> Ticket:
    row = session.exec(select(Ticket).where(Ticket.code == code)).first()
    if row is None:
        raise TicketNotFound(code)
    return row


def allocate_code(session: Session, now: datetime) -> str:
    """The next ticket code of ``now``'s local day; safe under concurrency (the counter
    row stays locked until the transaction ends)."""
    day = local_day(now)
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.exec(insert(TicketCodeSequence).values(day=day, last=0).on_conflict_do_nothing())
    seq = session.exec(
        update(TicketCodeSequence)
        .where(col(TicketCodeSequence.day) == day)
        .values(last=col(TicketCodeSequence.last) + 1)
        .returning(col(TicketCodeSequence.last))
    ).scalar_one()
    return format_ticket_code(now, int(seq))


# ------------------------------------------------------------------------- intake


@dataclass(frozen=True, slots=True)
class IntakeOutcome:
    """What became of one message: its kind, the ticket, and what to post."""

    kind: IntakeKind
    replies: tuple[Reply, ...] = ()
    ticket_code: str | None = None
    receipt: str = ""
    """The answer to the reporter (also the first reply when it goes to a group)."""


@dataclass(frozen=True, slots=True)
class _Reporter:
    contact_id: str
    name: str
    person_id: int | None = None
    phone: str | None = None
    room_id: str | None = None
    channel: TicketChannel = TicketChannel.CHAT


def log_message(
    *,
    session: Session,
    kind: IntakeKind,
    text: str,
    sender_contact_id: str,
    sender_name: str,
    now: datetime,
    message_id: str | None = None,
    room_id: str | None = None,
    org_unit_id: int | None = None,
    parsed: ParsedMessage | None = None,
    ticket_id: int | None = None,
    channel: TicketChannel = TicketChannel.CHAT,
) -> IntakeMessage:
    """Store one message read by the ticket router (every message is kept)."""
    sender = _person_by_contact(session, sender_contact_id)
    row = IntakeMessage(
        message_id=message_id,
        channel=channel,
        room_id=room_id,
        org_unit_id=org_unit_id,
        sender_contact_id=sender_contact_id,
        sender_person_id=sender.id if sender is not None else None,
        sender_name=_storable(sender_name[:64]),
        text=_storable(text),
        kind=kind,
        is_ticket=parsed.is_ticket if parsed is not None else False,
        category=parsed.category if parsed is not None else None,
        urgency=Urgency(parsed.urgency) if parsed is not None and parsed.urgency else None,
        location=_storable(parsed.location) if parsed and parsed.location else None,
        parse_reason=parsed.reason if parsed is not None else None,
        ticket_id=ticket_id,
        received_at=now,
    )
    session.add(row)
    session.flush()
    return row


def configured_parser(settings: Settings) -> Parser:
    """The intake parser with the category keywords of config.yaml."""
    return parser_for(
        tuple((c.code, tuple(c.keywords)) for c in settings.tickets.categories if c.keywords)
    )


def message_seen(session: Session, message_id: str) -> bool:
    """Was this WeChat message already handled (another account, or a redelivery)?"""
    found = session.exec(
        select(IntakeMessage.id).where(IntakeMessage.message_id == message_id)
    ).first()
    return found is not None


def intake(
    *,
    session: Session,
    settings: Settings,
    text: str,
    sender_contact_id: str,
    sender_name: str,
    room_id: str | None,
    org_unit_id: int,
    now: datetime,
    message_id: str | None = None,
    parsed: ParsedMessage | None = None,
    raw_text: str | None = None,
) -> IntakeOutcome:
    """A message in a bound group: store it, and open a ticket, join an open one, or
    answer the flood notice. Acknowledgements and chat come back as ``NOT_TICKET`` /
    ``ACKNOWLEDGEMENT`` with no replies, for the next router.

    ``text`` is what intake reads (the dispatcher's text, @mentions removed); ``raw_text``
    is what is stored in the message log (the message as sent), ``text`` by default."""
    parsed = parsed or configured_parser(settings).parse(text)
    log = log_message(
        session=session,
        kind=IntakeKind.NOT_TICKET,
        text=text if raw_text is None else raw_text,
        sender_contact_id=sender_contact_id,
        sender_name=sender_name,
        now=now,
        message_id=message_id,
        room_id=room_id,
        org_unit_id=org_unit_id,
        parsed=parsed,
    )
    if parsed.is_acknowledgement:
        log.kind = IntakeKind.ACKNOWLEDGEMENT
        return IntakeOutcome(IntakeKind.ACKNOWLEDGEMENT)
    if not parsed.is_ticket or parsed.category is None:
        return IntakeOutcome(IntakeKind.NOT_TICKET)
    directory = _Directory(session, settings)
    person = directory.person_by_contact(sender_contact_id)
    reporter = _Reporter(
        contact_id=sender_contact_id,
        name=person.name if person is not None else sender_name,
        person_id=person.id if person is not None else None,
        room_id=room_id,
    )
    urgency = Urgency(parsed.urgency or Urgency.NORMAL)
    if urgency is not Urgency.URGENT:
        flood = _flood_notice(session, settings, directory, reporter, org_unit_id, now)
        if flood is not None:
            log.kind = IntakeKind.FLOODED
            replies = (Reply(flood, room_id=room_id, mention_ids=(sender_contact_id,)),)
            return IntakeOutcome(IntakeKind.FLOODED, replies if flood else (), receipt=flood)
    outcome = _file(
        session=session,
        settings=settings,
        directory=directory,
        reporter=reporter,
        text=text,
        category=parsed.category,
        urgency=urgency,
        location=parsed.location,
        org_unit_id=org_unit_id,
        now=now,
    )
    log.kind = outcome.kind
    log.ticket_id = outcome.ticket_id
    group_reply = Reply(outcome.receipt, room_id=room_id, mention_ids=(sender_contact_id,))
    return IntakeOutcome(
        outcome.kind, (group_reply, *outcome.replies), outcome.code, outcome.receipt
    )


def _flood_notice(
    session: Session,
    settings: Settings,
    directory: _Directory,
    reporter: _Reporter,
    org_unit_id: int,
    now: datetime,
) -> str | None:
    """``None`` when under the limit; the notice text the first time over it in the
    hour; ``""`` when the notice was already given (stay quiet)."""
    since = now - FLOOD_PERIOD
    kinds = session.exec(
        select(IntakeMessage.kind).where(
            IntakeMessage.sender_contact_id == reporter.contact_id,
            col(IntakeMessage.received_at) > since,
            col(IntakeMessage.kind).in_(
                [IntakeKind.TICKET, IntakeKind.DUPLICATE, IntakeKind.FLOODED]
            ),
        )
    ).all()
    filed = sum(1 for kind in kinds if kind is not IntakeKind.FLOODED)
    if filed < settings.tickets.flood_limit_per_hour:
        return None
    if IntakeKind.FLOODED in kinds:
        return ""
    unit = directory.unit(org_unit_id)
    grid = directory.grid_of(unit) if unit is not None else None
    leaders = directory.grid_leaders(grid.id) if grid is not None and grid.id else []
    contact = f"网格长{leaders[0].name}" if leaders else "村网格站"
    return (
        f"您一小时内已反映了{filed}个问题，我们都已登记，工作人员会统一查看处理。"
        f"接下来一小时内的留言会保存下来，但不再逐条登记工单；"
        f"如情况紧急，请直接联系{contact}，或拨打110、119。"
    )


@dataclass(frozen=True, slots=True)
class _Filed:
    kind: IntakeKind
    code: str
    ticket_id: int | None
    receipt: str
    replies: tuple[Reply, ...]


def _file(
    *,
    session: Session,
    settings: Settings,
    directory: _Directory,
    reporter: _Reporter,
    text: str,
    category: str,
    urgency: Urgency,
    location: str | None,
    org_unit_id: int,
    now: datetime,
) -> _Filed:
    """Join an open duplicate or open a new ticket."""
    unit = directory.unit(org_unit_id)
    if unit is None or unit.id is None:
        raise UnitNotFound(f"组织单元{org_unit_id}不存在。")
    grid_id, village_id = _area(directory, unit)
    duplicate = _find_duplicate(
        session,
        settings,
        grid_id=grid_id,
        village_id=village_id,
        unit_id=unit.id,
        category=category,
        text=text,
        location=location,
        now=now,
    )
    if duplicate is not None:
        joined = _join(session, settings, directory, duplicate, reporter, text, now)
        if joined is not None:
            return joined
    return _open(
        session,
        settings,
        directory,
        reporter=reporter,
        text=text,
        category=category,
        urgency=urgency,
        location=location,
        unit=unit,
        grid_id=grid_id,
        village_id=village_id,
        now=now,
    )


def _area(directory: _Directory, unit: OrgUnit) -> tuple[int | None, int | None]:
    """(grid id, village id) of an org unit; ``None`` above its level."""
    match unit.level:
        case Level.UNIT:
            grid = directory.unit(unit.parent_id)
            return unit.parent_id, grid.parent_id if grid is not None else None
        case Level.GRID:
            return unit.id, unit.parent_id
        case Level.VILLAGE:
            return None, unit.id
    return None, None


def _find_duplicate(
    session: Session,
    settings: Settings,
    *,
    grid_id: int | None,
    village_id: int | None,
    unit_id: int,
    category: str,
    text: str,
    location: str | None,
    now: datetime,
) -> Ticket | None:
    """The open ticket of the same area and category, filed within the duplicate window,
    whose text is most alike (at least ``tickets.duplicate_similarity``)."""
    statement = select(Ticket).where(
        Ticket.category == category,
        col(Ticket.state).in_(list(OPEN_STATES)),
        col(Ticket.created_at) >= now - settings.tickets.duplicate_window,
    )
    if grid_id is not None:
        statement = statement.where(Ticket.grid_id == grid_id)
    elif village_id is not None:
        statement = statement.where(Ticket.village_id == village_id, col(Ticket.grid_id).is_(None))
    else:
        statement = statement.where(Ticket.unit_id == unit_id)
    best: tuple[float, Ticket] | None = None
    for candidate in session.exec(statement.order_by(col(Ticket.id))):
        if _locations_conflict(location, candidate.location):
            continue
        score = similarity(text, candidate.text)
        if location and candidate.location:
            score += 0.2  # the same place named in both
        if score >= settings.tickets.duplicate_similarity and (best is None or score > best[0]):
            best = (score, candidate)
    return best[1] if best is not None else None


def _join(
    session: Session,
    settings: Settings,
    directory: _Directory,
    duplicate: Ticket,
    reporter: _Reporter,
    text: str,
    now: datetime,
) -> _Filed | None:
    """Add the reporter to an open ticket; ``None`` if it can no longer take reporters."""
    row = _lock_ticket(session, duplicate.code)
    assert row.id is not None
    view = ticket_view(row, _reporter_ids(session, row.id))
    if row.state not in OPEN_STATES:
        return None  # closed since we looked: file a new ticket
    try:
        step = apply(view, AddReporter(reporter.contact_id), SYSTEM, now)
    except TransitionRefused as refused:
        # The same resident again: tell them it is in hand, file nothing new.
        receipt = (
            f"{refused.reason}目前由{holder_label(view)}负责，查询进度请发送「查询 {row.code}」。"
        )
        return _Filed(IntakeKind.DUPLICATE, row.code, row.id, receipt, ())
    _add_reporter(session, row, reporter, now)
    _store_view(row, step.ticket, directory=directory, policy=sla_policy(settings.tickets), now=now)
    _record_event(session, row, step.event, actor=SYSTEM, note=f"追加反映人{reporter.name}")
    count = len(step.ticket.reporter_ids)
    receipt = (
        f"您反映的问题与工单{row.code}是同一问题，已将您登记为该工单的反映人（共{count}人反映），"
        f"目前由{holder_label(view)}负责，处理结果会一并通知您。查询进度请发送「查询 {row.code}」。"
    )
    notice = Notification(
        holder_recipient(view),
        f"工单{row.code}又有居民反映（共{count}人）：{_cut(text)}",
    )
    replies = _notification_replies(directory, [notice], skip=[reporter.contact_id])
    return _Filed(IntakeKind.DUPLICATE, row.code, row.id, receipt, tuple(replies))


def _add_reporter(session: Session, row: Ticket, reporter: _Reporter, now: datetime) -> None:
    assert row.id is not None
    session.add(
        TicketReporter(
            ticket_id=row.id,
            contact_id=reporter.contact_id,
            person_id=reporter.person_id,
            name=_storable(reporter.name[:64]),
            phone=reporter.phone,
            unit_id=row.unit_id,
            room_id=reporter.room_id,
            channel=reporter.channel,
            reported_at=now,
        )
    )


def _storable(text: str) -> str:
    """Text as it can be stored on every backend (PostgreSQL refuses NUL characters)."""
    return text.replace("\x00", "\ufffd")


def _cut(text: str, limit: int = MAX_PRIVATE_TEXT) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + "…"


def _open(
    session: Session,
    settings: Settings,
    directory: _Directory,
    *,
    reporter: _Reporter,
    text: str,
    category: str,
    urgency: Urgency,
    location: str | None,
    unit: OrgUnit,
    grid_id: int | None,
    village_id: int | None,
    now: datetime,
) -> _Filed:
    """受理 and 派单: a new ticket with its code, routed to the grid leader."""
    assert unit.id is not None
    policy = sla_policy(settings.tickets)
    code = allocate_code(session, now)
    view = new_ticket(
        code=code,
        now=now,
        urgency=urgency,
        unit_id=str(unit.id),
        grid_id=_id_text(grid_id),
        village_id=_id_text(village_id),
        reporter_id=reporter.contact_id,
    )
    start = (
        TicketLevel.GRID
        if grid_id is not None
        else TicketLevel.VILLAGE
        if village_id
        else TicketLevel.TOWN
    )
    view = dataclasses.replace(view, level=start)
    row = Ticket(
        code=code,
        state=view.state,
        level=view.level,
        category=category,
        urgency=urgency,
        location=_storable(location) if location else None,
        channel=reporter.channel,
        text=_storable(text),
        unit_id=unit.id,
        origin_room_id=reporter.room_id,
        created_at=now,
        window_started_at=now,
        first_accept_due_at=now + policy.window_for(urgency).accept,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    _add_reporter(session, row, reporter, now)
    channel_zh = {
        TicketChannel.CHAT: "群聊",
        TicketChannel.PHONE: "电话",
        TicketChannel.WALK_IN: "来访",
        TicketChannel.WEB: "网上",
    }[reporter.channel]
    _record_event(
        session,
        row,
        LifecycleEvent(
            kind="create",
            actor_id=reporter.contact_id,
            actor_role=ActorRole.RESIDENT,
            at=now,
            from_state=TicketState.RECEIVED,
            to_state=TicketState.RECEIVED,
            from_level=view.level,
            to_level=view.level,
            note=f"{channel_zh}受理：{_category_name(settings, category)}",
        ),
        actor=Actor(reporter.contact_id, ActorRole.RESIDENT, reporter.name),
        person_id=reporter.person_id,
    )
    holder = _route_target(directory, view)
    if holder is not None:
        step = apply(
            view,
            Dispatch(holder.contact_id, holder.name, _lifecycle_role(holder.role)),
            SYSTEM,
            now,
        )
        _record_event(session, row, step.event, actor=SYSTEM)
        view = step.ticket
        recipients = [holder.contact_id]
    else:
        view = dataclasses.replace(view, level=TicketLevel.TOWN)
        recipients = [h.contact_id for h in directory.town_officials()]
    _store_view(row, view, directory=directory, policy=policy, now=now)
    accept_by = deadlines_for(view, policy).accept_by
    urgent = "【紧急】" if urgency is Urgency.URGENT else ""
    who = f"{holder.label}（{mask_phone(holder.phone)}）" if holder is not None else "镇综治中心"
    receipt = (
        f"{urgent}您反映的问题已受理，工单编号：{code}（{_category_name(settings, category)}）。"
        f"负责人：{who}，将在{format_local_time(accept_by)}前响应。"
        f"查询进度请发送「查询 {code}」。"
    )
    brief = _new_ticket_brief(
        settings, directory, row=row, view=view, reporter=reporter, accept_by=accept_by
    )
    replies = tuple(
        Reply(brief, contact_id=contact_id)
        for contact_id in dict.fromkeys(recipients)
        if contact_id != reporter.contact_id
    )
    return _Filed(IntakeKind.TICKET, code, row.id, receipt, replies)


def _lifecycle_role(role: Role) -> ActorRole:
    return {
        Role.GRID_LEADER: ActorRole.GRID_LEADER,
        Role.STATION_CHIEF: ActorRole.STATION_CHIEF,
        Role.TOWN_OFFICIAL: ActorRole.TOWN_OFFICIAL,
        Role.DEPARTMENT_LIAISON: ActorRole.DEPARTMENT_LIAISON,
        Role.UNIT_LEADER: ActorRole.UNIT_LEADER,
        Role.SECOND_UNIT_LEADER: ActorRole.UNIT_LEADER,
    }.get(role, ActorRole.GRID_WORKER)


def _route_target(directory: _Directory, view: TicketView) -> _Holder | None:
    """Who a new ticket goes to: the grid leader, else the station chief; ``None`` means
    the town's officials (a town-group message, or nobody holds the posts below)."""
    if view.level is TicketLevel.GRID and view.grid_id:
        leaders = directory.grid_leaders(int(view.grid_id))
        if leaders:
            return leaders[0]
    if view.village_id:
        chiefs = directory.station_chiefs(int(view.village_id))
        if chiefs:
            return chiefs[0]
    return None


def _unit_path(directory: _Directory, unit_id: int) -> str:
    unit = directory.unit(unit_id)
    if unit is None:
        return ""
    return unit.path.split("/", 1)[1] if "/" in unit.path else unit.path


def _new_ticket_brief(
    settings: Settings,
    directory: _Directory,
    *,
    row: Ticket,
    view: TicketView,
    reporter: _Reporter,
    accept_by: datetime,
) -> str:
    """The private message to whoever must accept a new ticket: what, where, and how to act."""
    code = row.code
    urgent = "【紧急】" if row.urgency is Urgency.URGENT else ""
    contact = reporter.name
    if reporter.phone:
        contact += f"，电话{reporter.phone}"  # private, to the one who must call back
    lines = [
        f"{urgent}【新工单】{code}（{_category_name(settings, row.category)}）",
        f"来源：{_unit_path(directory, row.unit_id)}",
        f"反映人：{contact}",
        f"位置：{row.location or '未说明'}",
        f"内容：{_cut(row.text)}",
        f"请在{format_local_time(accept_by)}前签收。回复指令处理：",
        f"接单 {code}",
        f"办结 {code} 处理结果",
        f"上报 {code} 上报原因",
        f"吹哨 {code} {_category_department_name(settings, row.category)}",
        f"改派 {code} @某人",
        f"延期 {code} 3天 延期原因",
        f"退单 {code} 退单原因",
    ]
    return "\n".join(lines)


# -------------------------------------------------------------- one-stop intake


def create_ticket(
    *, session: Session, settings: Settings, ticket_in: TicketCreate, now: datetime
) -> IntakeOutcome:
    """一站受理: a phone call or walk-in, through the same pipeline as a group message
    (parse, duplicate merge, code, routing). Returns the receipt to read to the caller
    and the private messages for the staff; queue those with :func:`queue_replies` when
    not in the bot process. Raises :class:`UnitNotFound`, :class:`TicketError`."""
    directory = _Directory(session, settings)
    try:
        unit = resolve_path(session, ticket_in.unit_path, town=settings.town.name)
    except OrgPathNotFound as exc:
        raise UnitNotFound(str(exc)) from None
    assert unit.id is not None
    text = ticket_in.text.strip()
    parsed = configured_parser(settings).parse(text)
    category = ticket_in.category or parsed.category or "other"
    if category not in {c.code for c in settings.tickets.categories}:
        known = "、".join(f"{c.code}（{c.name}）" for c in settings.tickets.categories)
        raise TicketError(f"未知的类别「{category}」。可选：{known}")
    urgency = ticket_in.urgency or Urgency(parsed.urgency or Urgency.NORMAL)
    phone = re.sub(r"\D", "", ticket_in.reporter_phone or "") or None
    person = session.exec(select(Person).where(Person.phone == phone)).first() if phone else None
    if person is not None:
        contact_id = contact_id_of(person)
    elif phone:
        contact_id = f"tel-{phone}"
    else:
        contact_id = f"offline-{uuid.uuid4().hex[:12]}"
    reporter = _Reporter(
        contact_id=contact_id,
        name=ticket_in.reporter_name.strip(),
        person_id=person.id if person is not None else None,
        phone=phone,
        channel=ticket_in.channel,
    )
    filed = _file(
        session=session,
        settings=settings,
        directory=directory,
        reporter=reporter,
        text=text,
        category=category,
        urgency=urgency,
        location=parsed.location,
        org_unit_id=unit.id,
        now=now,
    )
    log_message(
        session=session,
        kind=filed.kind,
        text=text,
        sender_contact_id=contact_id,
        sender_name=reporter.name,
        now=now,
        org_unit_id=unit.id,
        parsed=parsed,
        ticket_id=filed.ticket_id,
        channel=ticket_in.channel,
    )
    return IntakeOutcome(filed.kind, filed.replies, filed.code, filed.receipt)


# ------------------------------------------------------------------------ commands


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
    directory = _Directory(session, settings)
    row = _lock_ticket(session, command.code)
    assert row.id is not None
    view = ticket_view(row, _reporter_ids(session, row.id))
    actors = directory.actors(actor_contact_id, actor_name)
    if isinstance(command, ReassignCommand):
        action: Action = _reassign_action(
            directory, view, command, mention_ids=[m for m in mention_ids if m != actor_contact_id]
        )
    else:
        action = command.action
    return _apply_and_store(
        session, settings, directory, row, view, [(a, action) for a in actors], now
    )


def _apply_and_store(
    session: Session,
    settings: Settings,
    directory: _Directory,
    row: Ticket,
    view: TicketView,
    attempts: Sequence[tuple[Actor, Action]],
    now: datetime,
) -> ActOutcome:
    actor, step = _apply_as(view, attempts, now, lifecycle_rules(settings.tickets))
    person = directory.person_by_contact(actor.person_id)
    _store_view(row, step.ticket, directory=directory, policy=sla_policy(settings.tickets), now=now)
    _record_event(session, row, step.event, actor=actor, person_id=person.id if person else None)
    replies = _notification_replies(directory, step.notifications, skip=[actor.person_id])
    return ActOutcome(row.code, step.reply, tuple(replies), step.ticket.state)


def _reassign_action(
    directory: _Directory,
    view: TicketView,
    command: ReassignCommand,
    *,
    mention_ids: Sequence[str],
) -> Reassign:
    """改派 T… @某人: find the staff member and the post they would hold the ticket in."""
    name = command.target_name.lstrip("@").strip()
    options = _staff_options(directory, view)
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
        to_role=_lifecycle_role(holder.role),
        to_grid_id=grid_id if grid_id and grid_id != view.grid_id else None,
        to_village_id=village_id if village_id and village_id != view.village_id else None,
        note=command.note,
    )


def _staff_options(directory: _Directory, view: TicketView) -> list[tuple[int, _Holder, str, str]]:
    """Every (preference, staff member, grid id, village id) a ticket could go to; lower
    preference first: the ticket's grid, its village, the town, elsewhere."""
    rows = directory.session.exec(
        select(RoleAssignment, Person)
        .join(Person, col(Person.id) == col(RoleAssignment.person_id))
        .where(col(RoleAssignment.role).in_(list(_STAFF_ORG_ROLES)))
    ).all()
    options: list[tuple[int, _Holder, str, str]] = []
    for assignment, person in rows:
        assert person.id is not None
        role = Role(assignment.role)
        holder = _Holder(person.id, contact_id_of(person), person.name, person.phone, role)
        unit = directory.unit(assignment.org_unit_id)
        if unit is None:
            continue
        if role is Role.TOWN_OFFICIAL:
            options.append((2, holder, "", ""))
            continue
        if role is Role.STATION_CHIEF:
            village = str(unit.id)
            options.append((1 if village == view.village_id else 3, holder, "", village))
            continue
        grid = directory.grid_of(unit)
        if grid is None:
            continue
        grid_id, village_id = str(grid.id), _id_text(grid.parent_id)
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
    directory = _Directory(session, settings)
    row = _lock_ticket(session, code)
    assert row.id is not None
    view = ticket_view(row, _reporter_ids(session, row.id))
    actors = directory.actors(contact_id, name)
    return _apply_and_store(
        session, settings, directory, row, view, [(a, command.action()) for a in actors], now
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


# ------------------------------------------------------------------------- queries


def _deadline(view: TicketView, policy: SlaPolicy) -> datetime | None:
    if view.state not in OPEN_STATES:
        return None
    deadlines = deadlines_for(view, policy)
    return deadlines.accept_by if view.state in AWAITING_ACCEPTANCE else deadlines.resolve_by


def query(
    *,
    session: Session,
    settings: Settings,
    code: str,
    contact_id: str,
    name: str,
    now: datetime,
) -> str:
    """查询 T…: the status, for its reporters and the staff responsible for its area."""
    row = _load_ticket(session, code)
    assert row.id is not None
    view = ticket_view(row, _reporter_ids(session, row.id))
    refusals: list[TransitionRefused] = []
    for actor in _Directory(session, settings).actors(contact_id, name):
        try:
            ensure_can_view(view, actor)
            break
        except TransitionRefused as refused:
            refusals.append(refused)
    else:
        raise refusals[0]
    text = describe(view, deadline=_deadline(view, sla_policy(settings.tickets)))
    return f"{text}（{_category_name(settings, row.category)}）"


def my_tickets(
    *,
    session: Session,
    settings: Settings,
    contact_id: str,
    name: str,
    now: datetime,
    limit: int = 10,
) -> str:
    """我的工单: the tickets the sender reported, and for staff the open tickets they hold.
    Codes, categories and states only: it may be answered in a group."""
    policy = sla_policy(settings.tickets)
    reported = session.exec(
        select(Ticket)
        .join(TicketReporter, col(TicketReporter.ticket_id) == col(Ticket.id))
        .where(TicketReporter.contact_id == contact_id)
        .order_by(col(Ticket.created_at).desc())
        .limit(limit)
    ).all()
    staff = len(_Directory(session, settings).actors(contact_id, name)) > 1
    handling = _held_by(session, settings, contact_id, name, limit) if staff else []
    if not reported and not handling:
        if staff:
            return "您负责的范围内目前没有待办工单。"
        return "您目前没有工单。如需反映问题，直接在群里说明情况即可。"
    lines: list[str] = []
    if reported:
        lines.append("您反映的工单：")
        lines.extend(_line(settings, row, policy) for row in reported)
    if handling:
        lines.append("您负责的待办工单：")
        lines.extend(_line(settings, row, policy) for row in handling)
    return "\n".join(lines)


def _line(settings: Settings, row: Ticket, policy: SlaPolicy) -> str:
    text = f"{row.code} {_category_name(settings, row.category)} {STATE_ZH[row.state]}"
    if row.state in OPEN_STATES:
        deadline = _deadline(ticket_view(row, ()), policy)
        if deadline is not None:
            text += f"，时限{format_local_time(deadline)}"
    return text


def _held_by(
    session: Session, settings: Settings, contact_id: str, name: str, limit: int
) -> list[Ticket]:
    actors = _Directory(session, settings).actors(contact_id, name)
    conditions: list[ColumnElement[bool]] = [col(Ticket.assignee_contact_id) == contact_id]
    for actor in actors:
        unassigned = col(Ticket.assignee_contact_id).is_(None)
        if actor.role is ActorRole.GRID_LEADER:
            grids = [int(g) for g in actor.grid_ids]
            conditions.append(
                unassigned
                & (col(Ticket.level) == TicketLevel.GRID)
                & col(Ticket.grid_id).in_(grids)
            )
        elif actor.role is ActorRole.STATION_CHIEF:
            villages = [int(v) for v in actor.village_ids]
            conditions.append(
                unassigned
                & (col(Ticket.level) == TicketLevel.VILLAGE)
                & col(Ticket.village_id).in_(villages)
            )
        elif actor.role is ActorRole.TOWN_OFFICIAL:
            conditions.append(unassigned & (col(Ticket.level) == TicketLevel.TOWN))
        elif actor.role is ActorRole.DEPARTMENT_LIAISON and actor.department_code:
            conditions.append(
                (col(Ticket.level) == TicketLevel.DEPARTMENT)
                & (col(Ticket.department_code) == actor.department_code)
            )
    return list(
        session.exec(
            select(Ticket)
            .where(col(Ticket.state).in_(list(OPEN_STATES)), or_(*conditions))
            .order_by(col(Ticket.created_at))
            .limit(limit)
        )
    )


def _public(directory: _Directory, row: Ticket) -> TicketPublic:
    assert row.id is not None
    count = directory.session.exec(
        select(func.count()).select_from(TicketReporter).where(TicketReporter.ticket_id == row.id)
    ).one()
    return TicketPublic.model_validate(
        row,
        update={
            "unit_path": _unit_path(directory, row.unit_id),
            "category_name": _category_name(directory.settings, row.category),
            "reporter_count": count,
        },
    )


def list_tickets(
    *,
    session: Session,
    settings: Settings,
    states: Sequence[TicketState] = (),
    limit: int = 200,
) -> list[TicketPublic]:
    """Tickets, newest first, optionally only in ``states``."""
    statement = select(Ticket).order_by(col(Ticket.created_at).desc(), col(Ticket.id).desc())
    if states:
        statement = statement.where(col(Ticket.state).in_(list(states)))
    directory = _Directory(session, settings)
    return [_public(directory, row) for row in session.exec(statement.limit(limit))]


@dataclass(frozen=True, slots=True)
class TicketDetail:
    """One ticket for officials: text, reporters (phones masked) and the whole history."""

    ticket: TicketPublic
    text: str
    holder: str
    deadline: datetime | None
    reporters: tuple[dict[str, str], ...]
    events: tuple[dict[str, str], ...]

    def to_json(self) -> dict[str, object]:
        return {
            **self.ticket.model_dump(mode="json"),
            "text": self.text,
            "holder": self.holder,
            "deadline": self.deadline.isoformat() if self.deadline else None,
            "reporters": list(self.reporters),
            "events": list(self.events),
        }


def ticket_detail(
    *, session: Session, settings: Settings, code: str, now: datetime
) -> TicketDetail:
    row = _load_ticket(session, code)
    assert row.id is not None
    directory = _Directory(session, settings)
    reporters = session.exec(
        select(TicketReporter)
        .where(TicketReporter.ticket_id == row.id)
        .order_by(col(TicketReporter.id))
    ).all()
    view = ticket_view(row, [r.contact_id for r in reporters])
    events = session.exec(
        select(TicketEventRow)
        .where(TicketEventRow.ticket_id == row.id)
        .order_by(col(TicketEventRow.id))
    ).all()
    return TicketDetail(
        ticket=_public(directory, row),
        text=mask_phones_in_text(row.text),
        holder=holder_label(view) if row.state in OPEN_STATES else "",
        deadline=_deadline(view, sla_policy(settings.tickets)),
        reporters=tuple(
            {
                "name": r.name,
                "phone": mask_phone(r.phone),
                "channel": r.channel.value,
                "reported_at": r.reported_at.isoformat(),
            }
            for r in reporters
        ),
        events=tuple(
            {
                "at": e.at.isoformat(),
                "kind": e.kind,
                "actor": e.actor_name or ROLE_ZH[e.actor_role],
                "role": ROLE_ZH[e.actor_role],
                "from": e.from_state.value if e.from_state else "",
                "to": e.to_state.value,
                "level": LEVEL_ZH[e.to_level],
                "note": mask_phones_in_text(e.note),
            }
            for e in events
        ),
    )


# -------------------------------------------------------------------------- timers


def due_ticket_codes(*, session: Session, now: datetime, limit: int = 500) -> list[str]:
    """Tickets with an SLA reminder, expiry or rating timeout due at ``now``."""
    return list(
        session.exec(
            select(Ticket.code)
            .where(col(Ticket.next_timer_at).is_not(None), col(Ticket.next_timer_at) <= now)
            .order_by(col(Ticket.next_timer_at))
            .limit(limit)
        )
    )


def fire_timers(*, session: Session, settings: Settings, code: str, now: datetime) -> list[Reply]:
    """Apply every timer of one ticket due at ``now`` (idempotent: fired timers are
    recorded on the ticket, and the ticket is locked while they are applied)."""
    directory = _Directory(session, settings)
    policy = sla_policy(settings.tickets)
    row = _lock_ticket(session, code)
    assert row.id is not None
    view = ticket_view(row, _reporter_ids(session, row.id))
    transitions = run_due(view, policy, now=now, rules=lifecycle_rules(settings.tickets))
    replies: list[Reply] = []
    for step in transitions:
        _record_event(session, row, step.event, actor=SYSTEM)
        replies.extend(_notification_replies(directory, step.notifications))
    final = transitions[-1].ticket if transitions else view
    _store_view(row, final, directory=directory, policy=policy, now=now)
    return replies


def refresh_timer_schedule(*, session: Session, settings: Settings) -> int:
    """Recompute every unfinished ticket's next timer (the SLA settings may have changed
    while the process was down); returns how many changed."""
    policy = sla_policy(settings.tickets)
    changed = 0
    rows = session.exec(select(Ticket).where(Ticket.state != TicketState.CLOSED)).all()
    for row in rows:
        assert row.id is not None
        wakeup = next_wakeup(ticket_view(row, _reporter_ids(session, row.id)), policy)
        if wakeup != row.next_timer_at:
            row.next_timer_at = wakeup
            changed += 1
    return changed


# -------------------------------------------------------------------------- outbox


def queue_replies(
    *, session: Session, replies: Iterable[Reply], now: datetime, ticket_id: int | None = None
) -> int:
    """Keep replies for the bot process to send (from the CLI or the web)."""
    count = 0
    for reply in replies:
        session.add(
            TicketOutbox(
                ticket_id=ticket_id,
                room_id=reply.room_id,
                contact_id=reply.contact_id,
                mention_ids=list(reply.mention_ids),
                text=reply.text,
                created_at=now,
            )
        )
        count += 1
    return count


def take_outbox(*, session: Session, now: datetime, limit: int = 200) -> list[Reply]:
    """Queued replies, marked as taken (each is handed out once)."""
    rows = session.exec(
        select(TicketOutbox)
        .where(col(TicketOutbox.taken_at).is_(None))
        .order_by(col(TicketOutbox.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    replies = []
    for row in rows:
        row.taken_at = now
        replies.append(
            Reply(
                row.text,
                room_id=row.room_id,
                contact_id=row.contact_id,
                mention_ids=tuple(row.mention_ids),
            )
        )
    return replies
