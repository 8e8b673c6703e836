"""Placing a WeChat room in the org tree by its topic (群名).

Towns name their four-level groups after the org unit: ``国欢镇工作群``,
``国欢镇黄霞村群``, ``黄霞村第16网格``, ``黄霞村第16网格-国湄领涵3号楼``. A room is
bound when its normalised topic matches exactly one org unit's known forms, or
when config.yaml maps it explicitly. Anything else is reported, never guessed.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

_DECORATION = re.compile(r"[\s•·・．.。_\-—–~～|｜/\\()（）\[\]【】「」<>《》\"'“”‘’]+")
_SUFFIX = re.compile(r"(?:(?:微信|工作|交流|服务|管理|通知|居民|业主)?群|网格群|\d+人)+$")
_GRID_ORDINAL = re.compile(r"第(\d+)网格")


def normalize_topic(topic: str) -> str:
    """Fold width and case, drop decoration and a trailing ``工作群``/``群``-like suffix."""
    text = unicodedata.normalize("NFKC", topic).lower()
    text = _DECORATION.sub("", text)
    previous = None
    while previous != text:
        previous = text
        text = _SUFFIX.sub("", text)
    return text


def topic_for(town: str, path: tuple[str, ...]) -> str:
    """The topic gridcast's convention gives the group of the org unit at ``path``
    (names below the town; ``()`` is the town)."""
    if not path:
        return f"{town}工作群"
    if len(path) == 1:
        return f"{town}{path[0]}群"
    if len(path) == 2:
        return f"{path[0]}{path[1]}"
    return f"{path[0]}{path[1]}-{path[2]}"


def _variants(town: str, path: tuple[str, ...]) -> set[str]:
    """The spellings of one org unit's group that the index accepts."""
    names = [town, *path]
    forms = {"".join(names), "".join(names[1:]) if len(names) > 1 else town, topic_for(town, path)}
    if len(path) >= 2:
        forms.add("".join(names[2:]) if len(path) == 2 else "")  # never a bare grid name
        forms.add("".join((path[0], *path[1:])))
    out = set()
    for form in forms:
        if not form:
            continue
        key = normalize_topic(form)
        out.add(key)
        out.add(_GRID_ORDINAL.sub(r"\1网格", key))  # 第16网格 / 16网格
    out.discard("")
    # A bare grid or unit name (第1网格, 1号楼) repeats across villages: never a key alone.
    if len(path) >= 2:
        out -= {normalize_topic(path[-1]), _GRID_ORDINAL.sub(r"\1网格", normalize_topic(path[-1]))}
    return out


@dataclass(frozen=True, slots=True)
class Binding:
    path: tuple[str, ...]
    bound_by: str  # "topic" or "mapping"


@dataclass(frozen=True, slots=True)
class Unbound:
    reason: str


class TopicIndex:
    """Every accepted spelling of every org unit's group, minus the ambiguous ones."""

    def __init__(
        self,
        town: str,
        paths: Iterable[tuple[str, ...]],
        mapping: Mapping[str, tuple[str, ...]] | None = None,
    ) -> None:
        owners: dict[str, set[tuple[str, ...]]] = defaultdict(set)
        for path in paths:
            for key in _variants(town, path):
                owners[key].add(path)
        self._keys = {k: next(iter(v)) for k, v in owners.items() if len(v) == 1}
        self._ambiguous = {k: sorted(v) for k, v in owners.items() if len(v) > 1}
        self._mapping = dict(mapping or {})
        self.town = town

    def __len__(self) -> int:
        return len(self._keys)

    def bind(self, room_id: str, topic: str) -> Binding | Unbound:
        """Where the room belongs: by explicit mapping (room id or topic), then by topic."""
        for ref in (room_id, topic):
            if ref in self._mapping:
                return Binding(self._mapping[ref], "mapping")
        key = normalize_topic(topic)
        if not key:
            return Unbound("群名为空")
        path = self._keys.get(key)
        if path is not None:
            return Binding(path, "topic")
        if key in self._ambiguous:
            names = "、".join("/".join(p) for p in self._ambiguous[key][:3])
            return Unbound(
                f"群名「{topic}」可对应多个单位（{names}），请在 config.yaml 的 bots.room_mapping 中指定"
            )
        return Unbound(f"群名「{topic}」不符合命名规则，也不在 bots.room_mapping 中")
