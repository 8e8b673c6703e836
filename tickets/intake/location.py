"""Where a problem is, from the words of the message (位置提取).

:class:`Locator` finds the substring that locates a problem: a building, unit, floor or
room chain (3栋, 5号楼, 二单元三楼, 5栋302), a road (国欢大道, 涵江路), a village (黄霞村,
with a house number: 黄霞村18号), a compound (国湄领涵小区), a known place name, or a
public landmark (村口, 菜市场), with a direction word after it (菜市场旁边, 学校门口).
Neighbouring pieces join (黄霞村村口). The first place mentioned wins.

It works on normalised text (see :func:`tickets.intake.hanzi.fold`) and returns offsets, so
the caller can cut the location from the original text. Relative words (楼上, 隔壁,
家门口) and generic parts of a home (楼道, 楼顶) are not locations: the group the
message came from already says which building it is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from tickets.intake.hanzi import fold_text

__all__ = ["Locator"]

# Characters that do not start or continue a name: particles, pronouns, verbs of motion
# and direction words, so 我们村 and 家门口国欢大道 do not become names.
_STOP: Final = (
    "的地得在是了我你他她它们这那哪个有没不把被给让到从往向和跟与就都很太又也还要会说"
    "啊呢吧吗呀哦嘛去来回进出全本外邻每各整别两几些农乡家门口边旁里上下"
)
_NAME_CHAR: Final = rf"(?:(?![{_STOP}])[\u4e00-\u9fff])"
_VILLAGE_STOP: Final = (
    "的在是了我你他她们这那个到从和跟与就都也还去来回进出全本外邻每各整哪别两几农乡新"
)
_VILLAGE_CHAR: Final = rf"(?:(?![{_VILLAGE_STOP}])[\u4e00-\u9fff])"
_GENERIC_VILLAGES: Final = frozenset(
    ("隔壁村", "邻村", "外村", "本村", "全村", "新农村", "乡村", "农村", "整个村", "城中村")
)
# 马路, 道路, 水泥路, 这条路 ... are roads but not names of one.
_GENERIC_ROAD_END: Final = "马道走线电网一半出迷带修过让挡拦问铁小大山土泥公水条段"
_DIRECTION: Final = "旁边|附近|门口|对面|后面|前面|边上|一带|周边|两侧|路口|后门|拐角"

_BUILDING: Final = (
    r"(?:[0-9a-z]{1,4}(?:号楼|栋楼(?![上下梯道房顶])|栋|幢|座)|[0-9一二三四五六七八九十]{1,3}号楼)"
)
_UNIT: Final = r"[0-9一二三四五六七八九十]{1,3}单元"
# 二楼 is a floor; 楼上, 楼下, 楼梯, 楼道, 楼顶 are not; 一层 alone is a layer (一层灰).
_FLOOR: Final = r"(?:[0-9]{1,2}|[一二三四五六七八九十]{1,3})(?:楼|层)(?![上下梯道房顶])"
_FLOOR_ALONE: Final = r"(?:[0-9]{1,2}(?:楼|层)|[一二三四五六七八九十]{1,3}楼)(?![上下梯道房顶])"
_ROOM: Final = r"[0-9]{3,4}(?:室|房|号)?"

_BUILDING_CHAIN: Final = re.compile(
    rf"(?:{_BUILDING}|{_UNIT})(?:{_UNIT}|{_FLOOR}|{_ROOM})*|{_FLOOR_ALONE}(?:{_ROOM})?"
)
_ROAD: Final = re.compile(
    rf"{_NAME_CHAR}{{2,4}}(?:大道|大街|公路|路|街|巷)(?![灯等面牌况费线子边上])"
)
_VILLAGE: Final = re.compile(rf"{_VILLAGE_CHAR}{{2}}村(?![民委里子庄])")
_COMPOUND: Final = re.compile(
    rf"(?:{_NAME_CHAR}|[•·]){{2,6}}(?:小区|花园|公寓|家园|新村|大厦|苑|华府|山庄|名城)"
)
_HOUSE_NUMBER: Final = re.compile(r"[0-9]{1,4}号(?!楼)")
_DIRECTION_AFTER: Final = re.compile(rf"(?:{_DIRECTION})")


def _alternation(words: Iterable[str]) -> str:
    folded = {fold_text(w).strip() for w in words} - {""}
    return "|".join(re.escape(w) for w in sorted(folded, key=len, reverse=True))


class Locator:
    """Finds locations, knowing extra place names and landmarks (from the lexicon)."""

    def __init__(self, places: Iterable[str] = (), landmarks: Iterable[str] = ()) -> None:
        place_names = _alternation(places)
        landmark_names = _alternation(landmarks)
        self._places = re.compile(place_names) if place_names else None
        # 广场舞 is a dance, not a square.
        self._landmarks = re.compile(rf"(?:{landmark_names})(?!舞)") if landmark_names else None

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Every place mentioned in normalised ``text``, as (start, end) offsets."""
        spans: list[tuple[int, int]] = []
        for pattern in (self._places, self._landmarks, _BUILDING_CHAIN, _COMPOUND):
            if pattern is not None:
                spans.extend(m.span() for m in pattern.finditer(text))
        for m in _ROAD.finditer(text):
            stem = m.group(0).rstrip("大道街公路巷")
            if stem and stem[-1] not in _GENERIC_ROAD_END:
                spans.append(m.span())
        spans.extend(
            m.span() for m in _VILLAGE.finditer(text) if m.group(0) not in _GENERIC_VILLAGES
        )
        return spans

    def locate(self, text: str) -> tuple[int, int] | None:
        """The first place in normalised ``text`` with what joins it, or None."""
        spans = sorted(self.spans(text))
        if not spans:
            return None
        start, end = spans[0]
        for s, e in spans[1:]:
            if s > end:
                break
            end = max(end, e)
        house = _HOUSE_NUMBER.match(text, end)
        if house:
            end = house.end()
        direction = _DIRECTION_AFTER.match(text, end)
        if direction:
            end = direction.end()
        return start, end
