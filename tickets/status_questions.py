"""A resident asking about their own earlier report (我上次反映的楼上噪音的事情怎么样了？).

Such a message is not a new problem: it is answered from the resident's tickets, never
filed. :func:`status_question` is pure and runs before intake; it reads two parts of the
message — a reference to something the writer reported before (我上次反映的, 之前投诉的,
我报的那个, 那件事) and a question about its progress (怎么样了, 有进展吗, 处理了没有,
什么时候修, 还没人来) — and keeps what is left as the topic (楼上噪音), to pick the ticket.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

__all__ = ["MAX_STATUS_CHARS", "StatusQuestion", "status_question", "topic_overlap"]

MAX_STATUS_CHARS = 60
"""Longer messages describe a problem (perhaps again): intake reads them."""


@dataclass(frozen=True, slots=True)
class StatusQuestion:
    """A question about the writer's own report; ``topic`` is what it is about (may be empty)."""

    topic: str


_EARLIER = re.compile(
    r"(?:我|我们|俺|咱|我家)?(?:上次|上回|之前|以前|前几天|前两天|前些天|昨天|前天|上周|上个月|早上|刚才|那天)?"
    r"(?:在群里)?(?:反映|反应|投诉|举报|报修|报的|报了|提的|提了|说的|说过|讲的|讲过|登记|问的)"
    r"(?:过|了)?(?:的)?"
)
_ORDINAL_REFERENCE = re.compile(
    r"(?:那个|那件|这个|这件)(?:事|事情|问题|工单)|我的(?:工单|问题|事情)"
)
_PROGRESS = re.compile(
    r"怎么样了|怎样了|咋样了|如何了|进展|进度|处理了没|处理了吗|处理好了|处理得怎么样|有结果|"
    r"结果呢|解决了没|解决了吗|解决没|修好了没|修好了吗|修了没|修了吗|办了没|办了吗|办好了没|"
    r"什么时候(?:能|可以|会)?(?:修|处理|解决|来|办)|有人管吗|有没有人管|还没(?:人)?(?:来|处理|修|解决|动静|消息|回复)|"
    r"到哪一步|在办吗|跟进|落实了没|没下文|没回音|没消息|有消息吗|有回复吗|回复呢"
)
_NOT_CONTENT = re.compile(r"[\W_]+")
_FILLERS = re.compile(
    r"请问|你好|您好|麻烦|问一下|问下|想问|一下|那个|这个|那件|这件|事情|事儿|事|问题|工单|"
    r"现在|目前|到底|有|到|啊|呀|吗|呢|哦|了|的|还|都|也|就|是|我|我们|楼上的|帮忙|看看|查查"
)


def _content(text: str) -> str:
    return _NOT_CONTENT.sub("", unicodedata.normalize("NFKC", text)).lower()


def status_question(text: str) -> StatusQuestion | None:
    """Whether ``text`` asks how the writer's own earlier report is going. Pure.

    Both parts are needed: 楼上又吵起来了 reports (again), 小区什么时候修路 asks about the
    town, 我上次反映的噪音怎么样了 asks about a report.
    """
    content = _content(text)
    if not content or len(content) > MAX_STATUS_CHARS:
        return None
    progress = _PROGRESS.search(content)
    if progress is None:
        return None
    earlier = _EARLIER.search(content)
    referenced = earlier is not None and (
        earlier.group(0)[:1] in "我俺咱" or earlier.start() == 0 or "上次" in earlier.group(0)
    )
    if not referenced and not _ORDINAL_REFERENCE.search(content):
        return None
    topic = _PROGRESS.sub("", content)
    topic = _EARLIER.sub("", topic) if earlier is not None else topic
    topic = _FILLERS.sub("", _ORDINAL_REFERENCE.sub("", topic))
    return StatusQuestion(topic=topic[:20])


def _bigrams(text: str) -> set[str]:
    content = _content(text)
    return {content[i : i + 2] for i in range(len(content) - 1)} | set(content)


def topic_overlap(topic: str, ticket_text: str) -> float:
    """How well a ticket's text matches the topic of a status question (0 to 1). Pure."""
    wanted = _bigrams(topic)
    if not wanted:
        return 0.0
    return len(wanted & _bigrams(ticket_text)) / len(wanted)
