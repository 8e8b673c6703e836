"""The directory question in residents' own words (bot/routers/directory.py)."""

from __future__ import annotations

import pytest

from bot.routers.directory import ALL_POSTS, GRID_POSTS, UNIT_POSTS, leader_question

GRID = [
    "我们这栋的网格长是谁啊？电话多少",
    "我的网格长",
    "找网格长",
    "网格长",
    "联系网格长",
    "网格长电话",
    "网格长的手机号是多少",
    "@网格助手 网格长电话多少？",
    "网格长呢",
    "谁是网格长",
    "网格长叫什么名字",
    "网格长微信多少",
    "怎么联系网格长",
    "请问咱们网格长是哪位",
    "ＷＧ网格长电话？",
]
UNIT = [
    "单元长电话多少",
    "我的单元长",
    "请问我们楼的单元长是哪位？",
    "单元长怎么联系",
    "楼栋长是谁",
    "请问一下我们这栋的楼长是谁",
    "栋长电话给一下",
]
ANYONE = [
    "找谁反映",
    "有事找谁",
    "有问题该找谁反映啊",
    "负责人是谁",
    "我们这里谁负责啊",
    "有事情联系谁",
    "投诉找谁",
    "物业电话多少",
    "想咨询点事情问谁",
]
NOT_QUESTIONS = [
    "楼道灯坏了找谁修",
    "网格长不管事，楼道灯坏了好几天了",
    "收到",
    "今天天气不错",
    "网格长来了",
    "楼上噪音太吵了谁管管",
    "找网格长反映了好几次都没人管，下水道堵了",
    "我上次反映的楼上噪音的事情怎么样了？",
    "谁家的狗一直叫",
    "明天几点停水",
    "网格长辛苦了",
    "感谢网格长",
    "",
    "网格长" * 20,
]


@pytest.mark.parametrize("text", GRID)
def test_grid_leader_questions(text: str) -> None:
    question = leader_question(text)
    assert question is not None and question.posts >= GRID_POSTS


@pytest.mark.parametrize("text", UNIT)
def test_unit_leader_questions(text: str) -> None:
    question = leader_question(text)
    assert question is not None and question.posts == UNIT_POSTS


@pytest.mark.parametrize("text", ANYONE)
def test_whom_to_tell_questions_name_every_leader(text: str) -> None:
    question = leader_question(text)
    assert question is not None and question.posts == ALL_POSTS


@pytest.mark.parametrize("text", NOT_QUESTIONS)
def test_reports_and_chat_are_not_directory_questions(text: str) -> None:
    assert leader_question(text) is None


def test_phone_questions_are_told_apart() -> None:
    assert leader_question("单元长电话多少") == leader_question("单元长手机号")
    assert leader_question("单元长电话多少").wants_phone  # type: ignore[union-attr]
    assert not leader_question("楼栋长是谁").wants_phone  # type: ignore[union-attr]
    assert leader_question("站长电话多少").posts == {"station_chief"}  # type: ignore[union-attr]
    assert leader_question("第二单元长电话").posts == {"second_unit_leader"}  # type: ignore[union-attr]
