"""CAP 1.2 warnings (预警) in: parse, decide, and turn into notices.

A warning from the meteorological or emergency authority (CAP 1.2; GB/T 35965.1 is its
Chinese profile) is validated against the standard's schema (``data/cap12.xsd``) with
lxml, never with entity expansion or network access. What to do with it is pure:

- ``Alert``: a notice per org unit its ``<area>`` names (a configured geocode, or an area
  description naming the town, a village or a grid), text from the template of its event
  and severity; sent at once or left for an official's ``#确认`` by the config's rules;
- ``Update``: corrects the notices of the warning it references (a pending one is
  replaced);
- ``Cancel``: recalls them (a pending one is dropped);
- ``Ack``/``Error`` and non-``Actual`` statuses (exercises, tests) are recorded, not sent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path

from lxml import etree

__all__ = [
    "CAP_NS",
    "SEVERITY_ZH",
    "CapAlert",
    "CapArea",
    "CapInfo",
    "CapInvalid",
    "CapRuleView",
    "choose_action",
    "match_scopes",
    "parse_cap",
    "references",
    "render",
]

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
_NS = {"cap": CAP_NS}
MAX_CAP_BYTES = 512 * 1024

SEVERITY_ZH = {
    "Extreme": "红色",
    "Severe": "橙色",
    "Moderate": "黄色",
    "Minor": "蓝色",
    "Unknown": "",
}
"""CAP severities as China's four warning colours (GB/T 35965.1)."""


class CapInvalid(ValueError):
    """Not a CAP 1.2 alert we can use; the message says why (in Chinese)."""

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems)


@dataclass(frozen=True, slots=True)
class CapArea:
    description: str
    geocodes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class CapInfo:
    language: str
    event: str
    urgency: str
    severity: str
    certainty: str
    headline: str = ""
    description: str = ""
    instruction: str = ""
    sender_name: str = ""
    expires: datetime | None = None
    areas: tuple[CapArea, ...] = ()


@dataclass(frozen=True, slots=True)
class CapAlert:
    identifier: str
    sender: str
    sent: datetime
    status: str
    msg_type: str
    scope: str
    references: tuple[tuple[str, str, str], ...] = ()
    """(sender, identifier, sent) of the alerts an Update or Cancel refers to."""
    infos: tuple[CapInfo, ...] = ()
    note: str = ""

    @property
    def info(self) -> CapInfo | None:
        """The Chinese info block when there is one, else the first."""
        for info in self.infos:
            if info.language.lower().startswith("zh"):
                return info
        return self.infos[0] if self.infos else None


@cache
def _schema() -> etree.XMLSchema:
    path = Path(__file__).with_name("data") / "cap12.xsd"
    return etree.XMLSchema(etree.parse(str(path)))


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
    )


def _text(node: etree._Element, path: str) -> str:
    found = node.find(path, _NS)
    return (found.text or "").strip() if found is not None else ""


def _time(value: str) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def references(value: str) -> tuple[tuple[str, str, str], ...]:
    """``sender,identifier,sent`` triples, separated by whitespace."""
    out = []
    for item in value.split():
        parts = item.split(",")
        if len(parts) == 3:
            out.append((parts[0], parts[1], parts[2]))
    return tuple(out)


def parse_cap(data: bytes) -> CapAlert:
    """A validated CAP 1.2 alert, or :class:`CapInvalid` naming what is wrong."""
    if len(data) > MAX_CAP_BYTES:
        raise CapInvalid(f"CAP 文件太大（最多 {MAX_CAP_BYTES // 1024} KB）")
    if b"<!DOCTYPE" in data[:2048] or b"<!ENTITY" in data:
        raise CapInvalid("CAP 文件不得包含 DOCTYPE 或实体声明")
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise CapInvalid("不是有效的 XML", [str(exc)]) from None
    if root.tag != f"{{{CAP_NS}}}alert":
        raise CapInvalid(f"根元素应为 CAP 1.2 的 alert（命名空间 {CAP_NS}）", [str(root.tag)])
    schema = _schema()
    if not schema.validate(root):
        problems = [f"第{e.line}行: {e.message}" for e in list(schema.error_log)[:10]]
        raise CapInvalid("不符合 CAP 1.2 规范", problems)
    infos = []
    for node in root.findall("cap:info", _NS):
        areas = tuple(
            CapArea(
                description=_text(area, "cap:areaDesc"),
                geocodes=tuple(
                    (_text(g, "cap:valueName"), _text(g, "cap:value"))
                    for g in area.findall("cap:geocode", _NS)
                ),
            )
            for area in node.findall("cap:area", _NS)
        )
        infos.append(
            CapInfo(
                language=_text(node, "cap:language") or "en-US",
                event=_text(node, "cap:event"),
                urgency=_text(node, "cap:urgency"),
                severity=_text(node, "cap:severity"),
                certainty=_text(node, "cap:certainty"),
                headline=_text(node, "cap:headline"),
                description=_text(node, "cap:description"),
                instruction=_text(node, "cap:instruction"),
                sender_name=_text(node, "cap:senderName"),
                expires=_time(_text(node, "cap:expires")),
                areas=areas,
            )
        )
    alert = CapAlert(
        identifier=_text(root, "cap:identifier"),
        sender=_text(root, "cap:sender"),
        sent=datetime.fromisoformat(_text(root, "cap:sent")),
        status=_text(root, "cap:status"),
        msg_type=_text(root, "cap:msgType"),
        scope=_text(root, "cap:scope"),
        references=references(_text(root, "cap:references")),
        infos=tuple(infos),
        note=_text(root, "cap:note"),
    )
    if alert.msg_type in ("Update", "Cancel") and not alert.references:
        raise CapInvalid(f"{alert.msg_type} 必须在 references 中指明所更新或撤销的预警")
    if alert.msg_type == "Alert" and alert.info is None:
        raise CapInvalid("Alert 预警至少需要一个 info")
    return alert


