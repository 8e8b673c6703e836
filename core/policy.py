"""Who may do what: the one policy for chat, HTTP and the command line.

Authority comes from the roster: a person holds posts (a town official, a village's
station chief, a grid's leader, a unit's leader, a department's liaison), each with a
scope in the org tree. Config names the system admins; API tokens carry one post of
their own. Every channel turns its caller into a :class:`Principal` and asks
:func:`decide`; a refusal is a value with a Chinese reason, logged and shown as-is.

What happens *inside* a ticket (who may accept, resolve, rate it) is the lifecycle's
rule (:mod:`tickets.lifecycle`), applied to the same people on every channel; this
module decides whether a principal may reach an action and a scope at all.

Everything here is pure.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from models.enums import Role
from models.org import OrgPath

__all__ = [
    "ADMIN_ROLE",
    "AUDIT_ROLES",
    "ISSUER_ROLES",
    "MONITOR_ROLE",
    "Decision",
    "Permission",
    "Post",
    "Principal",
    "audit_scopes",
    "configured_signature",
    "decide",
    "describe_posts",
    "issue_notice_refusal",
    "post_scope_refusal",
    "signature_refusal",
    "within",
]

log = logging.getLogger(__name__)

ADMIN_ROLE = "admin"
"""The system admin's post (accounts, roster import, tokens, the audit trail); not a
roster :class:`models.enums.Role`, it comes from config.yaml ``admins`` or a token."""

MONITOR_ROLE = "monitor"
"""A monitoring system's token (Prometheus): it may read ``/metrics`` and nothing else."""

ISSUER_ROLES = frozenset({Role.TOWN_OFFICIAL, Role.STATION_CHIEF, Role.GRID_LEADER})
"""Posts that may issue notices, each within its own scope."""

AUDIT_ROLES = frozenset({Role.TOWN_OFFICIAL, Role.STATION_CHIEF, Role.GRID_LEADER})
"""Posts that read the audit trail, each within its own scope (and admins: all of it)."""

STAFF_ROLES = frozenset(
    {
        Role.TOWN_OFFICIAL,
        Role.STATION_CHIEF,
        Role.GRID_LEADER,
        Role.GRID_WORKER,
        Role.PARTY_MEMBER,
        Role.SUNK_CADRE,
        Role.UNIT_LEADER,
        Role.SECOND_UNIT_LEADER,
        Role.DEPARTMENT_LIAISON,
    }
)


class Permission(enum.StrEnum):
    """What a request wants to do."""

    PUBLIC = "public"
    """Anyone, signed in or not (health check, sign-in itself, the API description)."""
    SIGNED_IN = "signed_in"
    """Any signed-in person or token (their own profile, sign-out)."""
    VIEW_ORG = "view_org"
    """Read the org tree of a scope (phones masked by the privacy policy)."""
    VIEW_NOTICES = "view_notices"
    """Read notices and their reach within a scope."""
    ISSUE_NOTICE = "issue_notice"
    """Plan and send a notice to a scope."""
    MANAGE_NOTICE = "manage_notice"
    """Confirm, cancel, recall or correct a notice: its issuer, or a town official."""
    ASSIGN_TASK = "assign_task"
    """Assign a task to grids (任务下达): town officials, a station chief in their village."""
    VIEW_TICKETS = "view_tickets"
    """Read the tickets of a scope (a liaison: those whistled to their department)."""
    ACT_ON_TICKET = "act_on_ticket"
    """Reach a ticket's actions; the lifecycle then decides the action itself."""
    VIEW_BOTS = "view_bots"
    """The bot accounts' states (town officials and admins)."""
    ADMIN = "admin"
    """Accounts, roster import, API tokens (system admins only)."""
    VIEW_AUDIT = "view_audit"
    """The audit trail within the caller's scope."""
    VIEW_METRICS = "view_metrics"
    """The Prometheus metrics (admins, town officials and ``monitor`` tokens)."""

    @property
    def label(self) -> str:
        return _PERMISSION_LABELS[self]


