"""``gridcast plan``: sizing the deployment for the three-minute promise under loss."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import click

from broadcast import membership
from broadcast.membership import AccountsAdvice, Invitation, Inviter
from core.config import Settings
from core.privacy import mask_phone
from core.spreadsheet import csv_row, xlsx_row
from gridcast.cli.tools import echo_json, open_database, with_settings

INVITE_HEADERS = ("邀请人", "电话", "职务", "群名", "组织路径", "机器人账号", "账号名称")
"""Columns of the exported invitation list (one row per invitation)."""


@click.group()
def plan() -> None:
    """Plans for the deployment (bot accounts and their groups)."""


@plan.command("accounts")
@with_settings
@click.option(
    "--loss",
    type=float,
    default=None,
    help="Share of accounts WeChat may take away mid-notice (default broadcast.loss_budget).",
)
@click.option("--deadline", type=float, default=None, help="Seconds (default broadcast.deadline).")
@click.option(
    "--per-group", type=int, default=None, help="Force the accounts per group (default: advised)."
)
@click.option(
    "--invites",
    "invites_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the invitation list (.csv or .xlsx), one row per invitation.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def accounts(
    settings: Settings,
    loss: float | None,
    deadline: float | None,
    per_group: int | None,
    invites_file: Path | None,
    as_json: bool,
) -> None:
    """Accounts, accounts per group and the invitations the deadline needs under a loss."""
    from broadcast import engine as broadcast_engine
    from broadcast import planner, service
    from core.messaging import usable_burst
    from models.db import session_scope

    loss = settings.broadcast.loss_budget if loss is None else loss
    if not 0 <= loss < 1:
        raise click.BadParameter("must be in [0, 1)", param_hint="--loss")
    deadline_s = settings.broadcast.deadline.total_seconds() if deadline is None else deadline
    if invites_file is not None and invites_file.suffix.lower() not in (".csv", ".xlsx"):
        raise click.BadParameter("must end in .csv or .xlsx", param_hint="--invites")
    configured = settings.account_settings()
    if per_group is not None and not 1 <= per_group <= len(configured):
        raise click.BadParameter(f"must be 1..{len(configured)}", param_hint="--per-group")
    with open_database(settings) as engine, session_scope(engine) as session:
        groups = service.deployment_groups(session, town=settings.town.name)
    if not groups.levels:
        raise click.ClickException("数据库里还没有组织架构：请先运行 gridcast setup")
    plan_accounts = [planner.Account(a.id, a.rate_per_s, usable_burst(a.burst)) for a in configured]
    margin = broadcast_engine.MARGIN_FRACTION / max(a.rate_per_s for a in configured)
    advice = membership.advise_accounts(
        groups.levels,
        plan_accounts,
        loss=loss,
        deadline_s=deadline_s,
        existing=groups.existing,
        margin_s=margin,
        per_group=per_group,
        seed=settings.sandbox.seed,
    )
    todo = membership.invitations(advice.design.added, groups.inviters)
    names = {a.id: a.name or a.id for a in configured}
    if invites_file is not None:
        write_invitations(invites_file, todo, topics=groups.topics, account_names=names)
    if as_json:
        echo_json(advice_json(advice, todo, has_memberships=bool(groups.existing)))
        return
    click.echo(advice_text(advice, todo, town=settings.town.name, invites_file=invites_file))


def advice_json(
    advice: AccountsAdvice,
    todo: list[tuple[Inviter | None, list[Invitation]]],
    *,
    has_memberships: bool,
) -> dict[str, Any]:
    chosen = advice.chosen
    return {
        "groups": advice.groups,
        "accounts": advice.accounts,
        "loss": advice.loss,
        "accounts_lost": advice.lost,
        "deadline_s": advice.deadline_s,
        "accounts_needed": advice.accounts_needed,
        "accounts_per_group": advice.per_group,
        "expected_reach_s": round(chosen.reach_s, 2),
        "expected_reach_under_loss_s": round(chosen.reach_under_loss_s, 2),
        "unreachable_under_loss": chosen.unreachable_under_loss,
        "lost_accounts": list(chosen.lost_accounts),
        "meets_deadline_under_loss": chosen.meets(advice.deadline_s),
        "options": [
            {
                "accounts_per_group": o.per_group,
                "expected_reach_s": round(o.reach_s, 2),
                "expected_reach_under_loss_s": round(o.reach_under_loss_s, 2),
                "unreachable_under_loss": o.unreachable_under_loss,
                "lost_accounts": list(o.lost_accounts),
                "invitations": o.invitations,
            }
            for o in advice.options
        ],
        "memberships_known": has_memberships,
        "invitations": len(advice.design.added),
        "inviters": [
            {
                "name": who.name if who else None,
                "phone": mask_phone(who.phone) if who else None,
                "role": who.role if who else None,
                "invitations": len(items),
            }
            for who, items in todo
        ],
    }


def advice_text(
    advice: AccountsAdvice,
    todo: list[tuple[Inviter | None, list[Invitation]]],
    *,
    town: str,
    invites_file: Path | None,
) -> str:
    chosen = advice.chosen
    lines = [
        f"{town}：{advice.groups} 个群，{advice.accounts} 个机器人账号；时限 {advice.deadline_s:.0f} 秒，"
        f"损失预算 {advice.loss:.0%}（{advice.lost} 个账号，按最难替代的账号计）。",
        f"按时送达至少需要 {advice.accounts_needed} 个账号（损失后剩余的账号仍能按时发完）。",
        "",
        "每群账号数  无损失预计送达  损失后预计送达  损失后无法送达的群  需邀请次数",
    ]
    for o in advice.options:
        mark = "  ← 推荐" if o.per_group == advice.per_group else ""
        lines.append(
            f"{o.per_group:>6}      {o.reach_s:>8.1f} 秒    {o.reach_under_loss_s:>8.1f} 秒"
            f"     {o.unreachable_under_loss:>8}          {o.invitations:>8}{mark}"
        )
    verdict = "能" if chosen.meets(advice.deadline_s) else "不能"
    lines += [
        "",
        f"推荐每个群 {advice.per_group} 个机器人账号：无损失预计 {chosen.reach_s:.1f} 秒送达，"
        f"损失 {advice.lost} 个账号（{'、'.join(chosen.lost_accounts) or '无'}）后预计 "
        f"{chosen.reach_under_loss_s:.1f} 秒，{verdict}在时限内送达每个群。",
    ]
    added = len(advice.design.added)
    if added:
        people = sum(1 for who, _ in todo if who is not None)
        lines.append(
            f"需要 {added} 次邀请（把机器人账号拉进群），由 {people} 位负责人完成"
            "（邀请前请先加机器人账号为微信好友）："
        )
        for who, items in todo[:5]:
            label = f"{who.role} {who.name}" if who else "无负责人的群（由镇管理员邀请）"
            lines.append(f"  {label}：{len(items)} 次")
        if len(todo) > 5:
            lines.append(f"  ……共 {len(todo)} 人")
        if invites_file is not None:
            lines.append(f"邀请清单已写入 {invites_file}")
        else:
            lines.append("用 --invites 清单.xlsx 导出完整的邀请清单，按人分发。")
    else:
        lines.append("现有的群成员已符合设计，不需要邀请。")
    return "\n".join(lines)


def invitation_rows(
    todo: list[tuple[Inviter | None, list[Invitation]]],
    *,
    topics: dict[str, str],
    account_names: dict[str, str],
) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for who, items in todo:
        for item in items:
            rows.append(
                (
                    who.name if who else "（镇管理员）",
                    who.phone if who else "",
                    who.role if who else "",
                    topics.get(item.group, item.group),
                    item.group,
                    item.account_id,
                    account_names.get(item.account_id, item.account_id),
                )
            )
    return rows


def write_invitations(
    path: Path,
    todo: list[tuple[Inviter | None, list[Invitation]]],
    *,
    topics: dict[str, str],
    account_names: dict[str, str],
) -> None:
    """The invitation list to hand out: one row per invitation, grouped by inviter (full
    phone numbers: it goes to the town's administrator, like a roster export)."""
    rows = invitation_rows(todo, topics=topics, account_names=account_names)
    if path.suffix.lower() == ".xlsx":
        import openpyxl

        book = openpyxl.Workbook()
        sheet = book.active
        sheet.title = "邀请清单"
        sheet.append(list(INVITE_HEADERS))
        for row in rows:
            sheet.append(xlsx_row(sheet, row))
        book.save(path)
        return
    with path.open("w", encoding="utf-8-sig", newline="") as out:  # BOM: Excel reads UTF-8
        writer = csv.writer(out)
        writer.writerow(INVITE_HEADERS)
        writer.writerows(csv_row(row) for row in rows)
