"""Chat command parsing, and the ticket/notice codes it relies on."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.clock import TOWN_TZ, local_day
from core.config import Department
from core.departments import match_department, suggest_department
from core.ids import (
    InvalidCode,
    TicketCode,
    format_notice_code,
    format_ticket_code,
    normalize_code_text,
    parse_notice_code,
    parse_ticket_code,
    ticket_code_prefix,
)
from models.enums import Rating
from tickets.commands import (
    USAGE,
    CommandError,
    MyTickets,
    QueryTicket,
    RateCommand,
    ReassignCommand,
    TicketCommand,
    parse_command,
    parse_days,
)
from tickets.lifecycle import (
    Accept,
    Escalate,
    Extend,
    Rate,
    Remark,
    Report,
    Resolve,
    Return,
    Whistle,
)

CODE = "T20261130-0012"
DEPARTMENTS = (
    Department(code="justice", name="区司法局", aliases=["司法局"]),
    Department(code="petitions", name="区信访局", aliases=["信访局"]),
    Department(code="housing", name="住建局", aliases=["区住建局"]),
    Department(code="environment", name="涵江生态环境局", aliases=["环保局", "生态环境局"]),
    Department(code="police", name="派出所", aliases=["公安"]),
)


def parse(text: str) -> object:
    return parse_command(text, departments=DEPARTMENTS)


def error(text: str) -> str:
    result = parse(text)
    assert isinstance(result, CommandError), result
    return result.message


# ------------------------------------------------------------------ codes


def test_ticket_code_uses_the_town_local_day() -> None:
    # 17:30 UTC on 29 November is already 30 November in Putian
    assert format_ticket_code(datetime(2026, 11, 29, 17, 30, tzinfo=UTC), 12) == CODE
    assert format_ticket_code(datetime(2026, 11, 29, 15, 59, tzinfo=UTC), 12) == "T20261129-0012"
    assert local_day(datetime(2026, 11, 30, 8, tzinfo=TOWN_TZ)) == date(2026, 11, 30)
    assert ticket_code_prefix(date(2026, 11, 30)) == "T20261130-"


def test_ticket_code_sequence_bounds() -> None:
    assert format_ticket_code(datetime(2026, 11, 30, 1, tzinfo=UTC), 1) == "T20261130-0001"
    assert format_ticket_code(datetime(2026, 11, 30, 1, tzinfo=UTC), 12345) == "T20261130-12345"
    with pytest.raises(ValueError):
        format_ticket_code(datetime(2026, 11, 30, 1, tzinfo=UTC), 0)
    with pytest.raises(ValueError, match="timezone-aware"):
        format_ticket_code(datetime(2026, 11, 30, 1), 1)


@pytest.mark.parametrize(
    "text", [CODE, "t20261130-0012", "Ｔ２０２６１１３０－００１２", " T20261130—0012 "]
)
def test_parse_ticket_code_is_tolerant_of_typing(text: str) -> None:
    assert parse_ticket_code(text) == TicketCode(date(2026, 11, 30), 12)
    assert str(parse_ticket_code(text)) == CODE


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("T2026113-0012", "格式不对"),
        ("T20261130-12", "格式不对"),
        ("T20261130 0012", "格式不对"),
        ("20261130-0012", "格式不对"),
        ("T20261130-0000", "序号"),
        ("T20261130-00012", "序号"),
        ("T20261131-0012", "日期20261131不存在"),
        ("", "格式不对"),
    ],
)
def test_parse_ticket_code_refuses_with_an_example(text: str, fragment: str) -> None:
    with pytest.raises(InvalidCode) as info:
        parse_ticket_code(text)
    assert fragment in str(info.value) and CODE in str(info.value)


def test_notice_codes() -> None:
    assert format_notice_code(42) == "N0042"
    assert parse_notice_code("n００４２") == 42
    assert parse_notice_code("N12345") == 12345
    for bad in ("N42", "N0000", "N00042", "0042", "T0042"):
        with pytest.raises(InvalidCode, match="N0042"):
            parse_notice_code(bad)
    with pytest.raises(ValueError):
        format_notice_code(0)


@given(
    day=st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)),
    seq=st.integers(min_value=1, max_value=999_999),
)
def test_ticket_code_round_trip(day: date, seq: int) -> None:
    code = str(TicketCode(day, seq))
    assert parse_ticket_code(code) == TicketCode(day, seq)
    assert parse_ticket_code(code.lower()) == TicketCode(day, seq)
    assert normalize_code_text(code) == code


@given(seq=st.integers(min_value=1, max_value=999_999))
def test_notice_code_round_trip(seq: int) -> None:
    assert parse_notice_code(format_notice_code(seq)) == seq


# ------------------------------------------------------------ good commands

GOOD = [
    (f"接单 {CODE}", TicketCommand(CODE, Accept())),
    (f"签收{CODE}", TicketCommand(CODE, Accept())),
    (f"接单 {CODE} 马上到", TicketCommand(CODE, Accept("马上到"))),
    (f"报到 {CODE}", TicketCommand(CODE, Report())),
    (f"办结 {CODE} 已疏通下水道", TicketCommand(CODE, Resolve("已疏通下水道"))),
    (f"办结 {CODE} 3号楼已修好", TicketCommand(CODE, Resolve("3号楼已修好"))),
    (f"办结：{CODE}，已清理", TicketCommand(CODE, Resolve("已清理"))),
    (f"上报 {CODE} 涉及两个网格", TicketCommand(CODE, Escalate("涉及两个网格"))),
    (f"备注 {CODE} 已联系物业\n明早复查", TicketCommand(CODE, Remark("已联系物业\n明早复查"))),
    (f"退单 {CODE} 不属于本网格", TicketCommand(CODE, Return("不属于本网格"))),
    (f"吹哨 {CODE} 区司法局", TicketCommand(CODE, Whistle("justice", "区司法局"))),
    (
        f"吹哨 {CODE} 司法局 需要调解",
        TicketCommand(CODE, Whistle("justice", "区司法局", "需要调解")),
    ),
    (
        f"吹哨 {CODE} 区司法局调解纠纷",
        TicketCommand(CODE, Whistle("justice", "区司法局", "调解纠纷")),
    ),
    (f"吹哨 {CODE} 环保局", TicketCommand(CODE, Whistle("environment", "涵江生态环境局"))),
    (f"吹哨 {CODE} 区住建局", TicketCommand(CODE, Whistle("housing", "住建局"))),
    (f"改派 {CODE} @李四", ReassignCommand(CODE, "李四")),
    (f"改派 {CODE} @李四\u2005他熟悉情况", ReassignCommand(CODE, "李四", "他熟悉情况")),
    (f"改派 {CODE} 给@李四", ReassignCommand(CODE, "李四")),
    (f"改派 {CODE} 李四", ReassignCommand(CODE, "李四")),
    (f"延期 {CODE} 3天 等待材料", TicketCommand(CODE, Extend(3, "等待材料"))),
    (f"延期 {CODE} 三天 等待材料", TicketCommand(CODE, Extend(3, "等待材料"))),
    (f"延期 {CODE} 3 等待材料", TicketCommand(CODE, Extend(3, "等待材料"))),
    (f"延期 {CODE} 十五日，施工", TicketCommand(CODE, Extend(15, "施工"))),
    (f"延期 {CODE} 一周 等配件", TicketCommand(CODE, Extend(7, "等配件"))),
    (f"延期 {CODE} 两天等待材料", TicketCommand(CODE, Extend(2, "等待材料"))),
    (f"查询 {CODE}", QueryTicket(CODE)),
    ("我的工单", MyTickets()),
    ("我的工单？", MyTickets()),
    ("满意", RateCommand(Rating.SATISFIED)),
    ("满意！👍", RateCommand(Rating.SATISFIED)),
    ("非常满意", RateCommand(Rating.SATISFIED)),
    ("基本满意", RateCommand(Rating.BASICALLY_SATISFIED)),
    ("不满意", RateCommand(Rating.UNSATISFIED)),
    ("不满意，还在漏水", RateCommand(Rating.UNSATISFIED, None, "还在漏水")),
    (f"满意 {CODE}", RateCommand(Rating.SATISFIED, CODE)),
    (f"不满意 {CODE} 没人来过", RateCommand(Rating.UNSATISFIED, CODE, "没人来过")),
    (f"基本满意{CODE}", RateCommand(Rating.BASICALLY_SATISFIED, CODE)),
]


@pytest.mark.parametrize(("text", "expected"), GOOD, ids=[g[0] for g in GOOD])
def test_good_commands(text: str, expected: object) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        f"@网格通\u2005接单 {CODE}",  # WeChat puts U+2005 after a mention
        f"@网格通 @张三 接单 {CODE}",
        f"＠网格通　接单　{CODE}",  # full-width @ and spaces
        "接单\u3000ｔ２０２６１１３０－００１２",
        "接单 t20261130-0012",
        "  接单 T 20261130-0012  ",
        f"\u200b接单 {CODE}",
        f"接单：{CODE}",
    ],
)
def test_tolerated_spellings(text: str) -> None:
    assert parse(text) == TicketCommand(CODE, Accept())


def test_rating_action() -> None:
    command = parse("不满意，还在漏水")
    assert isinstance(command, RateCommand)
    assert command.action() == Rate(Rating.UNSATISFIED, "还在漏水")


# ----------------------------------------------------------- not a command


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "收到",
        "3栋门口下水道堵了",
        "@网格通",
        "@网格通 5号楼电梯坏了",
        "上报了好几次都没人管",
        "查询一下医保怎么办理",
        "接单了吗？",
        "备注一下，明天停水",
        "报到处在哪里",
        "满意度调查怎么填",
        "不满意物业的服务，天天乱收费",
        "我的工单怎么查不到",
        "办结了吗",
        "请问T3路公交几点",
        "[图片]",
        "😀😀😀",
    ],
)
def test_not_a_command_goes_to_intake(text: str) -> None:
    assert parse(text) is None


# --------------------------------------------------------------- malformed


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("接单", ["后面要写工单编号", f"接单 {CODE}"]),
        ("@网格通 办结", ["后面要写工单编号", f"办结 {CODE} 处理结果"]),
        ("接单 T2026113-0012", ["「T2026113-0012」格式不对", f"正确写法：接单 {CODE}"]),
        ("查询 T20261130-12", ["格式不对", "我的工单"]),
        ("办结 T20261131-0012 好了", ["日期20261131不存在"]),
        ("报到 20261130-0012", ["格式不对"]),
        (f"办结 {CODE}", ["请写明处理结果", f"办结 {CODE} 处理结果"]),
        (f"上报 {CODE}", ["请写明上报原因"]),
        (f"备注 {CODE}", ["备注内容"]),
        (f"退单 {CODE}", ["退单原因"]),
        (f"改派 {CODE}", ["改派给谁", f"改派 {CODE} @某人"]),
        (f"延期 {CODE}", ["延期几天"]),
        (f"延期 {CODE} 等待材料", ["延期几天", f"延期 {CODE} 3天 延期原因"]),
        (f"延期 {CODE} 3天", ["延期原因"]),
        (f"延期 {CODE} 0天 等", ["至少为1天"]),
        ("延期 3天 等材料", ["缺少工单编号"]),
        (f"吹哨 {CODE}", ["呼叫哪个部门", "区司法局、区信访局"]),
        ("满意 T2026-1", ["格式不对", "满意 / 基本满意 / 不满意"]),
    ],
)
def test_malformed_commands_say_what_is_wrong_and_how(text: str, fragments: list[str]) -> None:
    message = error(text)
    for fragment in fragments:
        assert fragment in message, message


def test_unknown_department_with_suggestion() -> None:
    message = error(f"吹哨 {CODE} 司法所")
    assert "没有找到部门「司法所」" in message
    assert "您是不是要找「区司法局」？" in message
    assert f"吹哨 {CODE} 区司法局" in message
    assert "可呼叫的部门：区司法局、区信访局、住建局、涵江生态环境局、派出所" in message


def test_unknown_department_followed_by_punctuation() -> None:
    message = error(f"吹哨 {CODE} 司法所，需要调解")
    assert "没有找到部门「司法所」" in message


def test_unknown_department_without_a_close_match() -> None:
    message = error(f"吹哨 {CODE} 教育局")
    assert "没有找到部门「教育局」" in message and "您是不是要找" not in message
    assert "可呼叫的部门" in message


def test_whistle_without_configured_departments() -> None:
    result = parse_command(f"吹哨 {CODE} 区司法局")
    assert isinstance(result, CommandError) and "尚未配置" in result.message


def test_long_department_list_is_cut() -> None:
    many = [Department(code=f"d{i}", name=f"部门{i}") for i in range(20)]
    result = parse_command(f"吹哨 {CODE} 不存在的局", departments=many)
    assert isinstance(result, CommandError)
    assert "部门11等" in result.message and "部门12" not in result.message


def test_every_usage_line_is_a_valid_command() -> None:
    for verb, usage in USAGE.items():
        line = usage.split("，")[0].replace("@某人", "@李四")
        assert not isinstance(parse(line), CommandError | None), verb


# ------------------------------------------------------------ departments


def test_match_and_suggest_department() -> None:
    assert match_department("区司法局", DEPARTMENTS) is DEPARTMENTS[0]
    assert match_department("司法局", DEPARTMENTS) is DEPARTMENTS[0]
    assert match_department("ＰＯＬＩＣＥ", [Department(code="p", name="Police")]) is not None
    assert match_department("司法所", DEPARTMENTS) is None
    assert suggest_department("司法所", DEPARTMENTS) is DEPARTMENTS[0]
    assert suggest_department("信访", DEPARTMENTS) is DEPARTMENTS[1]
    assert suggest_department("生态局", DEPARTMENTS) is DEPARTMENTS[3]
    assert suggest_department("教育局", DEPARTMENTS) is None
    assert suggest_department("", DEPARTMENTS) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3天", (3, "")),
        ("三天 原因", (3, " 原因")),
        ("十天", (10, "")),
        ("十五天", (15, "")),
        ("二十天", (20, "")),
        ("二十一天", (21, "")),
        ("两周", (14, "")),
        ("1个星期", (7, "")),
        ("三", None),
        ("原因", None),
        ("十十天", None),
    ],
)
def test_parse_days(text: str, expected: tuple[int, str] | None) -> None:
    assert parse_days(text) == expected


@given(st.text(max_size=300))
def test_parser_never_crashes(text: str) -> None:
    result = parse(text)
    assert result is None or isinstance(
        result,
        CommandError | TicketCommand | ReassignCommand | QueryTicket | MyTickets | RateCommand,
    )
    if isinstance(result, CommandError):
        assert result.message


@given(st.text(alphabet="接单办结吹哨延期满意T0123456789-天三 @", max_size=60))
def test_parser_never_crashes_on_command_like_text(text: str) -> None:
    parse(text)


def test_huge_message_is_handled() -> None:
    assert parse("下水道堵了" * 20_000) is None
    result = parse(f"办结 {CODE} " + "好" * 100_000)
    assert isinstance(result, TicketCommand)
    assert parse("延期 " + "9" * 10_000) is not None  # an error, not a crash


def test_config_departments_can_be_passed_as_they_are() -> None:
    configured = [Department(code="justice", name="区司法局", aliases=["司法局"])]
    assert parse_command(f"吹哨 {CODE} 司法局", departments=configured) == TicketCommand(
        CODE, Whistle("justice", "区司法局")
    )


def test_a_wrong_command_is_explained() -> None:
    parsed = parse_command("接单")
    assert isinstance(parsed, CommandError) and "正确写法" in parsed.message