_PERMISSION_LABELS = {
    Permission.PUBLIC: "公开访问",
    Permission.SIGNED_IN: "登录",
    Permission.VIEW_ORG: "查看组织架构",
    Permission.VIEW_NOTICES: "查看通知",
    Permission.ISSUE_NOTICE: "发布通知",
    Permission.MANAGE_NOTICE: "确认、取消、撤回、更正或催办通知",
    Permission.ASSIGN_TASK: "下达任务",
    Permission.VIEW_TICKETS: "查看工单",
    Permission.ACT_ON_TICKET: "办理工单",
    Permission.VIEW_BOTS: "查看机器人账号",
    Permission.ADMIN: "系统管理",
    Permission.VIEW_AUDIT: "查看操作记录",
    Permission.VIEW_METRICS: "查看运行指标",
}


@dataclass(frozen=True, slots=True)
class Post:
    """One post someone holds: a roster role (or ``admin``) at an org unit, over the
    scope of that unit.

    ``scope`` is the org path below the town (``()`` is the whole town); a department
    liaison's post has ``department`` and the town as scope.
    """

    role: str
    scope: OrgPath = ()
    department: str | None = None
    """A liaison's department: its code in config.yaml (``justice``)."""
    department_name: str | None = None
    """The department's name (区司法局), shown in :attr:`label`; set where the posts are
    read with the configured departments (:func:`core.departments.department_name`)."""
    title: str | None = None
    """A finer description (综治办主任 on a town official)."""
    unit_id: int | None = None
    """The org unit of a roster post (None for tokens and admins)."""

    @property
    def label(self) -> str:
        if self.role == ADMIN_ROLE:
            return "系统管理员"
        if self.role == MONITOR_ROLE:
            return "监控系统"
        name = Role(self.role).label if self.role in Role.__members__.values() else self.role
        where = self.department_name or self.department or "/".join(self.scope)
        return f"{where}{name}" if where else name


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: a roster person, an API token, or the local admin of the server."""

    kind: str
    """``person``, ``token`` or ``local``."""
    id: str
    """Person id, token id, or ``local``."""
    name: str
    posts: tuple[Post, ...] = ()
    person_id: int | None = None
    signature: str | None = None
    """A token's signature under its notices, fixed by the admin at its creation (its
    name when None); a person always signs with their roster name."""

    @property
    def signs_as(self) -> str:
        """The signature residents read under this principal's notices (落款)."""
        return self.signature or self.name

    @property
    def token_id(self) -> int | None:
        """The API token's id, for a token (the local admin's included)."""
        return int(self.id) if self.kind != "person" and self.id.isdigit() else None

    @property
    def is_admin(self) -> bool:
        return any(post.role == ADMIN_ROLE for post in self.posts)

    def holds(self, *roles: str) -> bool:
        return any(post.role in roles for post in self.posts)

    def departments(self) -> frozenset[str]:
        return frozenset(
            post.department
            for post in self.posts
            if post.role == Role.DEPARTMENT_LIAISON and post.department
        )

    def audit_name(self) -> str:
        return f"{self.name}（{self.kind}:{self.id}）"


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str = ""
    """Why not, in Chinese, naming what is missing."""

    def __bool__(self) -> bool:
        return self.allowed


ALLOW = Decision(True)


def within(path: OrgPath, scope: OrgPath) -> bool:
    """Is ``path`` inside ``scope`` (both below the town)?"""
    return path[: len(scope)] == scope


def _scope_name(scope: OrgPath | None) -> str:
    return "/".join(scope) if scope else "全镇"


def issue_notice_refusal(posts: Iterable[Post], scope: OrgPath) -> str | None:
    """Why these posts may not issue a notice to ``scope``, or None.

    A town official may issue to any scope, a station chief within their village, a
    grid leader within their grid.
    """
    posts = list(posts)
    for post in posts:
        if post.role == ADMIN_ROLE or post.role == Role.TOWN_OFFICIAL:
            return None
        if post.role in (Role.STATION_CHIEF, Role.GRID_LEADER) and within(scope, post.scope):
            return None
    if not any(post.role in ISSUER_ROLES for post in posts):
        return "抱歉，只有镇干部、村网格站站长和网格长可以发布通知。如需发通知，请联系您的网格长。"
    return "抱歉，您只能向自己负责的村或网格发布通知，这个范围超出了您的权限。"


