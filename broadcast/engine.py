"""Sending a notice: the plan, the per-account senders, the outbox, failover.

Every (notice, group) pair is a row of the persistent outbox. A sender marks a row
``sending`` (and waits until that is committed) before it posts, and ``sent``
after; a process killed at any moment leaves at most the rows it was posting in
``sending``, which the next start turns into ``uncertain``. A row recorded
``sent`` is never posted again.

Writes are group-committed: all senders' state changes go to one writer that
commits them in batches every few tens of milliseconds, so the database is
never what limits the broadcast, on SQLite or PostgreSQL.

When an account is throttled, logs out or fails, its remaining groups are
re-planned at once over the other accounts in the same groups, with the
planner's knowledge of every account's bucket (from the sends so far). The
messenger tells the engine of every account state change, so a logout is
re-planned within :data:`REPLAN_COALESCE_S` of the event, before the account's
next send would have found out; an account that comes back is planned in again,
with the groups that had no usable account (also those of finished notices, within
``late_window``: the ones left unreachable at a resume).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import Session, col

from broadcast import chasing, compose, membership, planner, service
from core.messaging import (
    AccountUnavailable,
    Messenger,
    Reply,
    SendFailed,
    SendThrottled,
    SendUncertain,
    usable_burst,
)
from models.broadcast import DeliveryState, Notice, NoticeKind, NoticePriority, NoticeStatus
from models.db import run_in_session
from models.enums import AccountStatus, Level
from models.org import OrgUnit

log = logging.getLogger(__name__)

MARGIN_FRACTION = 0.01
"""Each account is planned 1% slower than its limit, so that timer jitter never makes a
send arrive early at WeChat's bucket (the cost: reach 1% above the lower bound)."""
MAX_TRANSIENT_ATTEMPTS = 3
SEND_JITTER_S = 0.05
"""Random delay (never an advance) added to each post of a running system."""
FLUSH_INTERVAL_S = 0.02
SENDING_LEAD_S = 0.05
"""A row is marked ``sending`` this long before its planned time, so the commit is done
when the time comes."""
REPLAN_COALESCE_S = 0.05
"""State changes that arrive this close together share one re-plan (three accounts
logged out at once re-plan once, not three times)."""
LATE_BATCH_S = 1.0
"""Accounts that come back within this long share one look for the groups finished
notices left unreachable (at a start, all accounts log in within a second)."""
GONE = frozenset({AccountStatus.LOGGED_OUT, AccountStatus.DISCONNECTED, AccountStatus.STOPPED})
"""States in which an account sends nothing until it comes back."""


@dataclass(frozen=True, slots=True)
class NoticeRequest:
    title: str
    body: str
    scope: str
    issuer_name: str
    levels: tuple[str, ...] = compose.ALL_LEVELS
    priority: NoticePriority = NoticePriority.NORMAL
    deadline_s: float = 180.0
    ack_required: bool = True
    issuer_person_id: int | None = None
    issuer_token_id: int | None = None
    """The API token that issues it (it may then confirm or cancel it)."""
    channel: str = "cli"
    kind: NoticeKind = NoticeKind.NOTICE
    parent_code: str | None = None


@dataclass(frozen=True, slots=True)
class Prepared:
    """A planned notice waiting for confirmation, and what its plan predicts."""

    code: str
    groups: int
    reachable: int
    unreachable: int
    lower_bound_s: float
    predicted_reach_s: float
    deadline_s: float
    meets_deadline: bool
    advice: str
    plan_ms: float
    loss_budget: float = 0.0
    """Share of the accounts the prediction under loss takes away."""
    lost_accounts: tuple[str, ...] = ()
    """The accounts taken away: those whose groups have the fewest alternatives."""
    predicted_reach_under_loss_s: float | None = None
    """Predicted reach of the groups still reachable if ``lost_accounts`` are lost at the
    start (the worst moment for capacity); ``None`` with no loss budget."""
    unreachable_under_loss: int = 0
    """Groups that would have no account left after that loss."""

    @property
    def meets_deadline_under_loss(self) -> bool:
        if self.predicted_reach_under_loss_s is None:
            return self.meets_deadline
        return (
            self.unreachable == 0
            and self.unreachable_under_loss == 0
            and self.predicted_reach_under_loss_s <= self.deadline_s
        )

    def summary_zh(self) -> str:
        head = (
            f"通知 {self.code} 将发往 {self.groups} 个群，预计 {self.predicted_reach_s:.0f} 秒全部送达"
            f"（理论下限 {self.lower_bound_s:.0f} 秒，时限 {self.deadline_s:.0f} 秒）。"
        )
        if self.predicted_reach_under_loss_s is not None and self.lost_accounts:
            head += (
                f"\n若发送中途有 {len(self.lost_accounts)} 个机器人账号被封或掉线"
                f"（{self.loss_budget:.0%}），预计 {self.predicted_reach_under_loss_s:.0f} 秒送达"
            )
            if self.unreachable_under_loss:
                head += f"，其中 {self.unreachable_under_loss} 个群将暂时无法送达（账号恢复后补发）"
            head += "。"
        return head + (f"\n{self.advice}" if self.advice else "")

    def as_json(self) -> dict[str, object]:
        """What the API and the CLI show before an official confirms."""
        under = self.predicted_reach_under_loss_s
        return {
            "code": self.code,
            "groups": self.groups,
            "unreachable": self.unreachable,
            "lower_bound_s": round(self.lower_bound_s, 2),
            "predicted_reach_s": round(self.predicted_reach_s, 2),
            "deadline_s": self.deadline_s,
            "meets_deadline": self.meets_deadline,
            "loss_budget": self.loss_budget,
            "lost_accounts": list(self.lost_accounts),
            "predicted_reach_under_loss_s": round(under, 2) if under is not None else None,
            "unreachable_under_loss": self.unreachable_under_loss,
            "meets_deadline_under_loss": self.meets_deadline_under_loss,
            "plan_ms": round(self.plan_ms, 1),
            "summary": self.summary_zh(),
        }


