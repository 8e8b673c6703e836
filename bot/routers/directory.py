"""帮助 and 我的网格长: the first things a resident asks a bound group's bot.

The article: 使有需要的群众能迅速找到所负责的网格长、单元长.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from bot.dispatcher import Context, Holder, Router, reply_in_place
from core.messaging import Reply

LeaderLookup = Callable[[int], Awaitable[Sequence[tuple[str, Holder]]]]
"""org unit id -> (level, holder) for that unit and every unit above it, nearest first."""

FIND_LEADER = frozenset(
    {"我的网格长", "找网格长", "网格长", "我的单元长", "找单元长", "联系网格长"}
)
HELP = frozenset({"帮助", "help", "菜单", "功能", "?", "？"})

_LEADER_ROLES = ("单元长", "第二单元长", "网格长", "网格站站长")

_RESIDENT_HELP = (
    "您好，我是本群的网格助手，可以帮您：\n"
    "1. 反映问题：直接在群里说明情况（如“3栋楼道灯坏了”），我会登记工单、告诉您负责人和办理时限；\n"
    "2. 找负责人：发送“我的网格长”；\n"
    "3. 查进度：发送“我的工单”或“查询 工单号”；\n"
    "4. 收到通知后回复“收到”即为已阅。"
)
_LEADER_HELP = (
    "\n\n您是{roles}，还可以使用：\n"
    "接单 工单号 / 办结 工单号 说明 / 上报 工单号 原因 / 吹哨 工单号 部门 / "
    "改派 工单号 @某人 / 延期 工单号 3天 原因 / 备注 工单号 内容"
)
_OFFICIAL_HELP = "\n发布通知：#通知 范围 标题 / 正文（发送前会让您确认预计送达时间）"
_LIAISON_HELP = "\n\n您是部门联络员，可以使用：报到 工单号 / 办结 工单号 说明"


def _help_text(context: Context) -> str:
    sender = context.sender
    text = _RESIDENT_HELP
    leader_roles = [
        r
        for r, _ in sender.roles
        if r
        in {
            "unit_leader",
            "second_unit_leader",
            "grid_leader",
            "station_chief",
            "town_official",
            "grid_worker",
            "sunk_cadre",
        }
    ]
    if leader_roles:
        from models.enums import Role

        labels = "、".join(dict.fromkeys(Role(r).label for r in leader_roles))
        text += _LEADER_HELP.format(roles=labels)
        if sender.has_role("town_official", "station_chief", "grid_leader"):
            text += _OFFICIAL_HELP
    if sender.has_role("department_liaison"):
        text += _LIAISON_HELP
    return text


def _leader_text(context: Context, chain: Sequence[tuple[str, Holder]]) -> str:
    assert context.group is not None
    group = context.group
    lines = [f"本群属于：{'/'.join(group.path) or group.name}"]
    shown = 0
    for role in _LEADER_ROLES:
        for _level, holder in chain:
            if holder.role == role:
                lines.append(f"{holder.role}：{holder.name}  {holder.phone_masked}")
                shown += 1
    if group.level == "grid":
        lines.append("各单元的单元长请在单元群里发送“我的网格长”查询。")
    if not shown:
        lines.append("本单位暂未登记负责人，请联系村网格站。")
    return "\n".join(lines)


def directory_router(lookup: LeaderLookup) -> Router:
    router = Router("directory")

    @router.message()
    async def show_help(context: Context) -> Sequence[Reply] | None:
        if context.text.lower() not in HELP:
            return None
        return [reply_in_place(context.message, _help_text(context))]

    @router.message()
    async def find_leader(context: Context) -> Sequence[Reply] | None:
        if context.text not in FIND_LEADER:
            return None
        if context.group is None:
            if context.message.room_id is None:
                return [
                    reply_in_place(
                        context.message,
                        "请在您所在的单元群或网格群里发送“我的网格长”，我会告诉您负责人。",
                    )
                ]
            return [
                reply_in_place(
                    context.message, "本群尚未登记到网格，暂时查不到负责人，请联系村网格站。"
                )
            ]
        chain = await lookup(context.group.org_unit_id)
        return [reply_in_place(context.message, _leader_text(context, chain))]

    return router
