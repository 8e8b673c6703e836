"""Immediate advice for a danger report (gas, fire, smoke, someone trapped or collapsed).

The ticket takes minutes to be accepted; a gas leak or a fire does not wait. The reply
that gives the ticket code gives, in the same message, what to do now: leave, no
switches or flames, and the number to call (119 fire and rescue, 120 ambulance, 110
police). Pure: text in, advice out.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

__all__ = ["Danger", "danger_in", "safety_advice"]


@dataclass(frozen=True, slots=True)
class Danger:
    kind: str
    """``gas``, ``fire``, ``trapped``, ``medical`` or ``violence``."""
    advice: str


_NEGATED = r"(?<![没不无未])"
_DANGERS: tuple[tuple[str, re.Pattern[str], str], ...] = (
    (
        "gas",
        re.compile(
            r"(?:煤气|燃气|天然气|液化气|瓦斯|气罐)[^，。！？]{0,6}(?:味|泄漏|泄露|漏|臭|冲)"
            r"|(?:闻到|有|一股)[^，。！？]{0,4}(?:煤气|燃气|天然气|液化气)味"
            r"|漏气"
        ),
        "【安全提示】疑似燃气泄漏：请立即打开门窗通风，马上撤离到室外；"
        "不要开关电灯和电器、不要点火或用明火，不要在现场打电话；"
        "到安全地方后拨打119，并关闭燃气总阀（能安全做到时）。",
    ),
    (
        "fire",
        re.compile(
            _NEGATED + r"(?:着火|起火|失火|火灾|烧起来|火很大|火势|冒烟|浓烟|烟很大|好多烟|很多烟|"
            r"冒黑烟|烧焦味|电线(?:冒火|烧了|短路)|火苗)"
        ),
        "【安全提示】发生火情：请立即拨打119；马上撤离，不要乘电梯，走楼梯；"
        "用湿毛巾捂住口鼻、弯腰低姿前进；不要返回取物；"
        "电器起火先断电，不要用水浇。",
    ),
    (
        "trapped",
        re.compile(
            r"(?:被困|困在|关在|卡在)[^，。！？]{0,6}(?:电梯|里面|屋里|楼里|出不来)?|电梯[^，。！？]{0,4}困"
        ),
        "【安全提示】有人被困：请立即拨打119求救；电梯被困请按电梯内警铃、"
        "拨打电梯内的救援电话，不要扒门或强行出来；说清楚具体位置。",
    ),
    (
        "medical",
        re.compile(
            r"(?:晕倒|昏倒|昏迷|倒地|倒在地上|摔倒[^，。！？]{0,4}(?:起不来|不能动|不动)|"
            r"不省人事|没有呼吸|没呼吸|没有意识|抽搐|心脏病|中风|大出血|流了很多血|叫不醒|一氧化碳)"
        ),
        "【安全提示】有人倒地或昏迷：请立即拨打120；不要随意搬动伤者，"
        "保持呼吸道通畅；没有呼吸时在120指导下做心肺复苏；守在旁边等救护车。",
    ),
    (
        "violence",
        re.compile(r"打人|持刀|拿刀|砍人|动刀|打架[^，。！？]{0,4}(?:流血|受伤)|有人行凶|抢劫"),
        "【安全提示】有人身安全危险：请立即拨打110；远离冲突现场，保护好自己，"
        "不要上前拉架，记下人员特征和位置。",
    ),
)


def danger_in(text: str) -> list[Danger]:
    """The dangers a report speaks of, in the order of :data:`_DANGERS` (pure)."""
    normalised = unicodedata.normalize("NFKC", text)
    return [
        Danger(kind, advice) for kind, pattern, advice in _DANGERS if pattern.search(normalised)
    ]


def safety_advice(text: str) -> str | None:
    """The immediate advice for every danger in ``text``, or ``None`` when there is none."""
    dangers = danger_in(text)
    if not dangers:
        return None
    return "\n".join(d.advice for d in dangers)