_SCOPE_DEPTHS: dict[str, frozenset[int]] = {
    ADMIN_ROLE: frozenset({0}),
    MONITOR_ROLE: frozenset({0}),
    Role.TOWN_OFFICIAL: frozenset({0}),
    Role.DEPARTMENT_LIAISON: frozenset({0}),
    Role.STATION_CHIEF: frozenset({1}),
    Role.GRID_LEADER: frozenset({2}),
    Role.GRID_WORKER: frozenset({2, 3}),
    Role.SUNK_CADRE: frozenset({2, 3}),
    Role.PARTY_MEMBER: frozenset({2, 3}),
    Role.UNIT_LEADER: frozenset({3}),
    Role.SECOND_UNIT_LEADER: frozenset({3}),
}
"""How deep below the town each post's scope lies (0 the town, 1 a village, 2 a grid,
3 a unit), as the roster places them: a town official's post is the whole town."""

_DEPTH_NAMES = {
    0: "全镇（不填范围）",
    1: "一个村（如 黄霞村）",
    2: "一个网格（如 黄霞村/第16网格）",
    3: "一个单元（如 黄霞村/第16网格/国湄领涵1号楼）",
}


def post_scope_refusal(role: str, scope: OrgPath) -> str | None:
    """Why a post of ``role`` cannot have ``scope`` (a token's post), or None.

    A town official's, a liaison's, a monitor's and an admin's scope is the town; a
    station chief's a village; a grid leader's a grid; a unit leader's a unit (grid
    workers, sunk cadres and party members: a grid or one of its units, as in the
    roster). A post at the wrong depth would be labelled as one thing and act as another
    (a town official's post "of a village" still acts for the whole town): refused.
    """
    depths = _SCOPE_DEPTHS.get(role)
    if depths is None:
        return f"未知的岗位「{role}」"
    if len(scope) in depths:
        return None
    wanted = "或".join(_DEPTH_NAMES[depth] for depth in sorted(depths))
    return f"{Post(role).label}的范围应为{wanted}，不能是「{_scope_name(scope)}」"


def signature_refusal(principal: Principal, requested: str | None) -> str | None:
    """Why ``principal`` may not sign a notice as ``requested``, or None.

    Residents read the signature under a notice as who sent it, so it comes from the
    credentials, never from the request: a signed-in person signs with their roster name,
    a token with the signature the admin fixed when creating it (its name unless another
    was set). Only an admin token (the server's own command line, an operator's script)
    may name the signature per request: an admin can make a token with any signature
    anyway.
    """
    if requested is None or requested == principal.signs_as:
        return None
    if principal.kind != "person" and principal.is_admin:
        return None
    return (
        f"通知的落款由发布者的身份决定：您的通知落款为「{principal.signs_as}」，"
        f"不能落款为「{requested}」（令牌的落款由管理员在创建令牌时设定）"
    )


def configured_signature(principal: Principal, configured: str) -> str:
    """The signature of a notice from a channel that signs with a configured name (a CAP
    warning: ``cap.issuer``, 镇应急管理办公室): that name for callers who speak for the
    whole town (admins, the watched CAP directory, town officials); anyone else's notices
    are signed as themselves (:attr:`Principal.signs_as`), so a grid's token cannot post a
    warning to its grid under the town's emergency office."""
    if principal.is_admin or principal.holds(Role.TOWN_OFFICIAL):
        return configured
    return principal.signs_as


def audit_scopes(principal: Principal) -> list[OrgPath] | None:
    """The scopes whose audit entries ``principal`` may read: None for the whole trail
    (admins, town officials), [] for none (see :data:`AUDIT_ROLES`)."""
    if principal.is_admin or principal.holds(Role.TOWN_OFFICIAL):
        return None
    return [
        post.scope
        for post in principal.posts
        if post.role in (Role.STATION_CHIEF, Role.GRID_LEADER)
    ]


