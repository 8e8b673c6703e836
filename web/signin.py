"""Sign-in for every person in the roster: a one-time code the bot sends privately on
WeChat, or a password the person set. Sessions live in an encrypted cookie.

Codes: 6 digits, valid 5 minutes, single use, at most 5 tries; at most one code a
minute and 5 an hour per phone, and 20 an hour per client address. Passwords: argon2;
at most 10 failures an hour per phone and 30 per client address. Every sign-in, failed
or not, is in the audit trail. The answers do not say whether the phone is in the roster:
a code request and a sign-in get the same text and status, and the same limits, for any
phone. Sign-out ends the session on the server (a revoked session id), not only in the
browser.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

from aiohttp import web
from aiohttp_session import get_session, new_session
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import Field
from sqlalchemy import func
from sqlmodel import Session, col, select

from bot.desk import Desk
from core.clock import utcnow
from core.messaging import Reply
from core.policy import Permission, describe_posts
from core.privacy import mask_phone
from models.auth import AuditEntry, AuditOutcome, Credential, SignInCode
from models.db import run_in_session
from models.org import Person
from orgtree.principals import bind_contact, person_principal
from orgtree.roster import normalize_phone
from web.endpoints import Api, ApiError, Strict
from web.keys import DESK, ENGINE, SETTINGS
from web.security import (
    CSRF_HEADER,
    SESSION_ID,
    audit,
    client_address,
    new_session_id,
    principal_of,
    revoke_session,
)

CODE_TTL = timedelta(minutes=5)
CODE_TRIES = 5
CODE_INTERVAL = timedelta(minutes=1)
CODES_PER_PHONE_HOUR = 5
CODES_PER_CLIENT_HOUR = 20
PASSWORD_FAILURES_PER_PHONE_HOUR = 10
PASSWORD_FAILURES_PER_CLIENT_HOUR = 30
MIN_PASSWORD_CHARS = 8
CODE_REQUESTED = "signin.code"
"""The audit action of a code request (sent, failed, or for a phone nobody can get it on):
the per-phone and per-client limits count these."""
CODE_NOT_SENT = "signin.code.failed"
"""The audit action of a code that could not be sent (after the answer)."""
CODE_SENDS: web.AppKey[set[asyncio.Task[None]]] = web.AppKey("code_sends", set)
"""The sign-in codes being sent after their answer (see :func:`code_sends_ctx`)."""
CODE_LIMITED = "signin.code.limited"
"""The audit action of a code request refused for a limit (not counted again)."""
CODE_FAILED = "验证码错误或已过期（每个验证码最多可试5次），请核对或重新获取"
"""The one answer to every failed code sign-in: whether the phone is in the roster, has
a code, or used up its tries, the answer is the same."""

_hasher = PasswordHasher()

api = Api()


PHONE = r"^1[3-9]\d{9}$"


class CodeIn(Strict):
    phone: str = Field(pattern=PHONE, description="11位手机号")


class CodeOut(Strict):
    message: str
    expires_in_s: int


class SignInIn(Strict):
    phone: str = Field(pattern=PHONE, description="11位手机号")
    code: str | None = Field(default=None, pattern=r"^\d{6}$")
    password: str | None = Field(default=None, min_length=1, max_length=200)


class PostOut(Strict):
    role: str
    scope: str
    department: str | None = None
    label: str


class MeOut(Strict):
    kind: str
    id: str
    name: str
    posts: list[PostOut]
    is_admin: bool
    csrf_token: str | None = Field(
        default=None, description=f"send it as {CSRF_HEADER} on every state-changing request"
    )


class PasswordIn(Strict):
    current_password: str | None = Field(default=None, max_length=200)
    new_password: str = Field(min_length=MIN_PASSWORD_CHARS, max_length=200)


class DoneOut(Strict):
    message: str


def _phone_target(phone: str) -> str:
    """How a phone appears in the audit trail: masked, plus a short hash that tells two
    phones with the same mask apart (for the failure counts)."""
    return f"{mask_phone(phone)}#{hashlib.sha256(phone.encode()).hexdigest()[:8]}"


def _code_hash(code: str, person_id: int) -> str:
    return hashlib.sha256(f"{person_id}:{code}".encode()).hexdigest()


def _phone(text: str) -> str:
    phone = normalize_phone(text)
    if phone is None:
        raise ApiError(400, "请输入11位手机号", problems=[f"phone: {text!r}"])
    return phone


@api.endpoint(
    "POST",
    "/api/auth/code",
    permission=Permission.PUBLIC,
    summary="Send a one-time sign-in code to the person's WeChat",
    body=CodeIn,
    response=CodeOut,
    status=202,
    errors=(400, 429, 503),
    tag="auth",
)
async def request_code(request: web.Request, *, body: CodeIn) -> CodeOut:
    phone = _phone(body.phone)
    client = client_address(request)
    now = utcnow()
    desk = request.app.get(DESK)
    if desk is None:
        raise ApiError(503, "本进程没有运行机器人，无法发送验证码；请用密码登录")
    code = f"{secrets.randbelow(1_000_000):06d}"

    target = _phone_target(phone)

    def issue(session: Session) -> tuple[str, str] | str:
        # The limits count requests for the phone, whoever it belongs to: a phone not in
        # the roster is limited like one in it, so the answers cannot tell them apart.
        by_phone, by_client = _code_requests(
            session, phone_target=target, client=client, since=now - timedelta(hours=1)
        )
        if by_client >= CODES_PER_CLIENT_HOUR:
            return "请求验证码太频繁，请一小时后再试"
        if len(by_phone) >= CODES_PER_PHONE_HOUR:
            return "该手机号请求验证码太频繁，请一小时后再试"
        if by_phone and now - by_phone[0] < CODE_INTERVAL:
            return "一分钟内只能请求一次验证码，请稍后再试"
        person = session.exec(select(Person).where(Person.phone == phone)).first()
        if person is None or person.id is None:
            return ""
        contact = person.wechat_id
        if contact is None:
            return ""  # nobody to send to: answered like an unknown phone
        session.add(
            SignInCode(
                person_id=person.id,
                contact_id=contact,
                code_hash=_code_hash(code, person.id),
                created_at=now,
                expires_at=now + CODE_TTL,
                client=client,
            )
        )
        return contact, person.name

    outcome = await run_in_session(request.app[ENGINE], issue)
    if isinstance(outcome, str) and outcome:
        await audit(
            request,
            CODE_LIMITED,
            outcome=AuditOutcome.REFUSED,
            target=target,
            message=outcome,
        )
        raise ApiError(429, outcome, headers={"Retry-After": "60"})
    if isinstance(outcome, tuple):
        contact, name = outcome
        text = (
            f"【网格通】{name}您好，您的登录验证码是 {code}，{int(CODE_TTL.total_seconds() // 60)}分钟内有效。"
            "如非本人操作，请忽略并告知网格长。"
        )
        await audit(
            request, CODE_REQUESTED, target=target, message="验证码交由机器人通过微信私信发送"
        )
        # Sent after the answer: an answer that waited for WeChat would come later for a
        # roster phone than for another, and tell them apart by its timing.
        sends = request.app[CODE_SENDS]
        task = asyncio.create_task(
            _send_code(request, desk, Reply(text=text, contact_id=contact), target=target)
        )
        sends.add(task)
        task.add_done_callback(sends.discard)
    else:
        await audit(
            request,
            "signin.code",
            outcome=AuditOutcome.REFUSED,
            target=target,
            message="花名册中没有可发送验证码的微信",
        )
    return CodeOut(
        message="如果该手机号在花名册中并已登记微信，验证码已通过微信私信发送。",
        expires_in_s=int(CODE_TTL.total_seconds()),
    )


async def _send_code(request: web.Request, desk: Desk, reply: Reply, *, target: str) -> None:
    """Send a sign-in code; a failure (the person cannot be reached) is audited."""
    try:
        await desk.send(reply)
    except Exception as exc:
        await audit(
            request,
            CODE_NOT_SENT,
            outcome=AuditOutcome.FAILED,
            target=target,
            message=f"验证码未能发送：{exc}",
        )


async def code_sends_ctx(app: web.Application) -> AsyncIterator[None]:
    """The sign-in codes still being sent when the application stops: given a few seconds,
    then cancelled."""
    yield
    running: set[asyncio.Task[None]] = app[CODE_SENDS]
    sends = set(running)
    if sends:
        await asyncio.wait(sends, timeout=5)
        for task in sends:
            task.cancel()
        # Let the cancelled ones unwind (a transaction they hold goes back to the pool)
        # before the database's context disposes the engine.
        await asyncio.gather(*sends, return_exceptions=True)


def _code_requests(
    session: Session, *, phone_target: str, client: str, since: datetime
) -> tuple[list[datetime], int]:
    """The code requests since ``since`` that were not refused for a limit: their times
    for this phone (newest first), and how many came from this client address."""
    base = select(AuditEntry.at).where(
        AuditEntry.action == CODE_REQUESTED, col(AuditEntry.at) > since
    )
    by_phone = session.exec(
        base.where(AuditEntry.target == phone_target).order_by(col(AuditEntry.at).desc())
    ).all()
    by_client = session.exec(
        select(func.count())
        .select_from(AuditEntry)
        .where(
            AuditEntry.action == CODE_REQUESTED,
            col(AuditEntry.at) > since,
            AuditEntry.source == client,
        )
    ).one()
    return list(by_phone), int(by_client)


def _password_failures(
    session: Session, *, phone_target: str, client: str, since: datetime
) -> tuple[int, int]:
    base = (
        select(func.count())
        .select_from(AuditEntry)
        .where(
            AuditEntry.action == "signin",
            AuditEntry.outcome == AuditOutcome.REFUSED,
            col(AuditEntry.at) > since,
        )
    )
    by_phone = session.exec(base.where(AuditEntry.target == phone_target)).one()
    by_client = session.exec(base.where(AuditEntry.source == client)).one()
    return int(by_phone), int(by_client)


@api.endpoint(
    "POST",
    "/api/auth/signin",
    permission=Permission.PUBLIC,
    summary="Sign in with the WeChat code or a password; sets the session cookie",
    body=SignInIn,
    response=MeOut,
    errors=(400, 401, 429),
    tag="auth",
)
async def sign_in(request: web.Request, *, body: SignInIn) -> MeOut:
    if (body.code is None) == (body.password is None):
        raise ApiError(400, "请提供验证码或密码（二者之一）")
    phone = _phone(body.phone)
    target = _phone_target(phone)
    client = client_address(request)
    settings = request.app[SETTINGS]
    now = utcnow()

    def check(session: Session) -> tuple[int | None, str]:
        person = session.exec(select(Person).where(Person.phone == phone)).first()
        if body.code is not None:
            if person is None or person.id is None:
                return None, CODE_FAILED
            row = session.exec(
                select(SignInCode)
                .where(
                    SignInCode.person_id == person.id,
                    col(SignInCode.used_at).is_(None),
                    col(SignInCode.expires_at) > now,
                )
                .order_by(col(SignInCode.created_at).desc())
            ).first()
            if row is None or row.tries >= CODE_TRIES:
                return None, CODE_FAILED
            row.tries += 1
            if not hmac.compare_digest(row.code_hash, _code_hash(body.code, person.id)):
                session.add(row)
                return None, CODE_FAILED
            row.used_at = now
            session.add(row)
            if person.wechat_id != row.contact_id:
                bind_contact(
                    session,
                    contact_id=row.contact_id,
                    person_id=person.id,
                    via="sign_in_code",
                    now=now,
                )
            return person.id, "验证码"
        by_phone, by_client = _password_failures(
            session, phone_target=target, client=client, since=now - timedelta(hours=1)
        )
        if (
            by_phone >= PASSWORD_FAILURES_PER_PHONE_HOUR
            or by_client >= PASSWORD_FAILURES_PER_CLIENT_HOUR
        ):
            return None, "密码错误次数太多，请一小时后再试或用微信验证码登录"
        credential = (
            session.get(Credential, person.id)
            if person is not None and person.id is not None
            else None
        )
        if credential is None:
            _hasher.hash("timing-equaliser")  # do not reveal who has a password by timing
            return None, "手机号或密码错误"
        try:
            _hasher.verify(credential.password_hash, body.password or "")
        except (VerificationError, InvalidHashError):
            return None, "手机号或密码错误"
        assert person is not None
        return person.id, "密码"

    person_id, how = await run_in_session(request.app[ENGINE], check)
    if person_id is None:
        await audit(
            request,
            "signin",
            outcome=AuditOutcome.REFUSED,
            target=target,
            message=how,
            actor_name=target,
        )
        status = 429 if how.startswith("密码错误次数太多") else 401
        raise ApiError(status, how, code="rate_limited" if status == 429 else "signin_failed")
    principal = await run_in_session(
        request.app[ENGINE],
        lambda s: person_principal(
            s, person_id, admins=settings.admins, departments=settings.departments
        ),
    )
    assert principal is not None
    session = await new_session(request)
    session["person_id"] = person_id
    session[SESSION_ID] = new_session_id()
    session["csrf"] = secrets.token_urlsafe(24)
    session["signed_in_at"] = now.isoformat()
    await audit(request, "signin", target=target, message=f"以{how}登录", principal=principal)
    return _me(principal, session["csrf"])


def _me(principal: object, csrf: str | None) -> MeOut:
    from core.policy import Principal

    assert isinstance(principal, Principal)
    return MeOut(
        kind=principal.kind,
        id=principal.id,
        name=principal.name,
        posts=[
            PostOut(role=p.role, scope="/".join(p.scope), department=p.department, label=p.label)
            for p in principal.posts
        ],
        is_admin=principal.is_admin,
        csrf_token=csrf,
    )


@api.endpoint(
    "GET",
    "/api/auth/me",
    permission=Permission.SIGNED_IN,
    summary="Who is signed in, their posts, and the CSRF token",
    response=MeOut,
    errors=(401,),
    tag="auth",
)
async def me(request: web.Request) -> MeOut:
    principal = principal_of(request)
    session = await get_session(request)
    csrf = session.get("csrf") if principal is not None and principal.kind == "person" else None
    return _me(principal, csrf if isinstance(csrf, str) else None)


@api.endpoint(
    "POST",
    "/api/auth/signout",
    permission=Permission.SIGNED_IN,
    summary="End the session",
    response=DoneOut,
    errors=(401, 403),
    tag="auth",
)
async def sign_out(request: web.Request) -> DoneOut:
    session = await get_session(request)
    session_id = session.get(SESSION_ID)
    if isinstance(session_id, str) and session_id:
        # The cookie could still be decrypted until it expires: end the session here.
        now = utcnow()
        expires_at = now + request.app[SETTINGS].web.session_max_age
        await run_in_session(
            request.app[ENGINE],
            lambda s: revoke_session(s, session_id, now=now, expires_at=expires_at),
        )
    await audit(request, "signout")
    session.invalidate()
    return DoneOut(message="已退出登录")


@api.endpoint(
    "POST",
    "/api/auth/password",
    permission=Permission.SIGNED_IN,
    summary="Set or change one's own password",
    body=PasswordIn,
    response=DoneOut,
    errors=(400, 401, 403),
    tag="auth",
)
async def set_password(request: web.Request, *, body: PasswordIn) -> DoneOut:
    principal = principal_of(request)
    if principal is None or principal.person_id is None:
        raise ApiError(403, "只有花名册中的人员可以设置密码（令牌不能）")
    person_id = principal.person_id
    now = utcnow()
    new_hash = _hasher.hash(body.new_password)

    def write(session: Session) -> str | None:
        credential = session.get(Credential, person_id)
        if credential is not None:
            try:
                _hasher.verify(credential.password_hash, body.current_password or "")
            except (VerificationError, InvalidHashError):
                return "原密码错误"
            credential.password_hash = new_hash
            credential.updated_at = now
        else:
            credential = Credential(person_id=person_id, password_hash=new_hash, updated_at=now)
        session.add(credential)
        return None

    problem = await run_in_session(request.app[ENGINE], write)
    if problem is not None:
        await audit(request, "password.set", outcome=AuditOutcome.REFUSED, message=problem)
        raise ApiError(400, problem)
    await audit(request, "password.set", message=f"{describe_posts(principal.posts)} 设置了密码")
    return DoneOut(message="密码已设置")
