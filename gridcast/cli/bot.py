"""``gridcast bot status``: the accounts, the rooms that could not be placed, the groups at
risk, and the people no bot account can write to privately."""

from __future__ import annotations

import dataclasses

import click

from bot.store import accounts_report
from core.config import Settings
from gridcast.cli.tools import echo_json, open_database, with_settings
from models.db import session_scope

STATUS_ZH = {
    "online": "在线",
    "throttled": "限流中",
    "logged_out": "已退出登录",
    "disconnected": "连接中断",
    "starting": "启动中",
    "stopped": "已停止",
}


@click.group()
def bot() -> None:
    """The bot accounts (机器人账号)."""


@bot.command("status")
@with_settings
@click.option("--json", "as_json", is_flag=True)
def status(settings: Settings, as_json: bool) -> None:
    """Account states as last recorded by `gridcast run`, unbound rooms, groups at risk,
    people who cannot be reached privately (no bot account is their friend)."""
    with open_database(settings) as engine, session_scope(engine) as session:
        report = accounts_report(session)
    if as_json:
        echo_json(dataclasses.asdict(report))
        return
    for account in report.accounts:
        state = STATUS_ZH.get(str(account["status"]), str(account["status"]))
        click.echo(
            f"{account['account_id']}  {account['name']}  {state}  {account['groups']} 个群  {account['detail']}"
        )
    if report.unbound:
        click.echo(f"\n无法归属到网格的群 {len(report.unbound)} 个：")
        for room in report.unbound:
            click.echo(
                f"  {room['topic']}（{room['room_id']}，账号 {room['account_id']}）：{room['reason']}"
            )
    if report.groups_without_online_account:
        shown = "、".join(report.groups_without_online_account[:20])
        click.echo(
            f"\n没有在线机器人账号的群 {len(report.groups_without_online_account)} 个：{shown}"
        )
    if report.unreachable_privately:
        click.echo(
            f"\n无法私信的人 {len(report.unreachable_privately)} 位（不是任何机器人账号的好友，私信暂存）："
        )
        for person in report.unreachable_privately:
            where = f"已在「{person['asked_in']}」提醒加好友" if person["asked_in"] else "无法提醒"
            roster = "" if person["in_roster"] else "（不在名册）"
            click.echo(
                f"  {person['name'] or person['contact_id']}{roster}  {person['contact_id']}  "
                f"未送达 {person['undelivered']} 条  自 {str(person['since'])[:16]}  {where}"
            )
