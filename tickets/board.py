"""The officials' ticket board (工单台账): who sees which tickets, the filtered and sorted
page of a board over the whole town, and the overview's counts.

A :class:`TicketScope` is what a person's posts cover (the whole town, villages, grids,
units, or the departments a liaison answers for); every query here takes one, so a page
cannot show a ticket outside it. Deadlines follow :func:`tickets.sla.deadlines_for`;
"overdue" is written as SQL so that it filters 100,000 tickets in the database.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, column, false, func, or_, table, true
from sqlmodel import Session, col, select

from core.clock import TOWN_TZ
from core.config import Settings
from core.departments import department_code
from core.policy import ADMIN_ROLE, Principal
from core.privacy import show_phones_in_text
from models.enums import Rating, Role, TicketLevel, TicketState, Urgency
from models.org import PATH_SEP, OrgUnit
from models.search import SQLITE_TABLE, TRIGRAM_MIN, sqlite_index_ready
from models.tickets import Ticket
from tickets.configured import category_name, sla_policy
from tickets.lifecycle import AWAITING_ACCEPTANCE, LEVEL_ZH, OPEN_STATES, STATE_ZH
from tickets.queries import reader_viewers
from tickets.sla import SlaPolicy
from tickets.stats import local_period

__all__ = [
    "SORTS",
    "BoardFilter",
    "BoardPage",
    "BoardRow",
    "OpenCounts",
    "Rates",
    "TicketScope",
    "board_page",
    "board_rows",
    "daily_trend",
    "deadline_of",
    "open_counts",
    "rates",
    "scope_of",
]

_WORKING = frozenset(OPEN_STATES - AWAITING_ACCEPTANCE)


@dataclass(frozen=True, slots=True)
class TicketScope:
    """The tickets a person may see: by origin (village, grid, unit) or by department."""

    everything: bool = False
    village_ids: frozenset[int] = frozenset()
    grid_ids: frozenset[int] = frozenset()
    unit_ids: frozenset[int] = frozenset()
    department_codes: frozenset[str] = frozenset()

    @property
    def empty(self) -> bool:
        return not (
            self.everything
            or self.village_ids
            or self.grid_ids
            or self.unit_ids
            or self.department_codes
        )

    def condition(self) -> ColumnElement[bool]:
        if self.everything:
            return true()
        parts: list[ColumnElement[bool]] = []
        if self.village_ids:
            parts.append(col(Ticket.village_id).in_(sorted(self.village_ids)))
        if self.grid_ids:
            parts.append(col(Ticket.grid_id).in_(sorted(self.grid_ids)))
        if self.unit_ids:
            parts.append(col(Ticket.unit_id).in_(sorted(self.unit_ids)))
        if self.department_codes:
            parts.append(col(Ticket.department_code).in_(sorted(self.department_codes)))
        return or_(*parts) if parts else false()


def scope_of(session: Session, settings: Settings, principal: Principal) -> TicketScope:
    """What ``principal``'s posts cover, as :func:`core.policy.decide` reads them for
    ``VIEW_TICKETS``: town officials and admins everything, staff their place, liaisons
    the tickets whistled to their department."""
    if principal.is_admin or principal.holds(Role.TOWN_OFFICIAL, ADMIN_ROLE):
        return TicketScope(everything=True)
    villages: set[int] = set()
    grids: set[int] = set()
    units: set[int] = set()
    departments: set[str] = set()
    town = settings.town.name
    for post in principal.posts:
        if post.role == Role.DEPARTMENT_LIAISON:
            code = department_code(post.department, settings.departments)
            if code is not None:
                departments.add(code)
            continue
        if not post.scope:
            return TicketScope(everything=True)
        unit_id = post.unit_id
        if unit_id is None or len(post.scope) > 3:
            path = PATH_SEP.join((town, *post.scope))
            unit_id = session.exec(select(OrgUnit.id).where(OrgUnit.path == path)).first()
        if unit_id is None:
            continue
        [villages, grids, units][min(len(post.scope), 3) - 1].add(unit_id)
    return TicketScope(
        village_ids=frozenset(villages),
        grid_ids=frozenset(grids),
        unit_ids=frozenset(units),
        department_codes=frozenset(departments),
    )


SEARCH_CAP = 5000
"""A text search lists at most this many tickets (narrow it with the other filters)."""

SORTS: dict[str, str] = {
    "new": "最新受理",
    "old": "最早受理",
    "urgent": "紧急优先",
    "state": "按状态",
}


@dataclass(frozen=True, slots=True)
class BoardFilter:
    """What the board's filter form asks for (all optional)."""

    states: tuple[TicketState, ...] = ()
    open_only: bool = False
    category: str | None = None
    urgency: Urgency | None = None
    level: TicketLevel | None = None
    village_id: int | None = None
    grid_id: int | None = None
    overdue: bool = False
    start: date | None = None
    end: date | None = None
    text: str = ""
    sort: str = "new"
    page: int = 1
    per_page: int = 50


