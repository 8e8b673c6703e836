"""``gridcast token`` and ``gridcast audit``: API tokens and the audit trail, on the
server (the command line acts as the local admin: whoever may read the data directory
may run the system)."""

from __future__ import annotations

import click
from sqlmodel import col, select

from core.audit import entries, record
from core.clock import utcnow
from core.config import Settings
from core.departments import department_name
from core.policy import Post
from gridcast.cli.tools import cli_principal, echo_json, open_database, with_settings
from models.auth import ApiToken, AuditChannel
from models.db import session_scope
from orgtree.principals import TOKEN_ROLES, create_token, token_post

ROLES = TOKEN_ROLES


@click.group()
def token() -> None:
    """API tokens for integrations and scripts (接口令牌)."""


@token.command("create")
@with_settings
@click.option("--name", required=True, help="What it is for, e.g. 12345热线.")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--scope", default="", help="Org path below the town (default: the whole town).")
@click.option("--department", default=None, help="For a department liaison's token.")
@click.option(
    "--signature",
    default=None,
    help="The signature (落款) residents read under its notices (default: its name).",
)
def token_create(
    settings: Settings,
    name: str,
    role: str,
    scope: str,
    department: str | None,
    signature: str | None,
) -> None:
    """Create a token; it is printed once and stored only as a hash."""
    if signature is not None and not 1 <= len(signature.strip()) <= 50:
        raise click.ClickException("落款（--signature）应为1到50个字")
    principal = cli_principal()
    now = utcnow()
    with open_database(settings) as engine, session_scope(engine) as session:
        post = token_post(
            session,
            role=role,
            scope=scope,
            department=department,
            departments=settings.departments,
            town=settings.town.name,
        )
        if isinstance(post, str):
            raise click.ClickException(post)
        path, code = post.scope, post.department
        row, secret = create_token(
            session,
            name=name,
            role=role,
            scope=path,
            department=code,
            signature=signature,
            created_by=principal.audit_name(),
            now=now,
        )
        label = Post(
            role, path, department=code, department_name=department_name(code, settings.departments)
        ).label
        record(
            session,
            principal=principal,
            channel=AuditChannel.CLI,
            action="token.create",
            now=now,
            source=principal.id,
            target=f"token:{row.id}",
            scope=path,
            detail={
                "name": name,
                "role": role,
                "scope": scope,
                "department": code,
                "signature": signature,
            },
            message=f"创建令牌「{name}」（{label}）",
        )
    click.echo(f"令牌 {row.id}「{name}」（{label}）已创建。它只显示这一次，请妥善保存：")
    click.echo(secret)


@token.command("list")
@with_settings
@click.option("--json", "as_json", is_flag=True)
def token_list(settings: Settings, as_json: bool) -> None:
    """Every token: role, scope, when last used, whether revoked (never the token)."""
    with open_database(settings) as engine, session_scope(engine) as session:
        rows = list(session.exec(select(ApiToken).order_by(col(ApiToken.id))))
        data = [r.model_dump(mode="json", exclude={"token_hash"}) for r in rows]
    if as_json:
        echo_json(data)
        return
    for r in data:
        state = "已吊销" if r["revoked_at"] else "有效"
        used = r["last_used_at"] or "从未使用"
        click.echo(
            f"{r['id']:>4}  {r['prefix']}…  {r['name']}  {r['role']} {r['scope'] or '全镇'}"
            f"  {state}  最近使用：{used}"
        )


@token.command("revoke")
@with_settings
@click.argument("token_id", type=int)
def token_revoke(settings: Settings, token_id: int) -> None:
    """Revoke a token by its id (requests with it are refused from then on)."""
    principal = cli_principal()
    now = utcnow()
    with open_database(settings) as engine, session_scope(engine) as session:
        row = session.get(ApiToken, token_id)
        if row is None:
            raise click.ClickException(f"没有编号为 {token_id} 的令牌")
        if row.revoked_at is None:
            row.revoked_at = now
            session.add(row)
        record(
            session,
            principal=principal,
            channel=AuditChannel.CLI,
            action="token.revoke",
            now=now,
            source=principal.id,
            target=f"token:{token_id}",
            message=f"吊销令牌「{row.name}」",
        )
    click.echo(f"令牌 {token_id} 已吊销")


@click.group()
def audit() -> None:
    """The audit trail (操作记录): who did what, when, through which channel."""


@audit.command("list")
@with_settings
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--action", default=None, help="Only actions starting with this, e.g. notice.")
@click.option("--json", "as_json", is_flag=True)
def audit_list(settings: Settings, limit: int, action: str | None, as_json: bool) -> None:
    """The newest entries first (the whole trail: the command line is the local admin)."""
    with open_database(settings) as engine, session_scope(engine) as session:
        rows = [
            e.model_dump(mode="json")
            for e in entries(session, scopes=None, limit=limit, action=action)
        ]
    if as_json:
        echo_json(rows)
        return
    for e in rows:
        mark = {"ok": "", "refused": " [拒绝]", "failed": " [失败]"}[e["outcome"]]
        channel = AuditChannel(e["channel"]).label
        click.echo(
            f"{e['at'][:19]}  {channel}  {e['actor']}  {e['action']}{mark}  "
            f"{e['target']}  {e['message']}"
        )


__all__ = ["audit", "token"]