def decide(
    principal: Principal | None,
    permission: Permission,
    *,
    scope: OrgPath | None = None,
    issuer_person_id: int | None = None,
    issuer_token_id: int | None = None,
    department: str | None = None,
) -> Decision:
    """May ``principal`` do ``permission`` on ``scope``?

    ``scope`` is the org path the request targets (``None``: the whole town);
    ``issuer_person_id`` / ``issuer_token_id`` the person or API token that issued the
    notice a MANAGE_NOTICE targets; ``department`` the department a ticket was whistled
    to (for liaisons).
    """
    if permission is Permission.PUBLIC:
        return ALLOW
    if principal is None:
        if permission is Permission.SIGNED_IN:
            return Decision(False, "请先登录")
        return Decision(False, f"请先登录（{permission.label}需要登录）")
    if permission is Permission.SIGNED_IN:
        return ALLOW
    if principal.is_admin:
        return ALLOW
    target = scope if scope is not None else ()
    match permission:
        case Permission.ADMIN:
            return Decision(False, "需要系统管理员权限")
        case Permission.VIEW_METRICS:
            if principal.holds(Role.TOWN_OFFICIAL, MONITOR_ROLE):
                return ALLOW
            return Decision(False, "只有监控令牌、镇干部和系统管理员可以查看运行指标")
        case Permission.VIEW_BOTS:
            if principal.holds(Role.TOWN_OFFICIAL):
                return ALLOW
            return Decision(False, "只有镇干部和系统管理员可以查看机器人账号")
        case Permission.ISSUE_NOTICE:
            refusal = issue_notice_refusal(principal.posts, target)
            return ALLOW if refusal is None else Decision(False, refusal)
        case Permission.MANAGE_NOTICE:
            if principal.holds(Role.TOWN_OFFICIAL):
                return ALLOW
            if issuer_person_id is not None and principal.person_id == issuer_person_id:
                return ALLOW
            if issuer_token_id is not None and principal.token_id == issuer_token_id:
                return ALLOW
            return Decision(False, "只有通知的发布人或镇干部可以确认、取消、撤回、更正或催办通知")
        case Permission.ASSIGN_TASK:
            for post in principal.posts:
                if post.role == Role.TOWN_OFFICIAL:
                    return ALLOW
                if post.role == Role.STATION_CHIEF and within(target, post.scope):
                    return ALLOW
            if principal.holds(Role.STATION_CHIEF):
                return Decision(False, f"「{_scope_name(target)}」不在您的村，不能下达任务")
            return Decision(False, "只有镇干部和村网格站站长可以下达任务")
        case Permission.VIEW_TICKETS | Permission.ACT_ON_TICKET:
            if department is not None and department in principal.departments():
                return ALLOW
            return _in_scope(principal, target, permission)
        case Permission.VIEW_AUDIT:
            for post in principal.posts:
                if post.role == Role.TOWN_OFFICIAL:
                    return ALLOW
                if post.role in AUDIT_ROLES and within(target, post.scope):
                    return ALLOW
            if not principal.holds(*AUDIT_ROLES):
                return Decision(
                    False, "只有镇干部、村网格站站长、网格长和系统管理员可以查看操作记录"
                )
            return Decision(
                False,
                f"「{_scope_name(target)}」不在您负责的范围内"
                f"（{describe_posts(principal.posts)}），不能{permission.label}",
            )
        case Permission.VIEW_ORG | Permission.VIEW_NOTICES:
            return _in_scope(principal, target, permission)
        case Permission.PUBLIC | Permission.SIGNED_IN:  # pragma: no cover - handled above
            return ALLOW
    return Decision(False, f"没有{permission.label}的权限")  # pragma: no cover


def _in_scope(principal: Principal, target: OrgPath, permission: Permission) -> Decision:
    for post in principal.posts:
        if post.role == Role.TOWN_OFFICIAL:
            return ALLOW
        if post.role == Role.DEPARTMENT_LIAISON:
            continue  # a liaison sees only what was whistled to their department
        if post.role in STAFF_ROLES and within(target, post.scope):
            return ALLOW
    if not principal.posts:
        return Decision(False, f"您不在花名册的任何岗位上，不能{permission.label}")
    return Decision(
        False,
        f"「{_scope_name(target)}」不在您负责的范围内（{describe_posts(principal.posts)}），"
        f"不能{permission.label}",
    )


def describe_posts(posts: Iterable[Post]) -> str:
    return "、".join(post.label for post in posts) or "无岗位"