@dataclass(frozen=True, slots=True)
class BoardRow:
    code: str
    state: str
    state_label: str
    level_label: str
    category: str
    urgent: bool
    place: str
    location: str
    assignee: str
    created_at: datetime
    deadline: datetime | None
    overdue: bool
    text: str


@dataclass(frozen=True, slots=True)
class BoardPage:
    rows: list[BoardRow]
    total: int
    page: int
    pages: int
    capped: bool = False
    """A text search found more than :data:`SEARCH_CAP`; ``total`` is the cap."""


def _overdue_condition(
    session: Session, scope: ColumnElement[bool], policy: SlaPolicy, now: datetime
) -> ColumnElement[bool]:
    """Open tickets past the deadline of their window (accept, or resolve with 延期)."""
    extensions = sorted(
        {
            int(days)
            for days in session.exec(
                select(Ticket.extended_days)
                .where(scope, col(Ticket.state).in_(sorted(_WORKING)))
                .distinct()
            )
        }
        | {0}
    )
    parts: list[ColumnElement[bool]] = []
    for urgency in Urgency:
        window = policy.window_for(urgency)
        parts.append(
            and_(
                col(Ticket.urgency) == urgency,
                col(Ticket.state).in_(sorted(AWAITING_ACCEPTANCE)),
                col(Ticket.window_started_at) < now - window.accept,
            )
        )
        for days in extensions:
            parts.append(
                and_(
                    col(Ticket.urgency) == urgency,
                    col(Ticket.state).in_(sorted(_WORKING)),
                    col(Ticket.extended_days) == days,
                    col(Ticket.window_started_at) < now - window.resolve - timedelta(days=days),
                )
            )
    return or_(*parts)


def _conditions(
    session: Session,
    scope: TicketScope,
    wanted: BoardFilter,
    policy: SlaPolicy,
    now: datetime,
) -> list[ColumnElement[bool]]:
    conditions = [scope.condition()]
    if wanted.states:
        conditions.append(col(Ticket.state).in_(list(wanted.states)))
    elif wanted.open_only:
        conditions.append(col(Ticket.state).in_(sorted(OPEN_STATES)))
    if wanted.category:
        conditions.append(col(Ticket.category) == wanted.category)
    if wanted.urgency is not None:
        conditions.append(col(Ticket.urgency) == wanted.urgency)
    if wanted.level is not None:
        conditions.append(col(Ticket.level) == wanted.level)
    if wanted.village_id is not None:
        conditions.append(col(Ticket.village_id) == wanted.village_id)
    if wanted.grid_id is not None:
        conditions.append(col(Ticket.grid_id) == wanted.grid_id)
    begin, stop = local_period(wanted.start, wanted.end)
    if begin is not None:
        conditions.append(col(Ticket.created_at) >= begin)
    if stop is not None:
        conditions.append(col(Ticket.created_at) < stop)
    text = wanted.text.strip()
    if text:
        if re.fullmatch(r"[Tt]\d[\d-]*", text):
            text = text.upper()  # a ticket code; the rest is Chinese, which has no case
        conditions.append(_text_condition(session, text, by_time=wanted.sort in ("new", "old")))
    if wanted.overdue:
        conditions.append(_overdue_condition(session, scope.condition(), policy, now))
    return conditions


_SEARCHED = (
    col(Ticket.code),
    col(Ticket.text),
    col(Ticket.location),
    col(Ticket.assignee_name),
)
"""What the text filter searches (the columns of :data:`models.search.SEARCHED_COLUMNS`)."""

_FTS_MATCHES = table(SQLITE_TABLE, column("rowid"), column(SQLITE_TABLE))

_DENSE_SHARE = 5
"""On SQLite, a search that one ticket in this many (or more) matches scans instead."""