class OutboxWriter:
    """Group commit of delivery state changes."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._pending: list[dict[str, Any]] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.rows_written = 0
        self.commits = 0
        self.busy_s = 0.0
        """Time spent committing: compared with the run's length, how close the database
        came to being what limits the broadcast."""

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-writer")

    def put(self, row: dict[str, Any]) -> None:
        self._pending.append(row)
        self._wake.set()

    async def put_and_wait(self, row: dict[str, Any]) -> None:
        """Queue a change and return once it is committed."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append(row)
        self._waiters.append(future)
        self._wake.set()
        await future

    async def _run(self) -> None:
        backoff = 0.0
        while True:
            await self._wake.wait()
            self._wake.clear()
            await asyncio.sleep(max(FLUSH_INTERVAL_S, backoff))  # gather the senders' changes
            try:
                await self.flush()
                backoff = 0.0
            except Exception:
                # Keep the batch and the waiting senders; the database may come back.
                backoff = min(5.0, max(0.5, backoff * 2))
                log.exception("outbox: commit failed, retrying in %.1f s", backoff)
                self._wake.set()
                continue
            if self._closing and not self._pending:
                return

    async def flush(self) -> None:
        """Commit what is pending; on failure it stays pending (in order) for the next try."""
        batch, waiters = self._pending, self._waiters
        self._pending, self._waiters = [], []
        if not batch:
            for w in waiters:
                if not w.done():
                    w.set_result(None)
            return
        started = time.perf_counter()
        try:
            await run_in_session(self._engine, lambda s: service.apply_updates(s, batch))
        except BaseException:
            self._pending, self._waiters = batch + self._pending, waiters + self._waiters
            raise
        self.busy_s += time.perf_counter() - started
        self.rows_written += len(batch)
        self.commits += 1
        for w in waiters:
            if not w.done():
                w.set_result(None)

    async def close(self) -> None:
        self._closing = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task
        try:
            await self.flush()
        except Exception:
            log.exception("outbox: %d change(s) not committed at close", len(self._pending))


@dataclass(slots=True)
class _Item:
    delivery_id: int
    chat_group_id: int
    room_id: str
    level: int
    send_at: float
    attempts: int = 0
    reply: Reply | None = None
    """What this group gets, when it is not the run's text (a reminder's @-mentions)."""


@dataclass(slots=True)
class _Run:
    notice_id: int
    code: str
    text: str
    t0: float
    items: dict[int, _Item]
    members: dict[int, frozenset[str]]
    writer: OutboxWriter
    parent_code: str | None = None
    rate_share: float = 1.0
    """Share of each account's rate this run plans with (reminders leave the rest for
    residents' replies)."""
    skip_rooms: set[str] = field(default_factory=set)
    """Reminders no longer needed: the group answered meanwhile."""
    queues: dict[str, deque[_Item]] = field(default_factory=dict)
    changed: dict[str, asyncio.Event] = field(default_factory=dict)
    workers: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    history: dict[str, list[float]] = field(default_factory=dict)
    dropped: set[str] = field(default_factory=set)
    excluded: dict[int, set[str]] = field(default_factory=dict)
    waiting: dict[int, _Item] = field(default_factory=dict)
    """Items no usable account could take (written ``unreachable``): planned again when an
    account comes back."""
    closing: bool = False
    """Every sender has finished: a change now goes to the database path."""
    retracted: bool = False
    """撤回: nothing more is planned or posted."""
    replan_at: asyncio.TimerHandle | None = None
    events: list[float] = field(default_factory=list)
    """Monotonic times of the state changes waiting for the next re-plan."""
    returned: list[_Item] = field(default_factory=list)
    avoid: dict[int, str] = field(default_factory=dict)
    """Item -> the account whose send of it failed transiently: another member retries."""
    """Items taken back from a failed send, waiting for the next re-plan."""
    sent: int = 0
    failed: int = 0
    unreachable: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def elapsed(self) -> float:
        return time.monotonic() - self.t0


