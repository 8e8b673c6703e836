"""帮助, and "who is my leader": the first things a resident asks a bound group's bot.

The article: 使有需要的群众能迅速找到所负责的网格长、单元长. Residents ask in their own
words (我们这栋的网格长是谁啊？电话多少 / 单元长电话多少 / 有事找谁反映), so
:func:`leader_question` reads the question from its parts — which post, and that it is
a question about a person or a phone — rather than from a list of sentences. Phones are
shown as :mod:`core.privacy` allows: a leader's work phone in full to the residents of
the area the post covers.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from bot.dispatcher import Context, GroupInfo, Holder, Router, reply_in_place
from core.messaging import Reply
from core.privacy import PhoneOwner, Viewer, show_phone

__all__ = ["HELP", "LeaderQuestion", "directory_router", "leader_question"]

LeaderLookup = Callable[[int], Awaitable[Sequence[tuple[str, Holder]]]]
"""org unit id -> (level, holder) for that unit and every unit above it, nearest first."""

HELP = frozenset({"帮助", "help", "菜单", "功能", "?", "？"})

UNIT_POSTS = frozenset({"unit_leader", "second_unit_leader"})
GRID_POSTS = frozenset({"grid_leader"})
VILLAGE_POSTS = frozenset({"station_chief"})
ALL_POSTS = UNIT_POSTS | GRID_POSTS | VILLAGE_POSTS


@dataclass(frozen=True, slots=True)
class LeaderQuestion:
    """Someone asks who leads their unit, grid or village, or how to reach them."""

    posts: frozenset[str]
    """Role codes asked about (all leader posts when the question names none)."""
    wants_phone: bool


# Which post a word names; longer words first so 第二单元长 is not read as 单元长.
_POST_WORDS: tuple[tuple[str, frozenset[str]], ...] = (
    ("第二单元长", frozenset({"second_unit_leader"})),
    ("双单元长", UNIT_POSTS),
    ("网格长", GRID_POSTS),
    ("网格员", GRID_POSTS),
    ("格长", GRID_POSTS),
    ("单元长", UNIT_POSTS),
    ("楼栋长", UNIT_POSTS),
    ("楼长", UNIT_POSTS),
    ("栋长", UNIT_POSTS),
    ("站长", VILLAGE_POSTS),
    ("村书记", VILLAGE_POSTS),
    ("书记", VILLAGE_POSTS),
    ("负责人", ALL_POSTS),
    ("管事的", ALL_POSTS),
)
# Asking for a person or a way to reach them (after a post word, or alone for 找谁…).
_ASK_PERSON = re.compile(r"是谁|谁啊|谁呀|哪位|叫什么|什么名字|姓什么|是哪个|谁是|有没有|在哪|谁$")
_ASK_PHONE = re.compile(
    r"电话|手机|号码|联系方式|怎么联系|如何联系|怎样联系|联系一下|微信|多少号|打给谁|打谁"
)
_ASK_WHOM = re.compile(
    r"(?:找|联系|问|向|跟|和|给|打给)谁|谁(?:负责|管|能管|来管|处理)|(?:该|要|去|能)?找哪(?:个|位)"
)
# A short command naming the post (我的网格长, 找单元长, 联系网格长, 网格长呢).
_BARE = re.compile(
    r"(?:请问)?(?:我的|我们的|咱们的|我们|找|联系|求|要找)?(?:本单元|本网格|这栋|本栋|这里)?的?"
    f"(?:{'|'.join(word for word, _ in _POST_WORDS)})(?:呢|在吗|在不在|在哪)?"
)
# A problem in the message: then it is a report to file, even if it asks whom to tell.
_PROBLEM = re.compile(
    r"坏|堵|漏|吵|噪|臭|垃圾|停水|停电|没水|没电|着火|起火|冒烟|煤气|燃气|打架|违建|占道|"
    r"不管|没人管|乱|脏|积水|塌|裂|被困|受伤|欠薪|拖欠"
)
_NOT_CONTENT = re.compile(r"[\W_]+")
_FILLERS = re.compile(
    r"请问|你好|您好|麻烦|问一下|问下|想问|打听|一下|我们|咱们|我家|这栋|这个|这边|那个|本|小区|"
    r"楼的|栋的|的|啊|呀|吗|呢|哦|嘛|了|是|多少|告诉我|知道"
)
MAX_QUESTION_CHARS = 30
"""Longer messages are reports or chat, not directory questions."""


def _content(text: str) -> str:
    return _NOT_CONTENT.sub("", unicodedata.normalize("NFKC", text)).lower()


def leader_question(text: str) -> LeaderQuestion | None:
    """Whether ``text`` asks who a leader is or how to reach them, and about which post.

    Pure. Reads the question from its parts: a post word (网格长, 单元长, 楼栋长, 站长, 书记,
    负责人 …) with a question about a person (是谁, 哪位, 叫什么) or a phone (电话, 号码,
    联系方式, 怎么联系), or a bare command naming the post (我的网格长, 找单元长), or
    "whom do I tell" without a post (找谁反映, 有事联系谁). A message describing a
    problem is a report, not a question (楼道灯坏了找谁修 is filed as a ticket).
    """
    content = _content(text)
    if not content or len(content) > MAX_QUESTION_CHARS:
        return None
    posts: set[str] = set()
    rest = content
    for word, roles in _POST_WORDS:
        if word in rest:
            posts |= roles
            rest = rest.replace(word, "|")
    wants_phone = bool(_ASK_PHONE.search(content))
    if posts:
        if _PROBLEM.search(content):
            return None
        if (
            wants_phone
            or _ASK_PERSON.search(content)
            or _ASK_WHOM.search(content)
            or _BARE.fullmatch(content)
        ):
            return LeaderQuestion(frozenset(posts), wants_phone)
        return None
    if _PROBLEM.search(content):
        return None
    asks_whom = _ASK_WHOM.search(content)
    if asks_whom is None and not (wants_phone and re.search(r"村里|社区|物业|网格", content)):
        return None
    # Only the question: nothing but fillers and "whom to tell" verbs around it.
    leftover = _FILLERS.sub("", _ASK_WHOM.sub("", _ASK_PHONE.sub("", content)))
    leftover = re.sub(
        r"反映|反应|投诉|报修|求助|咨询|办事|说|问题|事情|事儿|有事|情况|村里|社区|网格",
        "",
        leftover,
    )
    if len(leftover) > 4:
        return None
    return LeaderQuestion(ALL_POSTS, wants_phone)


_RESIDENT_HELP = (
    "您好，我是本群的网格助手，可以帮您：\n"
    "1. 反映问题：直接在群里说明情况（如“3栋楼道灯坏了”），我会登记工单、告诉您负责人和办理时限；\n"
    "2. 找负责人：发送“我的网格长”，或直接问“单元长电话多少”“有事找谁反映”；\n"
    "3. 查进度：发送“我的工单”或“查询 工单号”，也可以直接问“我上次反映的事怎么样了”；\n"
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


_SHOWN_ORDER = ("unit_leader", "second_unit_leader", "grid_leader", "station_chief")


def leader_lines(
    group: GroupInfo,
    chain: Sequence[tuple[str, Holder]],
    question: LeaderQuestion,
    viewer: Viewer,
) -> list[str]:
    """The leaders of ``group`` the question asks about, phones as ``viewer`` may see them."""
    lines = [f"{'/'.join(group.path) or group.name}："]
    # The resident's nearest contacts always (their unit's leaders, their grid leader),
    # and the station chief when asked for.
    posts = question.posts | UNIT_POSTS | GRID_POSTS
    shown = 0
    for role in _SHOWN_ORDER:
        if role not in posts:
            continue
        for _level, holder in chain:
            if holder.role_code == role:
                phone = show_phone(viewer, PhoneOwner.leader(holder.phone, holder.post_area))
                lines.append(f"{holder.role}：{holder.name}  电话 {phone}".rstrip())
                shown += 1
    if group.level != "unit" and question.posts & UNIT_POSTS:
        lines.append("各单元的单元长请在单元群里问“我们的单元长是谁”。")
    if not shown:
        lines.append("暂未登记负责人，请联系村网格站。")
    return lines


def directory_router(lookup: LeaderLookup) -> Router:
    router = Router("directory")

    @router.message()
    async def show_help(context: Context) -> Sequence[Reply] | None:
        if context.text.lower() not in HELP:
            return None
        return [reply_in_place(context.message, _help_text(context))]

    @router.message()
    async def find_leader(context: Context) -> Sequence[Reply] | None:
        question = leader_question(context.text)
        if question is None:
            return None
        message = context.message
        if context.group is not None:
            groups: Sequence[GroupInfo] = (context.group,)
        elif message.room_id is not None:
            return [
                reply_in_place(message, "本群尚未登记到网格，暂时查不到负责人，请联系村网格站。")
            ]
        else:
            groups = [g for g in context.sender.home_groups if g.level == "unit"][:3] or list(
                context.sender.home_groups[:1]
            )
            if not groups:
                return [
                    reply_in_place(
                        message,
                        "我还不知道您住在哪个单元。请在您所在的单元群或网格群里问"
                        "“我们的网格长是谁”，我会告诉您负责人和电话。",
                    )
                ]
        # Everyone who reads the answer is of the group's area (a private answer: of
        # the writer's own units), so the policy may show its leaders' work phones.
        viewer = Viewer.resident_of(*(g.path for g in groups))
        lines: list[str] = []
        for group in groups:
            chain = await lookup(group.org_unit_id)
            lines.extend(leader_lines(group, chain, question, viewer))
        lines.append("有问题也可以直接在群里说明情况，我会登记并转给负责人。")
        return [reply_in_place(message, "\n".join(lines))]

    return router