def _like_pattern(text: str) -> str:
    """``%text%`` with LIKE's own characters (``%``, ``_`` and the escape) taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _text_condition(session: Session, text: str, *, by_time: bool) -> ColumnElement[bool]:
    """Tickets whose code, text, location or assignee contain ``text`` (case-sensitive).

    The plain scan is a substring search (instr / strpos), not LIKE: on SQLite a LIKE with
    a Chinese pattern folds case character by character on every row. From
    :data:`models.search.TRIGRAM_MIN` characters on, the trigram index answers instead:
    on SQLite the FTS5 table finds the candidates and the scan's test confirms them; on
    PostgreSQL an escaped ``LIKE '%…%'`` (the same rows as strpos) uses pg_trgm's GIN
    indexes. A shorter search cannot use a trigram index and scans.

    PostgreSQL's planner weighs the index against the scan itself (pg_trgm estimates how
    many rows match, so each search is planned with its own pattern). SQLite's does not, so
    it is done here: when the list is sorted by time (``by_time``) and the index counts one
    ticket in :data:`_DENSE_SHARE` or more, the scan along ``created_at`` finds a page (and
    the search cap) within the first few thousand tickets it reads, while the index would
    fetch and sort every one it found (a search nearly every ticket matched took 96 ms
    instead of 16 over 100,000).
    """
    if session.get_bind().dialect.name != "sqlite":
        if len(text) < TRIGRAM_MIN:
            return or_(*(func.strpos(searched, text) > 0 for searched in _SEARCHED))
        # Plan with the pattern known: after a few searches psycopg prepares the statement
        # and PostgreSQL may keep one generic plan for every pattern, which walks the whole
        # table in time order (a search by code took 85 ms instead of 5).
        session.connection().exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")
        pattern = _like_pattern(text)
        return or_(*(searched.like(pattern, escape="\\") for searched in _SEARCHED))
    scan = or_(*(func.instr(searched, text) > 0 for searched in _SEARCHED))
    if len(text) < TRIGRAM_MIN or not sqlite_index_ready(session.connection()):
        return scan
    phrase = '"' + text.replace('"', '""') + '"'  # one FTS5 string: a substring, verbatim
    candidates = select(_FTS_MATCHES.c.rowid).where(_FTS_MATCHES.c[SQLITE_TABLE].match(phrase))
    if by_time:
        # ids count the tickets closely enough, and max(id) costs nothing
        dense_at = int(session.exec(select(func.max(Ticket.id))).one() or 0) // _DENSE_SHARE
        found = session.exec(
            select(func.count()).select_from(candidates.limit(dense_at).subquery())
        ).one()
        if found >= dense_at:
            return scan
    return and_(col(Ticket.id).in_(candidates), scan)


def _order(sort: str) -> list[object]:
    newest = [col(Ticket.created_at).desc(), col(Ticket.id).desc()]
    match sort:
        case "old":
            return [col(Ticket.created_at), col(Ticket.id)]
        case "urgent":
            return [col(Ticket.urgency).desc(), *newest]  # "urgent" sorts after "normal"
        case "state":
            return [col(Ticket.state), *newest]
    return newest


def deadline_of(row: Ticket, policy: SlaPolicy) -> datetime | None:
    """The current window's deadline (:func:`tickets.sla.deadlines_for` on the row's
    columns, without building the whole view)."""
    if row.state not in OPEN_STATES:
        return None
    window = policy.window_for(row.urgency)
    if row.state in AWAITING_ACCEPTANCE:
        return row.window_started_at + window.accept
    return row.window_started_at + window.resolve + timedelta(days=row.extended_days)


def _places(session: Session, unit_ids: Iterable[int]) -> dict[int, str]:
    ids = sorted(set(unit_ids))
    if not ids:
        return {}
    return {
        unit_id: path.split(PATH_SEP, 1)[-1]
        for unit_id, path in session.exec(
            select(OrgUnit.id, OrgUnit.path).where(col(OrgUnit.id).in_(ids))
        )
        if unit_id is not None
    }


def _rows(
    session: Session,
    settings: Settings,
    tickets: Sequence[Ticket],
    now: datetime,
    reader: str | None,
) -> list[BoardRow]:
    policy = sla_policy(settings.tickets)
    places = _places(session, (t.unit_id for t in tickets))
    viewer_on = reader_viewers(session, settings, reader)
    out = []
    for ticket in tickets:
        deadline = deadline_of(ticket, policy)
        out.append(
            BoardRow(
                code=ticket.code,
                state=ticket.state.value,
                state_label=STATE_ZH[ticket.state],
                level_label=LEVEL_ZH[ticket.level],
                category=category_name(settings, ticket.category),
                urgent=ticket.urgency is Urgency.URGENT,
                place=places.get(ticket.unit_id, ""),
                location=ticket.location or "",
                assignee=ticket.assignee_name or ticket.department_name,
                created_at=ticket.created_at,
                deadline=deadline,
                overdue=deadline is not None and deadline < now,
                # a phone typed into the text only to who handles the ticket
                text=show_phones_in_text(viewer_on(ticket), ticket.text)[:80],
            )
        )
    return out


def board_page(
    *,
    session: Session,
    settings: Settings,
    scope: TicketScope,
    wanted: BoardFilter,
    now: datetime,
    reader: str | None = None,
) -> BoardPage:
    """One page of the board: the filtered tickets in ``scope``, sorted, and how many.
    ``reader`` (a contact id) sees phones typed into a ticket's text in full on the
    tickets they handle (:func:`core.privacy.show_phones_in_text`); masked elsewhere."""
    policy = sla_policy(settings.tickets)
    conditions = _conditions(session, scope, wanted, policy, now)
    order = _order(wanted.sort)
    if wanted.text.strip():
        # A text search reads every row it matches; read the ids once (sorted, up to a
        # cap) rather than scanning twice for the count and for the page.
        ids = list(
            session.exec(
                select(Ticket.id)
                .where(*conditions)
                .order_by(*order)  # type: ignore[arg-type]
                .limit(SEARCH_CAP + 1)
            )
        )
        capped = len(ids) > SEARCH_CAP
        ids = ids[:SEARCH_CAP]  # the one past the cap only says there are more
        total = len(ids)
        pages = max(1, -(-total // wanted.per_page))
        page = min(max(1, wanted.page), pages)
        wanted_ids = ids[(page - 1) * wanted.per_page : page * wanted.per_page]
        found = {
            t.id: t for t in session.exec(select(Ticket).where(col(Ticket.id).in_(wanted_ids)))
        }
        tickets: Sequence[Ticket] = [found[i] for i in wanted_ids if i in found]
    else:
        capped = False
        total = int(session.exec(select(func.count()).select_from(Ticket).where(*conditions)).one())
        pages = max(1, -(-total // wanted.per_page))
        page = min(max(1, wanted.page), pages)
        tickets = session.exec(
            select(Ticket)
            .where(*conditions)
            .order_by(*order)  # type: ignore[arg-type]
            .offset((page - 1) * wanted.per_page)
            .limit(wanted.per_page)
        ).all()
    return BoardPage(
        rows=_rows(session, settings, tickets, now, reader),
        total=total,
        page=page,
        pages=pages,
        capped=capped,
    )


def board_rows(
    *,
    session: Session,
    settings: Settings,
    scope: TicketScope,
    wanted: BoardFilter,
    now: datetime,
    limit: int,
    reader: str | None = None,
) -> list[BoardRow]:
    """Every filtered ticket up to ``limit`` (for the CSV and XLSX export); phones in the
    text as for :func:`board_page`."""
    policy = sla_policy(settings.tickets)
    conditions = _conditions(session, scope, wanted, policy, now)
    tickets = session.exec(
        select(Ticket)
        .where(*conditions)
        .order_by(*_order(wanted.sort))  # type: ignore[arg-type]
        .limit(limit)
    ).all()
    return _rows(session, settings, tickets, now, reader)


@dataclass(frozen=True, slots=True)
class OpenCounts:
    """The overview's open tickets: by state, by level, overdue and due today (日清)."""

    by_state: dict[str, int]
    by_level: dict[str, int]
    open: int
    overdue: int
    due_today: int