# --- decisions (pure) -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CapRuleView:
    severities: tuple[str, ...]
    events: tuple[str, ...]
    action: str


def choose_action(info: CapInfo, rules: Iterable[CapRuleView]) -> str:
    """``send`` or ``confirm``: the first rule matching the severity and event."""
    for rule in rules:
        if info.severity in rule.severities and (not rule.events or info.event in rule.events):
            return rule.action
    return "confirm"


def _names(path: tuple[str, ...]) -> Iterable[str]:
    """The ways an area description may name an org unit: 黄霞村, 黄霞村第16网格."""
    yield path[-1]
    if len(path) >= 2:
        yield "".join(path[-2:])


def match_scopes(
    areas: Sequence[CapArea],
    *,
    town: str,
    org_paths: Iterable[tuple[str, ...]],
    geocodes: Mapping[str, str],
) -> list[tuple[str, ...]]:
    """The org paths (below the town; ``()`` is the town) the areas name, the narrower
    ones dropped when a broader one covers them."""
    known = [p for p in org_paths if 1 <= len(p) <= 2]  # villages and grids
    found: set[tuple[str, ...]] = set()
    for area in areas:
        for _name, value in area.geocodes:
            if value in geocodes:
                found.add(tuple(p for p in geocodes[value].split("/") if p))
        text = re.sub(r"\s+", "", area.description)
        named = [p for p in known if any(name in text for name in _names(p))]
        found.update(named)
        if not named and town and town in text:  # 国欢镇国欢村 names the village, not the town
            found.add(())
    kept = sorted(found, key=len)
    out: list[tuple[str, ...]] = []
    for path in kept:
        if not any(path[: len(broader)] == broader for broader in out):
            out.append(path)
    return out


BUILTIN_TEMPLATES = {
    "台风": "【{severity_zh}台风预警】{headline}\n{description}\n防御指引：{instruction}\n"
    "请各网格立即转告每家每户，加固门窗、远离危房和广告牌，低洼地带群众做好转移准备。",
    "暴雨": "【{severity_zh}暴雨预警】{headline}\n{description}\n防御指引：{instruction}\n"
    "请注意防范城乡积涝和山洪，不要在低洼处和河道边停留。",
    "洪水": "【{severity_zh}洪水预警】{headline}\n{description}\n防御指引：{instruction}\n"
    "沿河群众请听从村网格站安排，及时转移到安全地带。",
    "*": "【{severity_zh}{event}预警】{headline}\n{description}\n{instruction}",
}


@dataclass(frozen=True, slots=True)
class RenderedNotice:
    title: str
    body: str
    urgent: bool


def render(
    info: CapInfo, *, sender: str, templates: Mapping[str, str], update: bool = False
) -> RenderedNotice:
    """The notice text: the template of ``event/severity``, ``event``, or ``*``
    (config first, then the built-in ones)."""
    keys = (f"{info.event}/{info.severity}", info.event, "*")
    template = next(
        (t for key in keys for source in (templates, BUILTIN_TEMPLATES) if (t := source.get(key))),
        BUILTIN_TEMPLATES["*"],
    )
    values = {
        "event": info.event,
        "severity": info.severity,
        "severity_zh": SEVERITY_ZH.get(info.severity, ""),
        "headline": info.headline or info.event,
        "description": info.description,
        "instruction": info.instruction or "请关注后续通知。",
        "area": "、".join(a.description for a in info.areas),
        "sender": info.sender_name or sender,
        "expires": info.expires.strftime("%m月%d日%H:%M") if info.expires else "",
    }
    try:
        body = template.format_map(_Blank(values))
    except (ValueError, IndexError):
        body = BUILTIN_TEMPLATES["*"].format_map(_Blank(values))
    body = re.sub(r"\n{2,}", "\n", body).strip()
    colour = SEVERITY_ZH.get(info.severity, "")
    title = f"{colour}{info.event}预警" + ("（更新）" if update else "")
    return RenderedNotice(
        title=title[:200],
        body=body[:4000],
        urgent=info.severity in ("Extreme", "Severe") or info.urgency == "Immediate",
    )


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


__all__ += ["BUILTIN_TEMPLATES", "RenderedNotice"]
