"""Where a problem is, from the words of the message (位置提取).

:class:`Locator` finds the substring that locates a problem: a building, unit, floor or
room chain (3栋, 5号楼, 二单元三楼, 5栋302), a road (国欢大道, 涵江路), a village (黄霞村,
with a house number: 黄霞村18号), a compound (国湄领涵小区), a known place name, or a
public landmark (村口, 菜市场), with a direction word after it (菜市场旁边, 学校门口),
a named institution or district (国欢中学, 城北工业园, 涵江区, 新县镇) or a village group
(溪头村五组); buildings and rooms may be in Chinese numerals (十二栋, 四栋二零一).
Neighbouring pieces join (黄霞村村口). The first place mentioned wins, unless it is named
again later more fully (梧塘镇 ... 涵江区梧塘镇). A place named after a spoken link is the
more specific one and is kept (镇前街那个公共厕所, 国欢大道那个网吧附近), and so is where in
the building (二楼楼梯口); 国欢大道那边 says no more than 国欢大道 and stays 国欢大道.

It works on normalised text (see :func:`tickets.intake.hanzi.fold`) and returns offsets, so
the caller can cut the location from the original text. Relative words (楼上, 隔壁,
家门口) and generic parts of a home (楼道, 楼顶) are not locations: the group the
message came from already says which building it is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final, Literal

from tickets.intake.hanzi import fold_text
from tickets.intake.prefilter import Prefilter

__all__ = ["Locator", "Register", "writing_register"]

Register = Literal["chat", "longform", "voice"]
"""How a message was written: a group-chat line, a letter or post, a voice transcript."""

_PUNCTUATION: Final = re.compile(r"[,.!?;:，。！？；：、~…\n]")
_LETTER: Final = re.compile(r"标题|主题\s*[:：]|内容\s*[:：]|尊敬的|敬爱的|领导")
VOICE_MIN_CHARS: Final = 16
"""A text this long with no punctuation at all reads as a voice transcript."""
LETTER_MIN_CHARS: Final = 100


def writing_register(text: str) -> Register:
    """The register ``text`` (normalised) is most likely written in.

    A letter or post is long or carries a letter's marks (标题：, 尊敬的领导); a voice
    transcript is a run of speech with no punctuation at all; anything else is chat.
    Each register's labels place a location's boundaries differently (see
    :meth:`Locator.locate`).
    """
    stripped = text.strip()
    if (
        len(stripped) >= VOICE_MIN_CHARS
        and not _PUNCTUATION.search(stripped)
        and not any(ch.isspace() for ch in stripped)
    ):
        return "voice"
    if len(stripped) >= LETTER_MIN_CHARS or _LETTER.search(stripped, 0, 40):
        return "longform"
    return "chat"


def _cjk_except(stop: str) -> str:
    """A regex class of the CJK characters U+4E00..U+9FFF except those of ``stop`` (one
    class is much faster than a negative lookahead before each character)."""
    ranges: list[str] = []
    low = 0x4E00
    for code in [*sorted({ord(c) for c in stop if 0x4E00 <= ord(c) <= 0x9FFF}), 0xA000]:
        if code > low:
            ranges.append(f"\\u{low:04x}-\\u{code - 1:04x}" if code - 1 > low else f"\\u{low:04x}")
        low = code + 1
    return "[" + "".join(ranges) + "]"


# Characters that do not start or continue a name: particles, pronouns, verbs of motion
# and direction words, so 我们村 and 家门口国欢大道 do not become names.
_STOP: Final = (
    "的地得在是了我你他她它们这那哪个有没不把被给让到从往向和跟与就都很太又也还要会说"
    "啊呢吧吗呀哦嘛去来回进出全本外邻每各整别两几些农乡家门口边旁里上下"
)
_NAME_CHAR: Final = _cjk_except(_STOP)
_VILLAGE_STOP: Final = (
    "的在是了我你他她们这那个到从和跟与就都也还去来回进出全本外邻每各整哪别两几农乡啊呢吧吗呀哦嘛"
)
_VILLAGE_CHAR: Final = _cjk_except(_VILLAGE_STOP)
_GENERIC_VILLAGES: Final = frozenset(
    ("隔壁村", "邻村", "外村", "本村", "全村", "新农村", "乡村", "农村", "整个村", "城中村")
)
# 马路, 道路, 水泥路, 这条路 ... are roads but not names of one.
_GENERIC_ROAD_END: Final = "马道走线电网一半出迷带修过让挡拦问铁小大山土泥公水条段"
_DIRECTION: Final = "旁边|附近|门口|对面|后面|前面|边上|一带|周边|两侧|路口|后门|拐角"

# Chinese numerals: 三栋, 十二栋 (not 一栋, 两栋: "a building", "two buildings").
_CN_NUMBER: Final = (
    r"(?:[二三四五六七八九]|十[一二三四五六七八九]?|[二三四五六七八九]十[一二三四五六七八九]?)"
)
_BUILDING: Final = (
    r"(?:[0-9a-z]{1,4}(?:号楼|栋楼(?![上下梯道房顶])|栋|幢|座)|[0-9一二三四五六七八九十]{1,3}号楼"
    rf"|(?<![一二三四五六七八九十两几这那每哪]){_CN_NUMBER}(?:栋楼(?![上下梯道房顶])|栋|幢))"
)
_UNIT: Final = r"[0-9一二三四五六七八九十]{1,3}单元"
# 二楼 is a floor; 楼上, 楼下, 楼梯, 楼道, 楼顶 are not; 一层 alone is a layer (一层灰).
_FLOOR: Final = r"(?:[0-9]{1,2}|[一二三四五六七八九十]{1,3})(?:楼|层)(?![上下梯道房顶])"
_FLOOR_ALONE: Final = r"(?:[0-9]{1,2}(?:楼|层)|[一二三四五六七八九十]{1,3}楼)(?![上下梯道房顶])"
_ROOM: Final = r"(?:[0-9]{3,4}|[一二三四五六七八九][零一二三四五六七八九]{2,3}(?![0-9零一二三四五六七八九]))(?:室|房|号)?"

_BUILDING_CHAIN: Final = re.compile(
    # (the lookahead lets the engine skip quickly to a digit or a numeral)
    rf"(?=[0-9a-z一二三四五六七八九十])"
    rf"(?:(?:{_BUILDING}|{_UNIT})(?:{_UNIT}|{_FLOOR}|{_ROOM})*|{_FLOOR_ALONE}(?:{_ROOM})?)"
)
_ROAD: Final = re.compile(
    rf"{_NAME_CHAR}{{2,4}}(?:大道|大街|公路|路|街|巷)(?![灯等面牌况费线子边上])"
)
_VILLAGE: Final = re.compile(rf"{_VILLAGE_CHAR}{{2}}村(?![民委里子庄])")
# (区, 镇, 县, 市 end the administrative names before a compound's: 涵江区碧桂园小区)
_COMPOUND_CHAR: Final = _cjk_except(_STOP + "区镇县市")
_COMPOUND: Final = re.compile(
    rf"{_COMPOUND_CHAR}(?:{_COMPOUND_CHAR}|[•·]){{1,4}}(?:小区|花园|公寓|家园|新村|大厦|苑|华府|山庄|名城)"
)
_HOUSE_NUMBER: Final = re.compile(r"[0-9]{1,4}号(?!楼)|[一二三四五六七八九十0-9]{1,3}组")
# A named institution or district: 国欢中学, 国欢农贸市场, 城北工业园, 涵江区, 新县镇.
_INST_CHAR: Final = _cjk_except(_STOP + "一二三四五六七八九十两名位所座附近")
_INSTITUTION: Final = re.compile(
    rf"{_INST_CHAR}{{2,4}}(?:中学|小学|幼儿园|医院|卫生院|工业园|工业区|农贸市场|菜市场|市场"
    rf"|公园|汽车站|派出所)"
)
_DISTRICT: Final = re.compile(
    rf"{_VILLAGE_CHAR}{{2}}(?<![小社片景园厂校病灾禁辖管专住保分停城市乡])(?:区|镇)(?![长上里内政府委])"
)
_SPOKEN_AFTER: Final = re.compile(rf"{_DIRECTION}|里面|下面|上面|外面|那边|那里|这边|这里")
# 二楼楼梯口, 七栋一单元楼梯那里: where in the building.
_PART_OF_BUILDING: Final = re.compile(r"楼梯口|楼梯间|楼梯那里|楼道里|楼道口")
# A place named after a spoken link (国欢大道那个网吧附近, 镇前街那个公共厕所).
_SPOKEN_LINK: Final = re.compile(r"(?:那个|那条|那座|那片|那家|那块)+")
_SPOKEN_PLACE: Final = re.compile(
    rf"[^\s,.!?;:，。！？；：、啊呀呢嘛了的得在是有就都也还我你他她它]{{0,10}}?"
    rf"(?:{_DIRECTION}|旁边|下面|里面|上面|外面|那里|路|街|桥|沟|河|渠|站|厂|场|点|库|口|池|园|楼|栋|段|所|盖|馆|地方|空地上?|通道|巷|房)"
)
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
        # The kinds of place in the order their spans are listed; road and village last.
        self._kinds: tuple[tuple[re.Pattern[str], str], ...] = tuple(
            (pattern, kind)
            for pattern, kind in (
                (self._places, "place"),
                (self._landmarks, "landmark"),
                (_BUILDING_CHAIN, "building"),
                (_COMPOUND, "compound"),
                (_INSTITUTION, "institution"),
                (_DISTRICT, "district"),
                (_ROAD, "road"),
                (_VILLAGE, "village"),
            )
            if pattern is not None
        )
        # Most texts name few kinds of place: the others' patterns are not searched.
        self._prefilter = Prefilter([pattern for pattern, _ in self._kinds])

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Every place mentioned in normalised ``text``, as (start, end) offsets."""
        return [(s, e) for s, e, _ in self._kinded_spans(text)]

    def _kinded_spans(self, text: str) -> list[tuple[int, int, str]]:
        spans: list[tuple[int, int, str]] = []
        for index in self._prefilter.candidates(text):
            pattern, kind = self._kinds[index]
            if kind == "road":
                for m in pattern.finditer(text):
                    stem = m.group(0).rstrip("大道街公路巷")
                    if stem and stem[-1] not in _GENERIC_ROAD_END:
                        spans.append((*_after_junk(m), "road"))
            elif kind == "village":
                spans.extend(
                    (*m.span(), "village")
                    for m in pattern.finditer(text)
                    if m.group(0) not in _GENERIC_VILLAGES
                )
            else:
                spans.extend((*_after_junk(m), kind) for m in pattern.finditer(text))
        # A known name inside a longer match (大雨国欢大道) is where the name begins.
        known = [(s, e) for s, e, kind in spans if kind == "place"]
        if known:
            spans = [
                (next((ks for ks, ke in known if s < ks and ke == e), s), e, kind)
                for s, e, kind in spans
            ]
        return spans

    def locate(self, text: str, register: Register = "chat") -> tuple[int, int] | None:
        """The first place in normalised ``text`` with what joins it, or None.

        The boundaries follow the labelling guideline, the most specific literal place
        (5栋302, 菜市场旁边, 国湄领涵9栋); in a voice transcript the labels keep the
        whole spoken phrase (溪头村后山那边, 八栋的电梯), so the spoken links and
        pointing words after the place are kept there.
        """
        kinded = sorted(self._kinded_spans(text))
        if not kinded:
            return None
        groups: list[tuple[int, int]] = []
        for s, e, _ in kinded:
            if groups and s <= groups[-1][1]:
                groups[-1] = (groups[-1][0], max(groups[-1][1], e))
            else:
                groups.append((s, e))
        start, end = groups[0]
        # A bare public place (工地, 学校) named before a place with a name (国欢大道旁边
        # 那个工地) says less: the named one is the location.
        if all(k == "landmark" for s, e, k in kinded if start <= s < end):
            named = next(
                (
                    g
                    for g in groups[1:]
                    if any(k != "landmark" for s, e, k in kinded if g[0] <= s < g[1])
                ),
                None,
            )
            if named is not None:
                start, end = named
        # The same place named again more fully (梧塘镇 ... 涵江区梧塘镇) is more specific.
        first = text[start:end]
        for s, e in groups[1:]:
            if e - s > end - start and text[s:e].endswith(first):
                start, end = s, e
                break
        start = _name_before_building(text, start, end)
        house = _HOUSE_NUMBER.match(text, end)
        if house:
            end = house.end()
        direction = _DIRECTION_AFTER.match(text, end)
        if direction:
            end = direction.end()
        # 镇前街那个公共厕所, 沿河路那个桥: the place named after a spoken link is the
        # more specific one (but 国欢大道那边 says no more than 国欢大道).
        for _ in range(3 if register == "voice" else 1):
            link = (_VOICE_LINK if register == "voice" else _SPOKEN_LINK).match(text, end)
            if not link:
                break
            place = (_VOICE_PLACE if register == "voice" else _SPOKEN_PLACE).match(text, link.end())
            if not place:
                break
            end = place.end()
            after = _SPOKEN_AFTER.match(text, end)
            if after:
                end = after.end()
        part = _PART_OF_BUILDING.match(text, end)
        if part:
            end = part.end()
        if register == "voice":
            # Speech points on: 溪头村后山那边, 八栋的电梯, 国欢大道那个公交站过去一点.
            tail = _VOICE_TAIL.match(text, end)
            if tail:
                end = tail.end()
        return start, end


