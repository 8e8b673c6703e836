"""Notices as people write and read them: validation, the posted text, chat
commands (#通知, #确认, #撤回, #更正, #通知状态) and who may issue what. Pure."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from models.enums import Level

MAX_TITLE_CHARS = 60
MAX_BODY_CHARS = 1500
"""WeChat shows long texts folded; a notice that must be read fits one screen or two."""

_LEVEL_ALIASES = {
    alias: level for level in Level for alias in (level.value, level.label, f"{level.label}级")
}
ALL_LEVELS: tuple[Level, ...] = tuple(sorted(Level, key=lambda level: level.depth))

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class NoticeInvalid(ValueError):
    """The notice cannot be sent as written; the message says why (Chinese)."""


def clean_text(text: str) -> str:
    return _CONTROL.sub("", unicodedata.normalize("NFC", text)).strip()


def validate(title: str, body: str) -> tuple[str, str]:
    """Cleaned (title, body), or :class:`NoticeInvalid` naming every problem."""
    title, body = clean_text(title), clean_text(body)
    problems = []
    if not title:
        problems.append("标题不能为空")
    elif len(title) > MAX_TITLE_CHARS:
        problems.append(f"标题太长（{len(title)}字，最多{MAX_TITLE_CHARS}字）")
    if not body:
        problems.append("正文不能为空")
    elif len(body) > MAX_BODY_CHARS:
        problems.append(f"正文太长（{len(body)}字，最多{MAX_BODY_CHARS}字），请精简或分成几条通知")
    if problems:
        raise NoticeInvalid("；".join(problems))
    return title, body


def parse_levels(text: str | Iterable[str] | None) -> tuple[Level, ...]:
    """``unit,grid`` / ``网格、单元`` -> ordered level codes; empty means all."""
    if text is None:
        return ALL_LEVELS
    items = re.split(r"[,，、\s]+", text) if isinstance(text, str) else list(text)
    chosen = set()
    for item in (i.strip() for i in items):
        if not item:
            continue
        if item not in _LEVEL_ALIASES:
            raise NoticeInvalid(
                f"不认识的层级「{item}」，可选：镇、村、网格、单元（town, village, grid, unit）"
            )
        chosen.add(_LEVEL_ALIASES[item])
    return tuple(level for level in ALL_LEVELS if level in chosen) or ALL_LEVELS


def render(
    *,
    code: str,
    title: str,
    body: str,
    issuer: str,
    urgent: bool,
    ack_required: bool,
) -> str:
    """The text posted in every group."""
    head = f"【{'紧急通知' if urgent else '通知'} {code}】{title}"
    tail = f"——{issuer}"
    ask = "\n请本群单元长、网格长回复“收到”确认。" if ack_required else ""
    return f"{head}\n{body}\n{tail}{ask}"


def render_correction(
    *, code: str, original_code: str, title: str, body: str, issuer: str, ack_required: bool = False
) -> str:
    """A correction asks for its own receipts when the original did (they are counted
    apart from the original's: the leaders confirm they read the correction)."""
    ask = f"\n请本群单元长、网格长回复“收到”确认更正 {code}。" if ack_required else ""
    return f"【更正 {code}】关于通知 {original_code}「{title}」的更正：\n{body}\n——{issuer}{ask}"


def render_retraction(*, code: str, original_code: str, title: str, issuer: str) -> str:
    return f"【撤回 {code}】通知 {original_code}「{title}」已撤回，请以后续通知为准。\n——{issuer}"


def render_reminder(*, code: str, title: str, leader: str = "单元长") -> str:
    """The 催办 line in a silent group (after the @-mentions of its leaders)."""
    return f"提醒：通知 {code}「{title}」本群尚未确认，请{leader}回复“收到”。"


# --- chat commands -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IssueCommand:
    """``#通知 黄霞村 标题 / 正文`` (``#紧急通知`` for urgent; ``[网格,单元]`` after the scope
    limits the levels)."""

    scope: str
    title: str
    body: str
    urgent: bool
    levels: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CodeCommand:
    """``#确认 N0042``, ``#取消 N0042``, ``#撤回 N0042``, ``#通知状态 N0042``, ``#更正 N0042 正文``,
    ``#催办 N0042`` (remind every silent group now)."""

    verb: str
    code: str
    text: str = ""


ISSUE_USAGE = "#通知 范围 标题 / 正文，例如：#通知 黄霞村 台风预警 / 今晚8点起停止户外作业……"
_ISSUE = re.compile(r"^[#＃](紧急)?通知\s*(.*)$", re.S)
_CODE_VERBS = {
    "确认": "confirm",
    "取消": "cancel",
    "撤回": "retract",
    "通知状态": "status",
    "更正": "correct",
    "催办": "chase",
}
_CODE_CMD = re.compile(
    r"^[#＃](确认|取消|撤回|通知状态|更正|催办)\s*([A-Za-zＡ-Ｚａ-ｚ]?\S*)\s*(.*)$", re.S
)
_SCOPE_LEVELS = re.compile(r"^(\S+?)[\[［(（]([^\]］)）]*)[\]］)）]$")


def parse_command(text: str) -> IssueCommand | CodeCommand | NoticeInvalid | None:
    """A notice command, an error saying how to write it, or None (not a notice command)."""
    text = text.strip()
    if m := _CODE_CMD.match(text):
        verb, code, rest = m.groups()
        if not code:
            return NoticeInvalid(f"请写上通知编号，例如：#{verb} N0042")
        if verb == "更正" and not rest.strip():
            return NoticeInvalid("请写上更正的内容，例如：#更正 N0042 集合时间改为下午3点")
        return CodeCommand(_CODE_VERBS[verb], code, rest.strip())
    m = _ISSUE.match(text)
    if m is None:
        return None
    urgent, rest = bool(m.group(1)), m.group(2).strip()
    parts = rest.split(None, 1)
    if len(parts) < 2:
        return NoticeInvalid(f"通知格式不完整。{ISSUE_USAGE}")
    scope, content = parts
    title, sep, body = content.partition("/")
    if not sep:
        title, sep, body = content.partition("／")
    if not sep:
        return NoticeInvalid(f"请用“/”分开标题和正文。{ISSUE_USAGE}")
    levels: tuple[str, ...] = ALL_LEVELS
    if lm := _SCOPE_LEVELS.match(scope):
        scope = lm.group(1)
        try:
            levels = parse_levels(lm.group(2))
        except NoticeInvalid as exc:
            return exc
    try:
        title, body = validate(title, body)
    except NoticeInvalid as exc:
        return exc
    return IssueCommand(scope=scope, title=title, body=body, urgent=urgent, levels=levels)
