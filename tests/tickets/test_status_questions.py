"""A resident asking about their own report (tickets/status_questions.py)."""

from __future__ import annotations

import pytest

from tickets.status_questions import status_question, topic_overlap

ASKING = [
    ("我上次反映的楼上噪音的事情怎么样了？", "楼上噪音"),
    ("我之前投诉的垃圾问题处理了吗", "垃圾"),
    ("上次说的路灯修好了没", "路灯"),
    ("我反映的那个事有进展吗", ""),
    ("请问我的工单怎么样了", ""),
    ("前几天反映的漏水，到现在还没人来", "漏水"),
    ("我们上周反映的停车问题有结果了吗", "停车"),
    ("那件事怎么样了", ""),
    ("我报修的下水道什么时候能修好", None),
    ("昨天反映的噪音问题，有消息吗？", "噪音"),
]
NOT_ASKING = [
    "楼上又吵起来了",
    "小区什么时候修路",
    "3栋楼道的灯坏了好几天了",
    "我的网格长",
    "收到",
    "楼上噪音太吵了，怎么还没人管",
    "大家好，明天停水",
    "我上次反映的问题" + "还是很严重，" * 20,
]


@pytest.mark.parametrize(("text", "topic"), ASKING)
def test_status_questions_are_recognised_with_their_topic(text: str, topic: str | None) -> None:
    question = status_question(text)
    assert question is not None
    if topic is not None:
        assert question.topic == topic


@pytest.mark.parametrize("text", NOT_ASKING)
def test_new_reports_and_other_questions_are_not_status_questions(text: str) -> None:
    assert status_question(text) is None


def test_topic_overlap_picks_the_matching_ticket() -> None:
    noise = "楼上邻居天天半夜噪音很大，吵得孩子睡不着"
    drain = "楼下下水道堵了"
    assert topic_overlap("楼上噪音", noise) > topic_overlap("楼上噪音", drain)
    assert topic_overlap("", noise) == 0.0