def open_counts(
    *, session: Session, settings: Settings, scope: TicketScope, now: datetime
) -> OpenCounts:
    policy = sla_policy(settings.tickets)
    rows = session.exec(
        select(  # type: ignore[call-overload]
            Ticket.state,
            Ticket.level,
            Ticket.urgency,
            Ticket.window_started_at,
            Ticket.extended_days,
        ).where(scope.condition(), col(Ticket.state).in_(sorted(OPEN_STATES)))
    ).all()
    by_state: Counter[str] = Counter()
    by_level: Counter[str] = Counter()
    overdue = due_today = 0
    end_of_day = datetime.combine(
        now.astimezone(TOWN_TZ).date() + timedelta(days=1), datetime.min.time(), TOWN_TZ
    )
    for state, level, urgency, started, extended in rows:
        by_state[STATE_ZH[state]] += 1
        by_level[LEVEL_ZH[level]] += 1
        window = policy.window_for(urgency)
        if state in AWAITING_ACCEPTANCE:
            deadline = started + window.accept
        else:
            deadline = started + window.resolve + timedelta(days=extended)
        if deadline < now:
            overdue += 1
        elif deadline < end_of_day:
            due_today += 1
    return OpenCounts(
        by_state={STATE_ZH[s]: by_state[STATE_ZH[s]] for s in TicketState if by_state[STATE_ZH[s]]},
        by_level={LEVEL_ZH[lv]: by_level[LEVEL_ZH[lv]] for lv in TicketLevel},
        open=len(rows),
        overdue=overdue,
        due_today=due_today,
    )


