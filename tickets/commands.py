"""Chat commands in Chinese (工单指令): text in, a parsed command out. Pure.

:func:`parse_command` returns

* a command (:data:`Command`) when the message is one,
* a :class:`CommandError` with a Chinese message that says what is wrong and how to
  write it, when the message clearly tries to be a command (``接单`` alone, a
  malformed code, an unknown department),
* ``None`` when it is not a command at all: the message goes to intake. A verb
  followed by ordinary words (``上报了好几次都没人管``, ``查询医保怎么办``) is a
  resident talking, not a command.

Tolerated: @mentions before the command (the bot is usually @-mentioned first),
full-width spaces, letters and digits, a lowercase ``t``, a colon after the verb, no
space between the verb and the code, Chinese numerals for days (``三天``, ``一周``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from core.config import Department
from core.departments import (
    department_key,
    department_names,
    match_department,
    suggest_department,
)
from core.ids import EXAMPLE_TICKET_CODE, InvalidCode, parse_ticket_code
from models.enums import Rating
from tickets.lifecycle import (
    Accept,
    Escalate,
    Extend,
    Rate,
    Remark,
    Report,
    Resolve,
    Return,
    Whistle,
)

__all__ = [
    "USAGE",
    "Command",
    "CommandError",
    "MyTickets",
    "QueryTicket",
    "RateCommand",
    "ReassignCommand",
    "TicketCommand",
    "parse_command",
    "parse_days",
]


@dataclass(frozen=True, slots=True)
class TicketCommand:
    """A lifecycle action on one ticket, ready for :func:`tickets.lifecycle.apply`."""

    code: str
    action: Accept | Report | Resolve | Escalate | Whistle | Return | Extend | Remark


@dataclass(frozen=True, slots=True)
class ReassignCommand:
    """改派 T… @某人: the service resolves ``target_name`` to a person, then applies
    :class:`tickets.lifecycle.Reassign`."""

    code: str
    target_name: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class QueryTicket:
    """查询 T…."""

    code: str


@dataclass(frozen=True, slots=True)
class MyTickets:
    """我的工单."""


@dataclass(frozen=True, slots=True)
class RateCommand:
    """满意 / 基本满意 / 不满意, with or without a code.

    Without a code the service picks the sender's ticket awaiting a rating; when the
    sender has none, the message is an ordinary one and goes to intake.
    """

    score: Rating
    code: str | None = None
    comment: str = ""

    def action(self) -> Rate:
        return Rate(self.score, self.comment)


@dataclass(frozen=True, slots=True)
class CommandError:
    """A message that tries to be a command but is wrong; ``message`` is the reply."""

    verb: str
    message: str


Command = TicketCommand | ReassignCommand | QueryTicket | MyTickets | RateCommand

_C = EXAMPLE_TICKET_CODE
USAGE: dict[str, str] = {
    "接单": f"接单 {_C}",
    "报到": f"报到 {_C}",
    "办结": f"办结 {_C} 处理结果",
    "上报": f"上报 {_C} 上报原因",
    "吹哨": f"吹哨 {_C} 区司法局",
    "改派": f"改派 {_C} @某人",
    "延期": f"延期 {_C} 3天 延期原因",
    "备注": f"备注 {_C} 备注内容",
    "退单": f"退单 {_C} 退单原因",
    "查询": f"查询 {_C}，或发送「我的工单」",
}
"""How to write each command; every error message ends with the right line."""

# Longest first, so 基本满意 is not read as 满意 and 不满意 not as anything else.
_RATINGS: dict[str, Rating] = {
    "基本满意": Rating.BASICALLY_SATISFIED,
    "非常满意": Rating.SATISFIED,
    "十分满意": Rating.SATISFIED,
    "很满意": Rating.SATISFIED,
    "不满意": Rating.UNSATISFIED,
    "满意": Rating.SATISFIED,
}
_SYNONYMS = {"签收": "接单"}
_VERB_RE = re.compile("|".join(re.escape(v) for v in ("我的工单", *_RATINGS, *_SYNONYMS, *USAGE)))
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u200e\u200f\u2060\ufeff"))
_LEADING_MENTIONS = re.compile(r"(?:@[^\s@]+\s+)+")
_SEPARATORS = " \t\r\n:,;，。；、"
_DASH = re.escape("-‐‑‒–—―−﹣")
# Something meant as a ticket code: T and a digit, or a long run of digits.
_CODEISH = re.compile(rf"[Tt]\s*\d[\d{_DASH}]*|\d{{6,}}[\d{_DASH}]*")
_DAYS = re.compile(r"(\d{1,4}|[零〇一二两三四五六七八九十]{1,3})\s*(个)?\s*(天|日|周|星期|礼拜)?")
_CN_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_REASSIGN_TARGET = re.compile(r"(?:给|至|到)?\s*@?([^\s@]+)")


def _normalize(text: str) -> str:
    """Fold full-width forms (NFKC maps U+3000 and WeChat's U+2005 to a space)."""
    return unicodedata.normalize("NFKC", text.translate(_INVISIBLE)).strip()


def _error(verb: str, problem: str) -> CommandError:
    return CommandError(verb, f"{problem}正确写法：{USAGE[verb]}")


def parse_command(
    text: str, *, departments: Sequence[Department] = ()
) -> Command | CommandError | None:
    """Parse one chat message; see the module docstring for the three outcomes.

    ``departments`` are the departments 吹哨 may call (config: ``departments``), matched
    by name or alias.
    """
    body = _normalize(text)
    mentions = _LEADING_MENTIONS.match(body)
    if mentions:
        body = body[mentions.end() :]
    verb_match = _VERB_RE.match(body)
    if verb_match is None:
        return None
    verb = verb_match.group()
    rest = body[verb_match.end() :].lstrip(_SEPARATORS)
    if verb == "我的工单":
        return MyTickets() if not re.search(r"\w", rest) else None
    if verb in _RATINGS:
        return _parse_rating(_RATINGS[verb], body[verb_match.end() :])
    verb = _SYNONYMS.get(verb, verb)

    if not rest:
        return _error(verb, f"「{verb}」后面要写工单编号。")
    code_match = _CODEISH.match(rest)
    if code_match is None:
        if verb == "延期" and parse_days(rest) is not None:
            return _error(verb, "缺少工单编号。")
        return None  # a verb followed by ordinary words: someone talking
    try:
        code = str(parse_ticket_code(re.sub(r"\s", "", code_match.group())))
    except InvalidCode as exc:
        return _error(verb, f"{exc}。")
    args = rest[code_match.end() :].strip(_SEPARATORS)
    return _parse_arguments(verb, code, args, departments)


def _parse_arguments(
    verb: str, code: str, args: str, departments: Sequence[Department]
) -> Command | CommandError:
    match verb:
        case "接单":
            return TicketCommand(code, Accept(args))
        case "报到":
            return TicketCommand(code, Report(args))
        case "查询":
            return QueryTicket(code)
        case "办结":
            if not args:
                return _error(verb, "请写明处理结果。")
            return TicketCommand(code, Resolve(args))
        case "上报":
            if not args:
                return _error(verb, "请写明上报原因。")
            return TicketCommand(code, Escalate(args))
        case "备注":
            if not args:
                return _error(verb, "请写上备注内容。")
            return TicketCommand(code, Remark(args))
        case "退单":
            if not args:
                return _error(verb, "请写明退单原因。")
            return TicketCommand(code, Return(args))
        case "吹哨":
            return _parse_whistle(code, args, departments)
        case "改派":
            target = _REASSIGN_TARGET.match(args)
            if not args or target is None:
                return _error(verb, "请写明改派给谁（@对方）。")
            note = args[target.end() :].strip(_SEPARATORS)
            return ReassignCommand(code, target.group(1), note)
        case "延期":
            return _parse_extend(code, args)
    raise AssertionError(f"unhandled verb {verb}")  # pragma: no cover


def _parse_rating(score: Rating, rest: str) -> RateCommand | CommandError | None:
    stripped = rest.strip(_SEPARATORS)
    if not re.search(r"\w", stripped):
        return RateCommand(score)  # nothing, punctuation or emoji after the rating
    code_match = _CODEISH.match(stripped)
    if code_match is not None:
        try:
            code = str(parse_ticket_code(re.sub(r"\s", "", code_match.group())))
        except InvalidCode as exc:
            return CommandError(
                "评价", f"{exc}。评价请回复：满意 / 基本满意 / 不满意，可加编号，如：满意 {_C}"
            )
        return RateCommand(score, code, stripped[code_match.end() :].strip(_SEPARATORS))
    if rest[:1] in _SEPARATORS:
        return RateCommand(score, None, stripped)  # 不满意，还在漏水
    return None  # 满意度调查怎么填, 不满意物业… : not a rating


def parse_days(text: str) -> tuple[int, str] | None:
    """``3天``, ``三天``, ``十五日``, ``一周``, ``3`` -> (days, rest of the text)."""
    match = _DAYS.match(text)
    if match is None:
        return None
    number, _, unit = match.groups()
    if number.isdigit():
        value: int | None = int(number)
    elif unit is None:
        return None  # a bare Chinese numeral is too likely to be a word
    else:
        value = _chinese_number(number)
    if value is None:
        return None
    if unit in ("周", "星期", "礼拜"):
        value *= 7
    return value, text[match.end() :]


def _chinese_number(text: str) -> int | None:
    """一 .. 九十九 (enough for days)."""
    if "十" not in text:
        return _CN_DIGITS[text] if len(text) == 1 else None
    tens_text, _, ones_text = text.partition("十")
    if len(tens_text) > 1 or len(ones_text) > 1 or "十" in ones_text:
        return None
    tens = _CN_DIGITS[tens_text] if tens_text else 1
    ones = _CN_DIGITS[ones_text] if ones_text else 0
    return tens * 10 + ones


def _parse_extend(code: str, args: str) -> TicketCommand | CommandError:
    parsed = parse_days(args)
    if parsed is None:
        return _error("延期", "请写明延期几天，如“3天”。")
    days, rest = parsed
    if days < 1:
        return _error("延期", "延期天数至少为1天。")
    reason = rest.strip(_SEPARATORS)
    if not reason:
        return _error("延期", "请写明延期原因。")
    return TicketCommand(code, Extend(days, reason))


def _parse_whistle(
    code: str, args: str, departments: Sequence[Department]
) -> TicketCommand | CommandError:
    if not departments:
        return CommandError("吹哨", "尚未配置可呼叫的部门，请联系镇综治中心。")
    if not args:
        return _error(
            "吹哨", f"请写明呼叫哪个部门。可呼叫的部门：{_department_list(departments)}。"
        )
    # The longest name or alias the arguments start with, so "区司法局调解纠纷"
    # works without a space.
    candidates = sorted(
        ((alias, d) for d in departments for alias in department_names(d)),
        key=lambda pair: len(pair[0]),
        reverse=True,
    )
    for alias, department in candidates:
        head = args[: len(alias)]
        if alias and department_key(head) == department_key(alias):
            note = args[len(alias) :].strip(_SEPARATORS)
            return TicketCommand(code, Whistle(department.code, department.name, note))
    token, *tail = re.split(r"[\s,;，。；、]", args, maxsplit=1)
    note = tail[0].strip(_SEPARATORS) if tail else ""
    found = match_department(token, departments)
    if found is not None:
        return TicketCommand(code, Whistle(found.code, found.name, note))
    suggestion = suggest_department(token, departments)
    maybe = f"您是不是要找「{suggestion.name}」？" if suggestion else ""
    return CommandError(
        "吹哨",
        f"没有找到部门「{token}」。{maybe}"
        f"正确写法：吹哨 {_C} {(suggestion or departments[0]).name}。"
        f"可呼叫的部门：{_department_list(departments)}。",
    )


def _department_list(departments: Sequence[Department], limit: int = 12) -> str:
    names = "、".join(d.name for d in departments[:limit])
    return names + ("等" if len(departments) > limit else "")
