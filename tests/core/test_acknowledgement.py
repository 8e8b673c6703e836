"""The one acknowledgement detector (core.acknowledgement), for intake and for receipts."""

from __future__ import annotations

import pytest

from core.acknowledgement import (
    AcknowledgementDetector,
    acknowledgement_detector,
    is_acknowledgement,
    message_content,
)
from core.config import parse_settings

CONFIGURED = tuple(parse_settings({}).broadcast.ack_words)  # 收到 已阅 1 好的 好 明白


def test_content_drops_codes_emoji_punctuation_and_spaces() -> None:
    assert message_content(" 收到！[强]👍 @ ") == "收到"
    assert message_content("[图片]") == ""


@pytest.mark.parametrize(
    "text",
    ["收到", "收到！", "1", "111", "已阅。", "好的👌", " 明白[强] ", "👍", "[OK]", "✅",
     "3栋收到", "@李书记 收到", "张三已阅", "收到，谢谢书记", "收到收到", "１"],
)  # fmt: skip
def test_acknowledgements_with_the_configured_words(text: str) -> None:
    assert is_acknowledgement(text, CONFIGURED)


@pytest.mark.parametrize(
    "text",
    ["", "   ", "[图片]", "12", "你好", "大家早上好", "好几天没人来修", "谁收到了", "快递一直没收到",
     "收到通知了吗，3栋的垃圾还没人收", "收到，马上落实", "收到，路灯还是坏的"],
)  # fmt: skip
def test_not_acknowledgements_without_trailing_text(text: str) -> None:
    assert not is_acknowledgement(text, CONFIGURED)


@pytest.mark.parametrize(
    "text", ["收到，马上落实", "收到了，谢谢", "好的，明天准时到", "已阅 已转"]
)
def test_trailing_text_after_an_ack_word_only_when_asked(text: str) -> None:
    assert not is_acknowledgement(text, CONFIGURED)
    assert is_acknowledgement(text, CONFIGURED, accept_trailing=True)


@pytest.mark.parametrize("text", ["收到12", "好几天没人来修", "收到，三栋的路灯还是坏的"])
def test_trailing_text_is_short_and_not_a_number(text: str) -> None:
    assert not is_acknowledgement(text, CONFIGURED, accept_trailing=True)


def test_the_words_are_a_parameter() -> None:
    assert not is_acknowledgement("知悉", CONFIGURED)
    assert is_acknowledgement("知悉", ("知悉",))
    assert is_acknowledgement("1", ())  # 1s and symbols need no words
    assert AcknowledgementDetector(["ＯＫ"]).matches("ok")  # words are normalised as text is


def test_detectors_are_built_once_per_set_of_words() -> None:
    assert acknowledgement_detector(CONFIGURED) is acknowledgement_detector(CONFIGURED)
    assert acknowledgement_detector(CONFIGURED) is not acknowledgement_detector(
        CONFIGURED, accept_trailing=True
    )