@dataclass(frozen=True, slots=True)
class Rates:
    """The three rates (三率) and the share resolved within the town, as
    :func:`tickets.stats.compute_stats` defines them, counted by the database."""

    total: int
    response_rate: float | None
    resolution_rate: float | None
    satisfaction_rate: float | None
    resolved_within_town: float | None
    resolved: int
    closed: int


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def rates(
    *, session: Session, scope: TicketScope, now: datetime, since: datetime | None = None
) -> Rates:
    """The rates of the tickets in ``scope`` received since ``since`` (all when None)."""
    resolved_states = [TicketState.RESOLVED, TicketState.RATING, TicketState.CLOSED]
    satisfied = [Rating.SATISFIED, Rating.BASICALLY_SATISFIED]

    def count(condition: ColumnElement[bool]) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    accepted = col(Ticket.first_accepted_at).is_not(None)
    resolved = col(Ticket.state).in_(resolved_states)
    closed = col(Ticket.state) == TicketState.CLOSED
    statement = select(  # type: ignore[call-overload]
        func.count(),
        count(or_(accepted, col(Ticket.first_accept_due_at) <= now)),
        count(and_(accepted, col(Ticket.first_accepted_at) <= col(Ticket.first_accept_due_at))),
        count(resolved),
        count(closed),
        count(and_(closed, col(Ticket.rating).in_(satisfied))),
        count(and_(resolved, col(Ticket.resolved_level).is_not(None))),
        count(
            and_(
                resolved,
                col(Ticket.resolved_level).is_not(None),
                col(Ticket.resolved_level) != TicketLevel.DEPARTMENT,
            )
        ),
    ).where(scope.condition())
    if since is not None:
        statement = statement.where(col(Ticket.created_at) >= since)
    total, due, on_time, done, closed_n, happy, leveled, in_town = (
        int(v) for v in session.exec(statement).one()
    )
    return Rates(
        total=total,
        response_rate=_share(on_time, due),
        resolution_rate=_share(done, total),
        satisfaction_rate=_share(happy, closed_n),
        resolved_within_town=_share(in_town, leveled),
        resolved=done,
        closed=closed_n,
    )


def daily_trend(
    *, session: Session, scope: TicketScope, now: datetime, days: int = 30
) -> list[tuple[date, int, int]]:
    """(local day, received, resolved) for each of the last ``days`` days."""
    today = now.astimezone(TOWN_TZ).date()
    first = today - timedelta(days=days - 1)
    begin, _ = local_period(first, None)
    assert begin is not None
    received: Counter[date] = Counter(
        at.astimezone(TOWN_TZ).date()
        for at in session.exec(
            select(Ticket.created_at).where(scope.condition(), col(Ticket.created_at) >= begin)
        )
    )
    resolved: Counter[date] = Counter(
        at.astimezone(TOWN_TZ).date()
        for at in session.exec(
            select(Ticket.resolved_at).where(scope.condition(), col(Ticket.resolved_at) >= begin)
        )
        if at is not None
    )
    return [
        (day, received[day], resolved[day])
        for day in (first + timedelta(days=n) for n in range(days))
    ]