class Broadcaster:
    """Plans, sends and resumes notices through the accounts of a :class:`Messenger`."""

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        messenger: Messenger,
        town: str,
        resend_uncertain: bool = True,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        jitter_s: float = 0.0,
        seed: int = 0,
        loss_budget: float = 0.1,
        late_window: timedelta = timedelta(hours=24),
        reminder_rate_share: float = 0.8,
    ) -> None:
        """``jitter_s``: each post waits a further random 0..jitter_s seconds after its
        planned time (never earlier), so an account does not post on a perfect beat.
        ``loss_budget``: share of the accounts the prediction under loss takes away.
        ``late_window``: an account that comes back still gets the groups it was the
        only way into, of notices started this long ago at most.
        ``reminder_rate_share``: share of each account's rate that chasing reminders are
        planned with (the rest stays free for replies to residents)."""
        self._engine = engine
        self._messenger = messenger
        self._town = town
        self._resend_uncertain = resend_uncertain
        self._clock = clock
        self._jitter_s = jitter_s
        self._rng = random.Random(seed)
        self._runs: dict[int, _Run] = {}
        self._active: set[int] = set()
        """Notices with a sending task (running or about to)."""
        self._tasks: set[asyncio.Task[None]] = set()
        self._loss_budget = loss_budget
        self._late_window = late_window
        self._reminder_rate_share = reminder_rate_share
        self._status: dict[str, AccountStatus] = {}
        self._online_since: dict[str, float] = {}
        """When each account last came back (monotonic): a later failure of an earlier
        post is not a new loss."""
        self._back: set[str] = set()
        """Accounts back since the last look for unreachable groups of finished notices."""
        self._stopping = False
        self._answered: dict[str, set[str]] = {}
        """Notice code -> rooms that acknowledged it while reminders were being sent."""
        self._task_of: dict[int, asyncio.Task[None]] = {}
        """The sending task of each notice with one."""
        self.replan_delays_s: list[float] = []
        """For each account state change that re-planned a run: seconds until the new plan."""
        messenger.add_state_listener(self._on_account_state)
        self.last_writer: OutboxWriter | None = None
        self.last_plan_reach_s: float | None = None
        """When the latest (re-)plan said the last group would be reached (from the start)."""

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    # --- planning -------------------------------------------------------------------

    def planner_accounts(
        self,
        *,
        now_s: float = 0.0,
        empty_buckets: bool = False,
        reserve: bool = True,
        rate_share: float = 1.0,
    ) -> list[planner.Account]:
        """The messenger's accounts as the planner sees them right now.

        With ``reserve`` (for plans that will be sent) each bucket is planned one token
        short (see :data:`core.messaging.SAFETY_RESERVE`); without it, the accounts' configured
        limits (for the lower bound).
        """
        out = []
        for sender in self._messenger.sender_states():
            waiting = sender.throttled_for_s
            if sender.status is AccountStatus.ONLINE and waiting > 0:
                status, available = AccountStatus.THROTTLED, now_s + waiting
            elif sender.status is AccountStatus.ONLINE:
                status, available = AccountStatus.ONLINE, now_s
            elif sender.status is AccountStatus.THROTTLED:
                status, available = AccountStatus.THROTTLED, now_s + waiting
            elif sender.status is AccountStatus.LOGGED_OUT:
                status, available = AccountStatus.LOGGED_OUT, now_s
            else:
                status, available = AccountStatus.DISCONNECTED, now_s
            out.append(
                planner.Account(
                    id=sender.account_id,
                    rate=sender.rate * rate_share,
                    burst=max(1, int(usable_burst(sender.burst) * rate_share))
                    if reserve
                    else sender.burst,
                    status=status,
                    available_from=available,
                    tokens=0.0 if empty_buckets else None,
                )
            )
        return out

    def _margin(self) -> float:
        rates = [sender.rate for sender in self._messenger.sender_states()] or [1.0]
        return MARGIN_FRACTION / max(rates)

    async def prepare(self, request: NoticeRequest) -> Prepared:
        """Validate, plan and store a notice pending confirmation (nothing is sent)."""
        title, body = compose.validate(request.title, request.body)
        levels = compose.parse_levels(request.levels)
        if not 1 <= request.deadline_s <= 86_400:
            raise compose.NoticeInvalid("时限应在 1 秒到 1 天之间")
        if not await self._messenger.wait_rooms():
            log.warning("planning before every account's rooms are known")
        now = self._clock()

        def build(session: Session) -> Prepared:
            parent_id = None
            if request.parent_code is not None:
                parent = service.notice_by_code(session, request.parent_code)
                parent_id = parent.id
                scope = session.get(OrgUnit, parent.scope_org_unit_id)
                assert scope is not None
                # A correction of a notice still being sent is planned for the groups it
                # is to reach too, and waits for it (see _send_notice).
                targets = service.sent_targets(
                    session, parent, with_open=request.kind is NoticeKind.CORRECTION
                )
            else:
                scope = service.scope_unit(session, request.scope, town=self._town)
                targets = service.target_groups(session, scope, levels)
            started = time.perf_counter()
            accounts = self.planner_accounts()
            groups = service.planner_groups(targets)
            plan = planner.plan_delivery(groups, accounts, margin_s=self._margin())
            bound = planner.plan_delivery(
                groups, self.planner_accounts(reserve=False)
            ).lower_bound_s
            lost, under = self._plan_under_loss(groups, accounts)
            plan_ms = (time.perf_counter() - started) * 1000
            notice = service.create_notice(
                session,
                title=title,
                body=body,
                scope=scope,
                levels=levels,
                priority=request.priority,
                deadline_s=request.deadline_s,
                ack_required=request.ack_required
                and request.kind in (NoticeKind.NOTICE, NoticeKind.CORRECTION),
                issuer_name=request.issuer_name,
                issuer_person_id=request.issuer_person_id,
                issuer_token_id=request.issuer_token_id,
                channel=request.channel,
                targets=targets,
                plan=plan,
                now=now,
                kind=request.kind,
                parent_id=parent_id,
            )
            notice.lower_bound_s, notice.plan_ms = bound, plan_ms
            return Prepared(
                code=notice.code,
                groups=len(targets),
                reachable=len(plan.deliveries),
                unreachable=len(plan.unreachable),
                lower_bound_s=bound,
                predicted_reach_s=plan.predicted_reach_s,
                deadline_s=request.deadline_s,
                meets_deadline=plan.meets_deadline(request.deadline_s),
                advice=advice_zh(plan, request.deadline_s),
                plan_ms=plan_ms,
                loss_budget=self._loss_budget,
                lost_accounts=lost,
                predicted_reach_under_loss_s=under.predicted_reach_s if under else None,
                unreachable_under_loss=len(under.unreachable) - len(plan.unreachable)
                if under
                else 0,
            )

        return await run_in_session(self._engine, build)

    def _plan_under_loss(
        self, groups: Sequence[planner.Group], accounts: Sequence[planner.Account]
    ) -> tuple[tuple[str, ...], planner.DeliveryPlan | None]:
        """The plan if the loss budget's worth of accounts were lost at the start, those
        whose groups have the fewest alternatives (the worst moment for capacity)."""
        usable = [a.id for a in accounts if a.usable]
        count = membership.accounts_lost(self._loss_budget, len(usable))
        if not count or not groups:
            return (), None
        members = {g.id: g.members & set(usable) for g in groups}
        lost = membership.adversarial_loss(members, usable, count)
        left = [a for a in accounts if a.id not in lost]
        return lost, planner.plan_delivery(groups, left, margin_s=self._margin())

    def store_reminders(
        self,
        session: Session,
        parent: Notice,
        groups: Sequence[chasing.SilentGroup],
        now: datetime,
    ) -> Notice:
        """A reminder notice for ``groups`` of ``parent``, ready to send (:meth:`start`):
        one outbox row per group, planned at the reminders' share of the accounts."""
        scope = session.get(OrgUnit, parent.scope_org_unit_id)
        assert scope is not None and parent.id is not None
        members = service.group_members(session, {g.chat_group_id for g in groups})
        targets = [
            service.TargetGroup(
                g.chat_group_id,
                g.room_id,
                g.level.value,
                g.unit.id or 0,
                "",
                members.get(g.chat_group_id, frozenset()),
            )
            for g in groups
        ]
        accounts = self.planner_accounts(rate_share=self._reminder_rate_share)
        plan = planner.plan_delivery(
            service.planner_groups(targets), accounts, margin_s=self._margin()
        )
        reminder = service.create_notice(
            session,
            title=parent.title,
            body="",
            scope=scope,
            levels=parent.levels,
            priority=parent.priority,
            deadline_s=parent.deadline_s,
            ack_required=False,
            issuer_name="催办",
            issuer_person_id=None,
            channel="system",
            targets=targets,
            plan=plan,
            now=now,
            kind=NoticeKind.REMINDER,
            parent_id=parent.id,
        )
        reminder.status, reminder.started_at = NoticeStatus.SENDING, now
        reminder.predicted_reach_s = plan.predicted_reach_s
        return reminder

    def start(self, notice_id: int) -> None:
        """Send a notice already marked ``sending`` (a reminder notice)."""
        self._spawn(notice_id, resumed=False)

    def skip_reminders(self, parent_code: str, room_id: str) -> None:
        """The group answered: a reminder about ``parent_code`` already loaded by a run of
        this process is not sent (its row is cancelled when the sender reaches it). The
        rows not loaded yet were cancelled with the receipt
        (:func:`broadcast.receipts.record_receipt`)."""
        if not self._tasks:
            self._answered.clear()  # nothing is being sent: nothing to remember
            return
        self._answered.setdefault(parent_code, set()).add(room_id)

    # --- sending --------------------------------------------------------------------

    async def confirm(self, code: str) -> None:
        """Start sending a prepared notice (returns at once; see :meth:`wait`)."""

        def start(session: Session) -> int:
            notice = service.notice_by_code(session, code)
            assert notice.id is not None
            # A conditional update, so two confirmations at once (a double click, two
            # #确认) cannot both start a run: only one changes the row.
            claimed = (
                session.connection()
                .execute(
                    update(Notice)
                    .where(col(Notice.id) == notice.id, col(Notice.status) == NoticeStatus.PENDING)
                    .values(status=NoticeStatus.SENDING, started_at=self._clock())
                )
                .rowcount
            )
            if claimed != 1:
                session.refresh(notice)
                raise compose.NoticeInvalid(
                    f"通知 {code} 状态为 {notice.status.value}，不能再次发送"
                )
            return notice.id

        notice_id = await run_in_session(self._engine, start)
        self._spawn(notice_id, resumed=False)

    async def retract(self, code: str) -> service.Stopped:
        """撤回: stop sending ``code`` at once, cancel what it has not sent, and its
        reminders and a correction waiting for it.

        This process's senders stop first, before the database is told: a sender between
        the two could otherwise post one more group after its row was cancelled. A row
        caught mid-post is then ``uncertain`` (it may have arrived: the retraction goes
        there too)."""
        ids = await run_in_session(
            self._engine, lambda s: service.notice_and_open_children(s, code)
        )
        for notice_id in ids:
            if not self._halt(notice_id) and (waiting := self._task_of.get(notice_id)):
                waiting.cancel()  # a correction still waiting for the original
        stopped = await run_in_session(self._engine, lambda s: service.stop_notice(s, code))
        for child in stopped.children:  # one that started meanwhile
            if not self._halt(child) and (waiting := self._task_of.get(child)):
                waiting.cancel()
        return stopped

    def _halt(self, notice_id: int) -> bool:
        """Stop a run's senders now (no re-plan starts new ones); False: no run here."""
        run = self._runs.get(notice_id)
        if run is None:
            return False
        run.retracted = True
        for queue in run.queues.values():
            queue.clear()
        if run.replan_at is not None:
            run.replan_at.cancel()
            run.replan_at = None
        for worker in run.workers.values():
            worker.cancel()
        return True

    async def cancel(self, code: str) -> None:
        def drop(session: Session) -> None:
            notice = service.notice_by_code(session, code)
            if notice.status is not NoticeStatus.PENDING:
                raise compose.NoticeInvalid(f"通知 {code} 已开始发送，请用 #撤回 {code}")
            notice.status = NoticeStatus.CANCELLED
            service.cancel_open(session, notice)

        await run_in_session(self._engine, drop)

    async def send(self, request: NoticeRequest) -> Prepared:
        prepared = await self.prepare(request)
        await self.confirm(prepared.code)
        return prepared

    async def resume(self) -> list[int]:
        """On start: rows caught mid-send become uncertain; notices that were sending go on."""
        notice_ids = await run_in_session(
            self._engine, lambda s: service.recover_interrupted(s, resend=self._resend_uncertain)
        )
        for notice_id in notice_ids:
            self._spawn(notice_id, resumed=True)
        return notice_ids

    def _spawn(self, notice_id: int, *, resumed: bool, late: bool = False) -> None:
        if notice_id in self._active:  # one run per notice, whoever asks
            return
        self._active.add(notice_id)
        task = asyncio.create_task(
            self._send_notice(notice_id, resumed=resumed, late=late), name=f"notice-{notice_id}"
        )
        self._tasks.add(task)
        self._task_of[notice_id] = task
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(lambda _: self._active.discard(notice_id))
        task.add_done_callback(lambda _: self._task_of.pop(notice_id, None))

    async def wait(self, code: str) -> None:
        """Until the notice's run has ended (all rows final); wrap in ``asyncio.timeout``."""
        while True:
            run = next((r for r in self._runs.values() if r.code == code), None)
            if run is not None:
                await run.done.wait()
                return
            status = await run_in_session(
                self._engine, lambda s: service.notice_by_code(s, code).status
            )
            if status in (NoticeStatus.DONE, NoticeStatus.CANCELLED, NoticeStatus.RECALLED):
                return
            await asyncio.sleep(0.05)

    async def idle(self) -> None:
        """Until no notice of this process is being sent (wrap in ``asyncio.timeout``)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def progress(self, code: str) -> dict[str, int] | None:
        run = next((r for r in self._runs.values() if r.code == code), None)
        if run is None:
            return None
        pending = sum(len(q) for q in run.queues.values())
        return {
            "sent": run.sent,
            "failed": run.failed,
            "unreachable": run.unreachable,
            "pending": pending,
        }

    async def stop(self) -> None:
        self._stopping = True
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _send_notice(self, notice_id: int, *, resumed: bool, late: bool = False) -> None:
        """Send the open rows of a notice; ``late``: only the rows reopened for an account
        that came back (an uncertain row stays as it is)."""
        writer = OutboxWriter(self._engine)
        self.last_writer = writer
        writer.start()
        try:
            if not await self._messenger.wait_rooms():  # on a restart: let the accounts settle
                log.warning("notice %s: sending before every account's rooms are known", notice_id)
            await self._after_original(notice_id)
            loaded = await run_in_session(self._engine, lambda s: self._load(s, notice_id, late))
            if loaded is None:
                return
            notice, text, items, members, parent_code = loaded
            run = _Run(notice_id, notice.code, text, time.monotonic(), items, members, writer)
            run.parent_code = parent_code
            if notice.kind is NoticeKind.REMINDER and parent_code is not None:
                run.rate_share = self._reminder_rate_share
                run.skip_rooms = self._answered.setdefault(parent_code, set())
            self._runs[notice_id] = run
            self._plan(run, list(items.values()), empty_buckets=resumed)
            failures: list[BaseException] = []
            # Loop: a failover may start workers while others are finishing.
            while True:
                pending = [t for t in run.workers.values() if not t.done()]
                if pending:
                    results = await asyncio.gather(*pending, return_exceptions=True)
                    failures += [  # a sender cancelled by a retraction (撤回) did not fail
                        r
                        for r in results
                        if isinstance(r, BaseException)
                        and not isinstance(r, asyncio.CancelledError)
                    ]
                elif run.replan_at is not None:  # a re-plan is due: it may start senders
                    await asyncio.sleep(REPLAN_COALESCE_S)
                else:
                    break
            run.closing = True
            if run.replan_at is not None:
                run.replan_at.cancel()
            await writer.close()
            if failures:
                # Left "sending": the next start resumes it from the outbox.
                log.error(
                    "notice %s: %d sender(s) failed: %r", run.code, len(failures), failures[0]
                )
            else:
                await run_in_session(
                    self._engine, lambda s: service.finish(s, notice_id, self._clock())
                )
            run.done.set()
        except asyncio.CancelledError:
            await writer.close()
            raise
        except Exception:
            log.exception("notice %s: sending stopped", notice_id)
            await writer.close()
        finally:
            run_ = self._runs.pop(notice_id, None)
            if run_ is not None:
                run_.done.set()

    async def _after_original(self, notice_id: int) -> None:
        """A correction of a notice still being sent waits until the original's run has
        ended, then goes only to the groups the original reached."""

        def parent_of(session: Session) -> tuple[str, float] | None:
            notice = session.get(Notice, notice_id)
            if notice is None or notice.kind is not NoticeKind.CORRECTION or not notice.parent_id:
                return None
            parent = session.get(Notice, notice.parent_id)
            if parent is None or parent.status is not NoticeStatus.SENDING:
                return None
            return parent.code, parent.deadline_s

        waiting = await run_in_session(self._engine, parent_of)
        if waiting is not None:
            code, deadline_s = waiting
            try:  # a run that cannot end (its accounts gone) does not hold the correction
                async with asyncio.timeout(max(3 * deadline_s, 60.0)):
                    await self.wait(code)
            except TimeoutError:
                log.warning("correction %s: sent before original %s finished", notice_id, code)

        def drop(session: Session) -> None:
            notice = session.get(Notice, notice_id)
            if notice is not None and notice.kind is NoticeKind.CORRECTION and notice.parent_id:
                service.drop_unreached(session, notice)

        await run_in_session(self._engine, drop)

    def _load(
        self, session: Session, notice_id: int, late: bool = False
    ) -> tuple[Notice, str, dict[int, _Item], dict[int, frozenset[str]], str | None] | None:
        notice = session.get(Notice, notice_id)
        if notice is None or notice.status in (NoticeStatus.CANCELLED, NoticeStatus.RECALLED):
            return None
        rows = service.open_deliveries(
            session, notice_id, resend_uncertain=self._resend_uncertain and not late
        )
        members = service.group_members(session, {r.chat_group_id for r in rows})
        items = {
            r.id: _Item(
                r.id,
                r.chat_group_id,
                r.room_id,
                Level(r.level).depth,
                r.planned_offset_s or 0.0,
                r.attempts,
            )
            for r in rows
            if r.id is not None
        }
        parent = session.get(Notice, notice.parent_id) if notice.parent_id else None
        if notice.kind is NoticeKind.REMINDER:
            replies = chasing.reminder_replies(
                session, notice, {i.chat_group_id for i in items.values()}
            )
            for item in items.values():
                item.reply = replies.get(item.chat_group_id)
        text = service.notice_text(session, notice)
        return notice, text, items, members, parent.code if parent else None

    def _plan(self, run: _Run, items: Sequence[_Item], *, empty_buckets: bool = False) -> None:
        """(Re)plan ``items`` from now over the usable accounts, and (re)start senders."""
        if run.retracted:
            return
        now_s = run.elapsed()
        accounts = [
            a
            for a in self.planner_accounts(
                now_s=now_s, empty_buckets=empty_buckets, rate_share=run.rate_share
            )
            if a.id not in run.dropped
        ]
        groups = [
            planner.Group(str(item.delivery_id), item.level, self._members_for(run, item))
            for item in items
        ]
        history = {k: v for k, v in run.history.items()}
        plan = planner.replan(
            groups, accounts, now=now_s, send_history=history, margin_s=self._margin()
        )
        self.last_plan_reach_s = plan.predicted_reach_s
        log.info(
            "notice %s: %d groups planned at %.1f s over %d accounts, last at %.1f s (bound %.1f s)",
            run.code,
            len(plan.deliveries),
            now_s,
            len({d.account_id for d in plan.deliveries}),
            plan.predicted_reach_s,
            plan.lower_bound_s,
        )
        for lost in plan.unreachable:
            item = run.items[int(lost.group_id)]
            if item.delivery_id in run.waiting:
                continue
            run.waiting[item.delivery_id] = item
            run.unreachable += 1
            run.writer.put(
                {
                    "id": item.delivery_id,
                    "state": DeliveryState.UNREACHABLE,
                    "error": service.unreachable_text(lost),
                }
            )
        queues: dict[str, deque[_Item]] = {}
        for delivery in plan.deliveries:
            item = run.items[int(delivery.group_id)]
            if run.waiting.pop(item.delivery_id, None) is not None:
                run.unreachable -= 1
                self._back_to_plan(run, item, f"{delivery.account_id} 恢复可用，补发")
            item.send_at = delivery.send_at
            queues.setdefault(delivery.account_id, deque()).append(item)
        for account_id in set(run.queues) | set(queues):
            run.queues[account_id] = queues.get(account_id, deque())
            event = run.changed.setdefault(account_id, asyncio.Event())
            event.set()
            worker = run.workers.get(account_id)
            if run.queues[account_id] and (worker is None or worker.done()):
                run.workers[account_id] = asyncio.create_task(
                    self._sender(run, account_id), name=f"sender-{run.code}-{account_id}"
                )

    async def _sender(self, run: _Run, account_id: str) -> None:
        queue = run.queues[account_id]
        changed = run.changed[account_id]
        while True:
            queue = run.queues[account_id]
            if not queue:
                return
            item = queue[0]
            delay = run.t0 + item.send_at - SENDING_LEAD_S - time.monotonic()
            if delay > 0:
                changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), delay)
                continue  # re-read the queue head: a re-plan may have changed it
            queue.popleft()
            if item.room_id in run.skip_rooms:
                run.writer.put(
                    {"id": item.delivery_id, "state": DeliveryState.CANCELLED, "error": "已确认"}
                )
                continue
            item.attempts += 1
            await run.writer.put_and_wait(
                {
                    "id": item.delivery_id,
                    "state": DeliveryState.SENDING,
                    "account_id": account_id,
                    "attempts": item.attempts,
                }
            )
            wait = run.t0 + item.send_at - time.monotonic()
            if self._jitter_s:
                wait += self._rng.uniform(0, self._jitter_s)
            if wait > 0:
                await asyncio.sleep(wait)
            if account_id in run.dropped:  # lost meanwhile (the messenger said so)
                self._back_to_plan(run, item, f"{account_id} 不可用，改由其他账号发送")
                run.returned.append(item)
                self._schedule_replan(run)
                continue
            posted_at = time.monotonic()
            try:
                message_id = await self._messenger.send_as(
                    account_id, item.reply or Reply(text=run.text, room_id=item.room_id)
                )
            except SendThrottled as exc:
                self._messenger.mark_throttled(account_id, exc.retry_after_s)
                self._back_to_plan(run, item, f"{account_id} 被限流：{exc.reason}")
                self._failover(run, account_id, item)
                continue  # the re-plan may give this account groups after its cool-down
            except AccountUnavailable as exc:
                # A post begun before the account was lost can fail after it is back (the
                # failure takes its time to come): that must not drop it again.
                if self._online_since.get(account_id, -math.inf) < posted_at:
                    run.dropped.add(account_id)
                self._back_to_plan(run, item, f"{account_id} 不可用：{exc.reason}")
                self._failover(run, account_id, item)
                continue  # a dropped account gets nothing more: its queue is empty
            except SendUncertain as exc:
                if self._resend_uncertain and item.attempts < MAX_TRANSIENT_ATTEMPTS:
                    self._retry_later(
                        run, account_id, item, f"第{item.attempts}次发送结果不明：{exc.reason}"
                    )
                else:
                    run.writer.put(
                        {
                            "id": item.delivery_id,
                            "state": DeliveryState.UNCERTAIN,
                            "error": exc.reason,
                        }
                    )
                continue
            except SendFailed as exc:
                if exc.permanent:
                    run.excluded.setdefault(item.delivery_id, set()).add(account_id)
                    others = (
                        run.members.get(item.chat_group_id, frozenset())
                        - run.excluded[item.delivery_id]
                    )
                    if others:
                        self._back_to_plan(run, item, f"{account_id}：{exc.reason}")
                        run.returned.append(item)
                        self._schedule_replan(run)
                    else:
                        run.failed += 1
                        run.writer.put(
                            {
                                "id": item.delivery_id,
                                "state": DeliveryState.FAILED,
                                "error": exc.reason,
                            }
                        )
                elif item.attempts < MAX_TRANSIENT_ATTEMPTS:
                    # Re-planned rather than queued again on this account: another member
                    # of the group with room to spare takes it, and this account's later
                    # posts keep their times (an extra post would push them all back).
                    self._back_to_plan(run, item, f"第{item.attempts}次发送失败：{exc.reason}")
                    run.avoid[item.delivery_id] = account_id
                    run.returned.append(item)
                    self._schedule_replan(run)
                else:
                    run.failed += 1
                    run.writer.put(
                        {
                            "id": item.delivery_id,
                            "state": DeliveryState.FAILED,
                            "error": f"重试{item.attempts}次仍失败：{exc.reason}",
                        }
                    )
                continue
            run.history.setdefault(account_id, []).append(run.elapsed())
            run.sent += 1
            run.writer.put(
                {
                    "id": item.delivery_id,
                    "state": DeliveryState.SENT,
                    "message_id": message_id,
                    "sent_at": self._clock(),
                    "error": None,
                }
            )

    def _members_for(self, run: _Run, item: _Item) -> frozenset[str]:
        """The accounts that may post ``item``: the group's, less those that failed it for
        good, and less the one that just failed it for a while when there is another."""
        members = run.members.get(item.chat_group_id, frozenset()) - run.excluded.get(
            item.delivery_id, set()
        )
        avoid = run.avoid.get(item.delivery_id)
        if avoid is not None and members - {avoid}:
            return members - {avoid}
        return members

    def _retry_later(self, run: _Run, account_id: str, item: _Item, reason: str) -> None:
        """Back into the account's current queue (a re-plan may have replaced it), in time
        order, after a backoff."""
        self._back_to_plan(run, item, reason)
        item.send_at = run.elapsed() + 0.5 * 2**item.attempts
        queue = run.queues.setdefault(account_id, deque())
        ordered = sorted([*queue, item], key=lambda i: i.send_at)
        queue.clear()
        queue.extend(ordered)

    def _back_to_plan(self, run: _Run, item: _Item, reason: str) -> None:
        run.writer.put({"id": item.delivery_id, "state": DeliveryState.PLANNED, "error": reason})

    def _failover(self, run: _Run, account_id: str, item: _Item) -> None:
        """Move everything not yet claimed (this account's first) onto the usable accounts.

        The account stops at once (its queue is emptied); the re-plan follows within
        :data:`REPLAN_COALESCE_S`, shared with the other accounts lost at the same moment."""
        log.warning("notice %s: %s out, re-planning", run.code, account_id)
        queue = run.queues.get(account_id)
        run.returned.append(item)
        if queue:
            run.returned.extend(queue)
            queue.clear()
        self._schedule_replan(run)

    def _replan_all(self, run: _Run, first: list[_Item]) -> None:
        """Re-plan every unclaimed delivery of the run, plus ``first`` and the groups that
        had no usable account (one may be back)."""
        remaining = list(first)
        for queue in run.queues.values():
            remaining.extend(queue)
            queue.clear()
        seen = {item.delivery_id for item in remaining}
        remaining += [item for item in run.waiting.values() if item.delivery_id not in seen]
        self._plan(run, remaining)

    # --- account state changes ------------------------------------------------------

    def _on_account_state(self, account_id: str, status: AccountStatus) -> None:
        """The messenger's listener: a lost account's groups move at once; an account that
        comes back is planned in again, with the groups that were waiting for it."""
        previous = self._status.get(account_id)
        self._status[account_id] = status
        if self._stopping:
            return
        if status in GONE:
            for run in self._runs.values():
                if run.closing or account_id in run.dropped:
                    continue
                run.dropped.add(account_id)
                queue = run.queues.get(account_id)
                if queue:  # it stops now; the others get its groups with the re-plan
                    run.returned.extend(queue)
                    queue.clear()
                    run.changed[account_id].set()
                    self._schedule_replan(run)
        elif status is AccountStatus.ONLINE and previous not in planner.USABLE:
            self._online_since[account_id] = time.monotonic()
            for run in self._runs.values():
                if not run.closing:
                    run.dropped.discard(account_id)
                    self._schedule_replan(run)
            if not self._back:
                task = asyncio.create_task(self._reach_late(), name="late-groups")
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            self._back.add(account_id)

    def _schedule_replan(self, run: _Run) -> None:
        run.events.append(time.monotonic())
        if run.replan_at is None:
            run.replan_at = asyncio.get_running_loop().call_later(
                REPLAN_COALESCE_S, self._replan_now, run
            )

    def _replan_now(self, run: _Run) -> None:
        run.replan_at = None
        events, run.events = run.events, []
        if run.closing or self._runs.get(run.notice_id) is not run:
            return  # finished meanwhile: _reach_late looks in the database
        returned, run.returned = run.returned, []
        self._replan_all(run, returned)
        done = time.monotonic()
        self.replan_delays_s.extend(done - t for t in events)

    async def _reach_late(self) -> None:
        """Groups left ``unreachable`` by finished notices (e.g. at a resume, while their
        accounts were still logged out) that an account back is in: send them now."""
        await asyncio.sleep(LATE_BATCH_S)
        accounts, self._back = sorted(self._back), set()
        for run in list(self._runs.values()):
            if run.closing:  # finishing: its unreachable rows are about to be final
                await run.done.wait()
        since = self._clock() - self._late_window
        active = set(self._active)
        try:
            notice_ids = await run_in_session(
                self._engine,
                lambda s: service.reopen_unreachable(
                    s, account_ids=accounts, since=since, exclude=active
                ),
            )
        except Exception:
            log.exception("accounts %s back: looking for unreachable groups failed", accounts)
            return
        for notice_id in notice_ids:
            log.info("notice %s: %s back, sending its unreachable groups", notice_id, accounts)
            self._spawn(notice_id, resumed=True, late=True)


def advice_zh(plan: planner.DeliveryPlan, deadline_s: float) -> str:
    """What the issuer reads before confirming when the deadline is at risk."""
    lines = []
    if plan.unreachable:
        lines.append(
            f"有 {len(plan.unreachable)} 个群没有可用的机器人账号，无法送达（发送后会列出）。"
        )
    if plan.predicted_reach_s > deadline_s:
        advice = plan.advise(deadline_s)
        line = f"预计超出时限 {advice.late_by_s:.0f} 秒（{advice.late_groups} 个群会晚到）。"
        if advice.extra_accounts:
            line += (
                f"再增加 {advice.extra_accounts} 个机器人账号（每个账号加入这些群）可以按时送达。"
            )
        if advice.bottlenecks:
            b = advice.bottlenecks[0]
            line += f"瓶颈：账号 {'、'.join(b.account_ids[:4])} 负责的 {len(b.group_ids)} 个群只能由它们发送。"
        lines.append(line)
    return "".join(lines)


__all__ = ["Broadcaster", "NoticeRequest", "OutboxWriter", "Prepared", "advice_zh"]