# Words a road match may swallow before the name (我住兴化路, 请问开元路, 反映沿河路).
_JUNK_BEFORE: Final = re.compile(r"^(?:我住|住在|住|请问|反映|举报|对|刚才|现在|建议|改善|关于|在)")


def _after_junk(match: re.Match[str]) -> tuple[int, int]:
    start, end = match.span()
    junk = _JUNK_BEFORE.match(match.group(0))
    if junk and end - start - junk.end() >= 3:
        start += junk.end()
    return start, end


_NAME_RUN: Final = re.compile(rf"{_NAME_CHAR}{{2,4}}$")
_NOT_A_NAME: Final = frozenset(("小区", "楼栋", "对面", "后面", "前面", "旁边", "东边", "西边"))


def _name_before_building(text: str, start: int, end: int) -> int:
    """Where a compound's name starts right before its building (东岸名邸5栋,
    国美领函七栋): a run of 2-4 name characters after a particle or the beginning."""
    if not _BUILDING_CHAIN.match(text, start):
        return start
    run = _NAME_RUN.search(text, max(0, start - 4), start)
    if run is None:
        return start
    before = run.start() - 1
    if before >= 0 and re.match(_NAME_CHAR, text[before]):
        return start  # a longer run: a sentence, not a name
    if run.group(0) in _NOT_A_NAME:
        return start
    return run.start()


_VOICE_LINK: Final = re.compile(
    r"(?:那个|那条|那座|那片|那家|那块|那栋|那间|的(?=[^那我你他她])|[跟和与往到](?=[^我你他她]))+"
)
_VOICE_TAIL: Final = re.compile(
    r"(?:过去一点|这边|那边|那一段|这一段|那段|这段|那里|这里|那一带|那块|下面)"
)
_VOICE_PLACE: Final = re.compile(
    rf"[^\s,.!?;:，。！？；：、啊呀呢嘛了在是有就都也还我你他她它]{{0,10}}?"
    rf"(?:{_DIRECTION}|下面|里面|上面|外面|那里|路|街|桥头|桥|沟|河边|河|渠|站|厂|场|点|库|口"
    rf"|池|园|楼(?![上下])|栋|段|所|盖|馆|地方|空地上?|通道|巷|房|箱|庙|宿舍|二期|组|电梯|田里|堂|村"
    rf"|交界|交叉的那个地方|去的那条路|那边|这边)"
)
