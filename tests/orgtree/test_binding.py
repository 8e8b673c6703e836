from __future__ import annotations

import pytest

from orgtree.binding import Binding, TopicIndex, Unbound, normalize_topic, topic_for
from tests.factories import guohuan

TOWN = "国欢镇"


@pytest.fixture(scope="module")
def index() -> TopicIndex:
    roster = guohuan()
    paths = {()} | {r.path[:n] for r in roster.rows for n in (1, 2, 3)}
    return TopicIndex(TOWN, paths, mapping={"9999@chatroom": ("黄霞村",)})


def test_every_conventional_topic_binds_to_its_own_unit(index: TopicIndex) -> None:
    roster = guohuan()
    paths = {()} | {r.path[:n] for r in roster.rows for n in (1, 2, 3)}
    assert len(paths) == 4747
    for path in paths:
        assert index.bind("x@chatroom", topic_for(TOWN, path)) == Binding(path, "topic"), path


@pytest.mark.parametrize(
    ("topic", "path"),
    [
        ("国欢镇黄霞村第16网格", ("黄霞村", "第16网格")),
        ("黄霞村16网格", ("黄霞村", "第16网格")),
        ("黄霞村 第16网格 微信群", ("黄霞村", "第16网格")),
        ("黄霞村第１６网格（网格群）", ("黄霞村", "第16网格")),
        ("国欢镇黄霞村群", ("黄霞村",)),
        ("黄霞村", ("黄霞村",)),
        ("国欢镇工作群", ()),
    ],
)
def test_usual_spellings_bind(index: TopicIndex, topic: str, path: tuple[str, ...]) -> None:
    assert index.bind("x@chatroom", topic) == Binding(path, "topic")


@pytest.mark.parametrize("topic", ["第16网格", "", "   ", "黄霞村广场舞队", "国欢镇黄霞村第99网格"])
def test_unplaceable_topics_are_reported_not_guessed(index: TopicIndex, topic: str) -> None:
    result = index.bind("x@chatroom", topic)
    assert isinstance(result, Unbound)
    assert result.reason


def test_explicit_mapping_wins(index: TopicIndex) -> None:
    assert index.bind("9999@chatroom", "随便什么群") == Binding(("黄霞村",), "mapping")


def test_normalize_topic_drops_decoration_and_suffix() -> None:
    assert normalize_topic("国湄•领涵 3号楼 业主群") == "国湄领涵3号楼"
    assert normalize_topic("ＡＢＣ工作群") == "abc"
