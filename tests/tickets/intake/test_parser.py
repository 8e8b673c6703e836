"""Intake: message -> ticket (tickets.intake.parser), its lexicon, and ``gridcast parse``."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import tomllib
import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

import gridcast.cli.parse
import tickets.intake.parser
from gridcast.cli.parse import parse_command
from tickets.intake.build import train_model
from tickets.intake.evaluate import evaluate, load_labelled
from tickets.intake.hanzi import fold_text, to_simplified
from tickets.intake.lexicon import CATEGORY_CODES, DEFAULT_LEXICON, LexiconError
from tickets.intake.model import (
    DATA_DIR,
    HELDOUT_FILES,
    MODEL_FILE,
    TRAINING_FILES,
    IntakeModel,
    ModelFileError,
    char_ngrams,
    read_training_files,
)
from tickets.intake.parser import (
    ParsedMessage,
    Parser,
    _normalised_body,
    default_parser,
    parse_message,
    title_of,
)
from tickets.intake.segment import (
    ADDED_WORD_FREQUENCY,
    SEGMENTER,
    WORDS_FILE,
    Segmenter,
    WordTable,
    jieba_dictionary,
)

DEV_SET = DATA_DIR / "dev.jsonl"
TRAIN_SET = DATA_DIR / "train.jsonl"
LABELLED_SET = DATA_DIR / "chat.heldout.jsonl"

# Targets of the intake issue.
TICKET_F1 = 0.90
CATEGORY_ACCURACY = 0.85
URGENT_RECALL = 0.90


def test_the_twelve_taxonomy_categories_are_the_default() -> None:
    assert set(CATEGORY_CODES) == {
        "dispute",
        "noise",
        "sanitation",
        "pollution",
        "property",
        "infrastructure",
        "safety",
        "public_order",
        "consult",
        "assistance",
        "epidemic",
        "other",
    }


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("隔壁在我家宅基地上砌了一堵墙，说了也不拆，请村里来调解", "dispute"),
        ("楼上天天半夜装修电钻响，吵得孩子睡不着", "noise"),
        ("@网格员 巷子口的垃圾桶满了好几天没人收，臭得要命", "sanitation"),
        ("后面那家养猪场的粪水直接排到溪里，整条溪都臭了", "pollution"),
        ("小区电梯坏了一个星期，物业一直拖着不修", "property"),
        ("路口的井盖松动了，车一压就哐当响，晚上路灯也不亮", "infrastructure"),
        ("好多人把电动车推进楼道充电，消防通道都堵死了", "safety"),
        ("昨晚停在楼下的电动车被偷了，监控能不能调一下", "public_order"),
        ("请问今年的城乡居民医保怎么交，在哪里办？", "consult"),
        ("村里的独居老人王奶奶腿脚不方便，没人照顾，能不能帮帮她", "assistance"),
        ("隔壁那户从外地回来没报备，也不去做核酸", "epidemic"),
        ("老板拖欠我们三个月工资不给，能不能帮忙讨薪", "other"),
    ],
)
def test_a_message_of_each_category_is_a_ticket(text: str, category: str) -> None:
    parsed = parse_message(text)
    assert parsed.is_ticket, parsed
    assert parsed.category == category
    assert parsed.urgency in ("urgent", "normal")
    assert any(e.kind == "category" and e.label == category for e in parsed.evidence)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("大家早上好", "greeting"),
        ("谢谢网格员，辛苦了🌹", "greeting"),
        ("[图片]", "media"),
        ("[语音][视频]", "media"),
        ("😂😂😂", "empty"),
        ("   ", "empty"),
        ("【停水通知】明天8点到17点黄霞村停水检修，请提前储水，相互转告。", "notice"),
        (
            "各位村民：为改善人居环境，即日起开展环境卫生专项整治，严禁乱倒建筑垃圾，"
            "违者依法处理，望大家相互监督。",
            "notice",
        ),
        ("【反诈提醒】有人冒充社保局让你转账到安全账户，都是骗子，千万不要相信！", "scam_alert"),
        ("新鲜龙眼上市啦，15元一斤，需要的加微信13859012345", "advert"),
        ("房屋出租，两室一厅，月租1200，有意者私聊", "advert"),
        ("在菜市场捡到一个钱包，失主请联系我", "lost_found"),
        ("我家的小狗走丢了，白色的，看到的告诉我，必有重谢", "lost_found"),
        ("求推荐镇上靠谱的装修师傅", "recommendation"),
        ("哈哈哈笑死我了", "social"),
        ("路灯已经修好了，谢谢村里", "resolved"),
    ],
)
def test_negatives_of_every_kind_are_not_tickets(text: str, reason: str) -> None:
    parsed = parse_message(text)
    assert not parsed.is_ticket
    assert (parsed.category, parsed.urgency, parsed.location) == (None, None, None)
    assert parsed.reason == reason


@pytest.mark.parametrize(
    "text",
    ["收到", "收到！", "1", "111", "已阅", "好的", "👌", "[OK]", "3栋收到", "@李书记 收到",
     "收到，谢谢书记", "二单元收到，已传达", "OK👍", "收到收到🙏"],
)  # fmt: skip
def test_acknowledgements_are_receipts_not_tickets(text: str) -> None:
    parsed = parse_message(text)
    assert parsed.is_acknowledgement
    assert not parsed.is_ticket
    assert parsed.reason == "acknowledgement"


@pytest.mark.parametrize("text", ["快递一直没收到", "垃圾没人收到现在", "谢谢大家"])
def test_words_like_receipts_in_other_messages_are_not_acknowledgements(text: str) -> None:
    assert not parse_message(text).is_acknowledgement


@pytest.mark.parametrize(
    "text",
    [
        "3栋一楼冒烟了，好像着火了，快来人！",
        "楼道里好大的煤气味，不知道谁家漏气了",
        "电梯困人了，里面有个老人",
        "我家老人早上出门到现在都没回来，大家帮忙找找",
        "菜市场门口有个阿婆晕倒了，叫不醒",
        "村口两伙人打起来了，有人拿着刀",
        "国欢大道上的井盖不见了，晚上看不到很危险",
        "路面塌陷了一个大坑，车差点掉进去",
        "对面独居的阿公好几天没见出门了，敲门也没人应",
        "厨房那边燃气的味道越来越重，会不会是漏了",  # a worry about now stays urgent
        "巷子里有人拿着棍子追着打人",
        # dangers described without the lexicon's words, as residents write them
        "楼上管子爆了，水哗哗地灌进我家卧室",
        "工地那面墙在晃，随时会倒，下面是人行道",
        "对面阿伯四天没开门了，电话也不接",
        "小偷撬了我家后门，现在人还在里面",
        "化工厂飘来的气味，好几个老人吐了",
        "火已经窜到隔壁屋顶上了",
        "燃气管子被挖断了，在往外喷",
    ],
)
def test_urgent_cues(text: str) -> None:
    parsed = parse_message(text)
    assert parsed.is_ticket
    assert parsed.urgency == "urgent"


@pytest.mark.parametrize(
    "text",
    [
        "去年这个配电箱着过火，到现在还是那几根破电线",
        "山上有人烧纸，风大容易引起山火，能不能派人看着",
        "家里失火以后一家人没地方住，有没有救助",
        "路灯坏了快一个月了",
        "楼梯间堆满杂物，万一起火根本跑不出去",
        "隔壁田里又在烧秸秆，浓烟滚滚，衣服都不敢晒",  # smoke of a nuisance, not a fire
        "去年台风水漫进屋里，今年排水沟还是没人修",
        "我家以前进过一次水，这排水沟能不能挖深点",
        "这个配电箱着过火，电线到现在都没换",  # 着过火: the model alone would say urgent
        "一下雨路上就积水，走路很不方便",
    ],
)
def test_past_hypothetical_or_plain_problems_are_normal(text: str) -> None:
    parsed = parse_message(text)
    assert parsed.is_ticket
    assert parsed.urgency == "normal"


@pytest.mark.parametrize(
    ("text", "location"),
    [
        ("3栋楼下的垃圾三天没人收了", "3栋"),
        ("5号楼电梯又坏了，物业不修", "5号楼"),
        ("二单元三楼的空调外机一直滴水滴到我家", "二单元三楼"),
        ("国欢大道上有个大坑，好几辆电动车摔了", "国欢大道"),
        ("村口的路灯坏了好几天了", "村口"),
        ("菜市场旁边的垃圾堆臭死了，没人清理", "菜市场旁边"),
        ("闻到很浓的煤气味，好像是5栋302那家", "5栋302"),
        ("黄霞村18号那边着火了，快打119", "黄霞村18号"),
        ("涵江路那边路面塌陷了，快派人来", "涵江路"),
        ("楼上装修太吵了，天天电钻响", None),
        ("广场舞音响开到晚上十点多，太吵了", None),
        # named institutions and districts, village groups, Chinese numerals (issue 11)
        ("城北工业园里面有家厂半夜排黑水，河里的鱼都死了", "城北工业园"),
        ("我是后埔村三组的，村里的垃圾桶满了好几天没人拉", "后埔村三组"),
        ("我们十二栋的电梯又坏了，物业也不来修", "十二栋"),
        # a short line: the same place named again more fully is the more specific one
        ("梧塘镇那座桥护栏断了，涵江区梧塘镇进村的石桥，很危险", "涵江区梧塘镇"),
        # a letter: the district before a compound stays, the room too (most specific)
        ("标题：梧塘镇一座桥护栏断了 内容：涵江区梧塘镇进村的石桥护栏断了很危险", "涵江区梧塘镇"),
        (
            "尊敬的领导：您好！我住在翠湖苑5号楼1203，楼上1303装修把防水层打坏了，"
            "我家卫生间天花板一直渗水，墙面发霉，和楼上协商了好几次都没有结果，"
            "物业也说管不了，恳请社区出面调解。",
            "翠湖苑5号楼1203",
        ),
        # a voice transcript (no punctuation): the whole spoken phrase
        (
            "喂网格长啊就是我们溪尾村那个祠堂这边两家人吵起来了还动手了你们快来",
            "溪尾村那个祠堂这边",
        ),
        ("嗯那个我是金港花园七栋的楼上天天半夜拖椅子吵得睡不着", "金港花园七栋"),
        ("那个兴化路那个公共厕所啊脏得没法进去了", "兴化路那个公共厕所"),
        ("电动车在二楼楼梯口充电冒烟了", "二楼楼梯口"),
    ],
)
def test_locations(text: str, location: str | None) -> None:
    parsed = parse_message(text)
    assert parsed.is_ticket
    assert parsed.location == location


def test_location_is_cut_from_the_original_text() -> None:
    # Full-width digits and traditional characters are normalised for matching only.
    parsed = parse_message("３棟門口的路燈壞了好幾天，晚上黑漆漆的")
    assert parsed.is_ticket
    assert parsed.category == "infrastructure"
    assert parsed.location == "３棟門口"


def test_traditional_characters_are_read() -> None:
    parsed = parse_message("樓下垃圾三天沒人收了，臭死了")
    assert (parsed.is_ticket, parsed.category) == (True, "sanitation")


def test_one_character_cues_count_only_as_words() -> None:
    # 火 as a word of its own is a fire; 火锅 is dinner.
    assert parse_message("楼下着了火，火往楼上窜").category == "safety"
    assert not parse_message("晚上一起去吃火锅吧，好香").is_ticket


@pytest.mark.parametrize(
    "text",
    [
        "",
        " \t\n ",
        "\x00\x01\x02\x1b[31m",
        "\u200b\u200d\ufeff\u202e",
        "👨‍👩‍👧‍👦🏳️‍🌈" * 50,
        "\ud800 着火了",
        "垃圾" * 6000,
        ("楼上装修电钻从早钻到晚，物业也不管，" * 600)[:10_000],
        "Lorem ipsum 路灯 не работает 🚧 مرحبا 3栋",
        "@@@@ @ @" * 100,
        "[[[[]]]]" * 100,
        "𠀀𠀁𪚥" * 10,
    ],
)
def test_pathological_inputs_never_raise(text: str) -> None:
    parsed = parse_message(text)
    assert isinstance(parsed, ParsedMessage)
    if parsed.location is not None:
        assert parsed.location in text


def test_a_non_text_message_is_not_a_ticket() -> None:
    parsed = parse_message(None)  # type: ignore[arg-type]
    assert not parsed.is_ticket


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_never_raises(text: str) -> None:
    parsed = parse_message(text)
    assert parsed.reason != "internal_error"
    if parsed.is_ticket:
        assert parsed.category in CATEGORY_CODES
        assert parsed.urgency in ("urgent", "normal")
        assert parsed.location is None or parsed.location in text
    else:
        assert (parsed.category, parsed.urgency, parsed.location) == (None, None, None)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.sampled_from(["垃圾", "没人收", "3栋", "着火", "收到", "@书记 ", "[图片]", "，", "😡",
                         "通知", "路灯", "坏了", "謝謝", "\u2005", "１", "吵", "火锅", "?"]),
        max_size=20,
    )
)  # fmt: skip
def test_arbitrary_mixes_of_cue_words_never_raise(words: list[str]) -> None:
    text = "".join(words)
    parsed = parse_message(text)
    assert parsed.reason != "internal_error"
    assert parsed.location is None or parsed.location in text


def test_a_lexicon_extended_from_config_adds_a_category() -> None:
    lexicon = DEFAULT_LEXICON.with_keywords("water_supply", ["二次供水", "水箱没洗"], weight=4.0)
    parser = Parser(lexicon)
    parsed = parser.parse("我们楼的水箱没洗过，二次供水有股怪味")
    assert (parsed.is_ticket, parsed.category) == (True, "water_supply")
    assert "water_supply" not in DEFAULT_LEXICON.categories  # the default is untouched


def test_a_lexicon_rejects_bad_weights() -> None:
    with pytest.raises(LexiconError, match="垃圾山"):
        DEFAULT_LEXICON.with_keywords("sanitation", {"垃圾山": -1.0})
    with pytest.raises(LexiconError, match="not a valid category code"):
        DEFAULT_LEXICON.with_keywords("has space", ["某词"])


def test_the_shipped_word_table_is_jiebas_dictionary() -> None:
    # jieba_words.npz is jieba's prefix dictionary (gridcast parse --build-words).
    assert WordTable.load(WORDS_FILE).same_as(WordTable.from_dictionary(*jieba_dictionary()))


def test_the_segmenter_cuts_as_jieba_does_with_the_lexicons_words(
    capfd: pytest.CaptureFixture[str],
) -> None:
    import jieba

    words = ["化粪池", "窨井盖", "化粪", "垃圾桶边"]
    segmenter = Segmenter()
    segmenter.add_words(words)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        segmenter.warm_up()  # quiet, and no jieba needed
    assert capfd.readouterr() == ("", "")
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    for word in words:
        tokenizer.add_word(word, freq=ADDED_WORD_FREQUENCY)
    capfd.readouterr()
    runs = [
        "太吵了",
        "吃火锅",
        "楼下化粪池满了臭气熏天",
        "窨井盖被偷了小孩差点掉下去",
        "垃圾桶边上全是苍蝇",
        "隔壁装修电钻从早到晚吵得人睡不着",
        "着了火快来人啊",
        "国欢镇黄霞村村口那条路塌了",
    ]
    for run in runs:
        offsets, position = set(), 0
        for piece in tokenizer.cut(run, HMM=False):
            if len(piece) == 1:
                offsets.add(position)
            position += len(piece)
        assert segmenter.single_character_words(run) == frozenset(offsets), run


def test_jieba_segments_single_character_words() -> None:
    assert 1 in SEGMENTER.single_character_words("太吵了")  # 太 / 吵 / 了
    assert 1 not in SEGMENTER.single_character_words("吃火锅")  # 吃火锅 is one word


def _assert_targets(path: Path) -> None:
    report = evaluate(load_labelled(path))
    assert report.f1 is not None and report.f1 >= TICKET_F1, report
    assert report.category_accuracy is not None
    assert report.category_accuracy >= CATEGORY_ACCURACY, report
    assert report.urgent_recall is not None and report.urgent_recall >= URGENT_RECALL, report


def test_targets_on_the_development_set() -> None:
    _assert_targets(DEV_SET)


# The held-out parts, one per register (tickets/intake/data/*.heldout.jsonl): they never
# train anything nor guide a rule or a threshold; read once, at the end of issue 11.
# Targets: F1 >= 0.95 (long-form recall >= 0.97), category >= 0.90, urgent recall >= 0.95,
# urgent precision >= 0.80, location exact >= 0.70. Where a target is not met the figure
# asserted is the honest current one, as a floor (marked "floor", see the data README).
HELDOUT_FLOORS = {
    # register: (F1, recall, category, urgent recall, urgent precision, location exact)
    "chat": (0.95, 0.97, 0.90, 0.94, 0.55, 0.48),  # floors: urgent recall, precision, location
    "longform": (0.95, 0.97, 0.87, 0.95, 0.80, 0.32),  # floors: category, location
    "voice": (0.95, 0.97, 0.90, 0.95, 0.75, 0.58),  # floors: urgent precision, location
}


@pytest.mark.parametrize("register", sorted(HELDOUT_FLOORS))
def test_held_out_figures_per_register(register: str) -> None:
    path = DATA_DIR / f"{register}.heldout.jsonl"
    rows = load_labelled(path)
    assert {row.register for row in rows} == {register}
    report = evaluate(rows)
    f1, recall, category, urgent_recall, urgent_precision, location = HELDOUT_FLOORS[register]
    assert report.f1 is not None and report.f1 >= f1
    assert report.recall is not None and report.recall >= recall
    assert report.category_accuracy is not None and report.category_accuracy >= category
    assert report.urgent_recall is not None and report.urgent_recall >= urgent_recall
    assert report.urgent_precision is not None and report.urgent_precision >= urgent_precision
    assert report.location_exact is not None and report.location_exact >= location


# blind.heldout.jsonl: 240 messages of all three registers, written on 2026-12-03 by a
# helper who saw neither the parser nor any labelled file, measured once (floors).
BLIND_FLOORS = {
    # register: (F1, category, urgent recall, urgent precision, location exact)
    "chat": (0.97, 0.83, 1.0, 0.57, 0.56),
    "longform": (0.97, 0.98, 0.90, 0.90, 0.35),
    "voice": (0.97, 0.87, 1.0, 0.88, 0.54),
}


@pytest.mark.parametrize("register", sorted(BLIND_FLOORS))
def test_blind_set_figures_per_register(register: str) -> None:
    rows = [r for r in load_labelled(DATA_DIR / "blind.heldout.jsonl") if r.register == register]
    report = evaluate(rows)
    f1, category, urgent_recall, urgent_precision, location = BLIND_FLOORS[register]
    assert report.f1 is not None and report.f1 >= f1
    assert report.category_accuracy is not None and report.category_accuracy >= category
    assert report.urgent_recall is not None and report.urgent_recall >= urgent_recall
    assert report.urgent_precision is not None and report.urgent_precision >= urgent_precision
    assert report.location_exact is not None and report.location_exact >= location


# --- gridcast parse -----------------------------------------------------------------------


def _lines(output: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_parse_command_writes_one_line_per_message() -> None:
    stdin = "\n".join(
        json.dumps({"text": t}, ensure_ascii=False)
        for t in ["3栋楼下垃圾三天没人收了，臭死了", "收到", "后山着火了！烟很大"]
    )
    result = CliRunner().invoke(parse_command, [], input=stdin + "\n")
    assert result.exit_code == 0, result.output
    lines = _lines(result.stdout)
    assert lines == [
        {
            "text": "3栋楼下垃圾三天没人收了，臭死了",
            "is_ticket": True,
            "category": "sanitation",
            "urgency": "normal",
            "location": "3栋",
        },
        {"text": "收到", "is_ticket": False, "category": None, "urgency": None, "location": None},
        {
            "text": "后山着火了！烟很大",
            "is_ticket": True,
            "category": "safety",
            "urgency": "urgent",
            "location": "后山",
        },
    ]
    assert "3栋楼下" in result.stdout  # Chinese as it is, not \\u escapes


def test_parse_command_reports_malformed_lines_and_carries_on() -> None:
    stdin = (
        b'{"text": "\xe8\xb7\xaf\xe7\x81\xaf\xe5\x9d\x8f\xe4\xba\x86\xe5\xa5\xbd\xe5\x87\xa0\xe5\xa4\xa9"}\n'
        b"not json\n"
        b"\n"
        b'{"text": 5}\n'
        b'["text"]\n'
        b'{"message": "hi"}\n'
        b"\xff\xfe\n"
        b'{"text": "1"}\n'
    )
    result = CliRunner().invoke(parse_command, [], input=stdin)
    assert result.exit_code == 1
    lines = _lines(result.stdout)
    assert len(lines) == 7  # the blank line is not a message
    assert lines[0]["is_ticket"] is True and lines[0]["category"] == "infrastructure"
    errors = [str(line["error"]) for line in lines[1:6]]
    assert errors[0].startswith("第2行: 不是合法的 JSON")
    assert errors[1] == '第4行: "text" 应为字符串, 实际是 int'
    assert errors[2].startswith("第5行: 应为 JSON 对象")
    assert errors[3] == '第6行: 缺少 "text" 字段'
    assert errors[4].startswith("第7行: 不是 UTF-8 文本")
    assert lines[6] == {
        "text": "1",
        "is_ticket": False,
        "category": None,
        "urgency": None,
        "location": None,
    }
    assert "5 行输入有误" in result.stderr


def test_parse_command_eval_prints_the_report(tmp_path: Path) -> None:
    labelled = tmp_path / "tiny.jsonl"
    rows = [
        {"text": "后山着火了，烟很大", "is_ticket": True, "category": "safety",
         "urgency": "urgent", "location": "后山"},
        {"text": "收到", "is_ticket": False, "category": None, "urgency": None, "location": None},
    ]  # fmt: skip
    labelled.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), "utf-8")

    table = CliRunner().invoke(parse_command, ["--eval", str(labelled)])
    assert table.exit_code == 0, table.output
    assert "precision 1.000  recall 1.000  F1 1.000" in table.stdout
    assert "confusion" in table.stdout

    as_json = CliRunner().invoke(parse_command, ["--eval", str(labelled), "--json"])
    assert as_json.exit_code == 0, as_json.output
    report = json.loads(as_json.stdout)
    assert report["f1"] == 1.0 and report["urgent_recall"] == 1.0
    assert report["confusion"] == {"safety": {"safety": 1}}


def test_parse_command_eval_refuses_a_bad_labelled_file(tmp_path: Path) -> None:
    labelled = tmp_path / "bad.jsonl"
    labelled.write_text(
        '{"text": "x", "is_ticket": "yes", "category": null, "urgency": null, "location": null}\n',
        "utf-8",
    )
    result = CliRunner().invoke(parse_command, ["--eval", str(labelled)])
    assert result.exit_code == 1
    assert "第1行: is_ticket 应为 true 或 false" in result.output


# --- the trained model and the batch path --------------------------------------------------


def test_the_training_files_are_not_the_held_out_set() -> None:
    assert not set(HELDOUT_FILES) & set(TRAINING_FILES)
    assert all(".heldout." in path.name for path in HELDOUT_FILES)
    assert all(".heldout." not in path.name for path in TRAINING_FILES)
    assert TRAIN_SET in TRAINING_FILES and DEV_SET in TRAINING_FILES
    training = {row.text for path in TRAINING_FILES for row in load_labelled(path)}
    held_out = {row.text for path in HELDOUT_FILES for row in load_labelled(path)}
    # Only the short lines every group repeats (收到, 1, [图片], 周末愉快) occur in both.
    assert all(len(text) <= 12 for text in training & held_out)


def test_the_training_set_is_well_formed_and_large_enough() -> None:
    rows = load_labelled(TRAIN_SET)  # validates every line
    assert len(rows) >= 1000
    tickets = [r for r in rows if r.is_ticket]
    assert {r.category for r in tickets} == set(CATEGORY_CODES)
    assert sum(r.urgency == "urgent" for r in tickets) >= 100
    assert len(rows) - len(tickets) >= 400
    assert all(r.location is None or r.location in r.text for r in rows)


def _small_training_set() -> list:
    examples = read_training_files([DEV_SET], _normalised_body)
    return examples[:400]


def test_training_is_deterministic() -> None:
    examples = _small_training_set()
    first, second = IntakeModel.train(examples), IntakeModel.train(examples)
    for text in ["楼道里有煤气味", "收到", "请问医保怎么交", ""]:
        assert first.score(_normalised_body(text)) == second.score(_normalised_body(text))


def test_model_scores_are_scikit_learns() -> None:
    # The hand-copied weights must give scikit-learn's own probabilities.
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    examples = _small_training_set()
    model = IntakeModel.train(examples)
    vectorizer = TfidfVectorizer(analyzer=char_ngrams, sublinear_tf=True)
    x = vectorizer.fit_transform([e.body for e in examples])
    reference = LogisticRegression(C=10.0, solver="liblinear", random_state=0)
    reference.fit(x, [e.is_ticket for e in examples])
    bodies = [_normalised_body(t) for t in ["楼道里有煤气味", "收到", "", "哈哈 好的", "x" * 50]]
    expected = reference.predict_proba(vectorizer.transform(bodies))[:, 1]
    single = [model.score(b).ticket for b in bodies]
    batch = [s.ticket for s in model.score_many(bodies)]
    assert single == pytest.approx(list(expected), abs=1e-9)
    assert batch == pytest.approx(list(expected), abs=1e-9)
    assert model.score_many([]) == []


def test_category_probabilities_sum_to_one() -> None:
    model = default_parser().model
    assert model is not None
    assert set(model.categories) == set(CATEGORY_CODES)
    scores = model.score(_normalised_body("楼上装修太吵了"))
    assert sum(scores.categories.values()) == pytest.approx(1.0)
    assert 0.0 <= scores.ticket <= 1.0 and 0.0 <= scores.urgent <= 1.0


MIXED = [
    "3栋楼下垃圾三天没人收了，臭死了",
    "收到",
    "[图片]",
    "",
    "后山着火了！烟很大",
    "【停水通知】明天8点到17点黄霞村停水检修，请提前储水，相互转告。",
    "隔壁在我家宅基地上砌了一堵墙，说了也不拆，请村里来调解",
    "哈哈哈笑死我了",
    "\ud800 着火了",
    "楼上装修电钻从早钻到晚，物业也不管，" * 200,
]


def test_parse_many_gives_what_parse_gives() -> None:
    parser = default_parser()
    texts = [*MIXED, None]
    batch = parser.parse_many(texts)  # type: ignore[arg-type]
    assert batch == [parser.parse(t) for t in texts]  # type: ignore[arg-type]
    assert parser.parse_many([]) == []
    assert parser.parse_many(iter(MIXED[:3])) == [parser.parse(t) for t in MIXED[:3]]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(max_size=80), max_size=8))
def test_parse_many_never_raises(texts: list[str]) -> None:
    results = default_parser().parse_many(texts)
    assert len(results) == len(texts)
    assert all(r.reason != "internal_error" for r in results)


def test_the_rules_alone_without_a_model() -> None:
    parser = Parser(model=None)
    parsed = parser.parse("小区电梯坏了一个星期，物业一直拖着不修")
    assert (parsed.is_ticket, parsed.category) == (True, "property")
    assert all(e.source != "model" for e in parsed.evidence)
    assert parser.model is None


def test_decisions_carry_the_models_evidence() -> None:
    parsed = parse_message("3栋一楼冒烟了，好像着火了，快来人！")
    models = {e.kind for e in parsed.evidence if e.source == "model"}
    assert {"ticket", "category"} <= models


def test_without_its_model_file_the_parser_falls_back_to_the_rules(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(tickets.intake.parser, "_loaded_model", None)
    monkeypatch.setattr(tickets.intake.parser, "_loading_failed", False)
    monkeypatch.setattr(tickets.intake.parser, "MODEL_FILE", tmp_path / "missing.npz")
    parser = Parser()
    with caplog.at_level(logging.ERROR, logger="tickets.intake.parser"):
        parsed = parser.parse("路灯坏了好几天了，晚上黑漆漆的")
        again = Parser().parse("路灯坏了好几天了，晚上黑漆漆的")
    assert (parsed.is_ticket, parsed.category) == (True, "infrastructure")
    assert again == parsed
    assert parser.model is None
    assert sum("not loaded" in r.message for r in caplog.records) == 1  # logged once


# --- the model file -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fresh_model() -> IntakeModel:
    """The default model trained now, as ``gridcast parse --build-model`` trains it."""
    return train_model()


def test_rebuilding_the_model_gives_the_shipped_file_byte_for_byte(
    fresh_model: IntakeModel,
) -> None:
    assert fresh_model.to_bytes() == MODEL_FILE.read_bytes(), (
        "tickets/intake/data/model.npz is not what the training data gives: "
        "run `gridcast parse --build-model` and commit the file"
    )


def test_the_loaded_model_predicts_what_the_fresh_one_does(fresh_model: IntakeModel) -> None:
    texts = [row.text for row in load_labelled(DEV_SET)]
    loaded = Parser(model=IntakeModel.load(MODEL_FILE)).parse_many(texts)
    assert loaded == Parser(model=fresh_model).parse_many(texts)  # evidence and all
    assert default_parser().parse_many(texts) == loaded


def test_the_build_model_command_writes_the_same_file(tmp_path: Path) -> None:
    target = tmp_path / "model.npz"
    result = CliRunner().invoke(parse_command, ["--build-model", "--model-out", str(target)])
    assert result.exit_code == 0, result.output
    assert f"{target.stat().st_size:,} 字节" in result.stdout
    assert target.read_bytes() == MODEL_FILE.read_bytes()


def test_the_model_file_ships_with_the_package() -> None:
    # A wheel holds the data files that pyproject.toml names, and only those.
    pyproject = tomllib.loads((Path(__file__).resolve().parents[3] / "pyproject.toml").read_text())
    shipped = pyproject["tool"]["setuptools"]["package-data"]["tickets.intake.data"]
    assert MODEL_FILE.name in shipped and WORDS_FILE.name in shipped
    assert all(any(path.match(p) for p in shipped) for path in TRAINING_FILES)


def test_a_file_that_is_not_a_model_is_refused(tmp_path: Path) -> None:
    garbage = tmp_path / "model.npz"
    garbage.write_bytes(b"not a zip")
    with pytest.raises(ModelFileError):
        IntakeModel.load(garbage)
    with pytest.raises(ModelFileError):
        IntakeModel.load(tmp_path / "missing.npz")


def test_parsing_needs_no_scikit_learn() -> None:
    script = (
        "import sys\n"
        "from tickets.intake import parse_message\n"
        "assert parse_message('3栋楼道灯坏了好几天').is_ticket\n"
        "print(sorted(m for m in ('sklearn', 'scipy') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=Path(__file__).resolve().parents[3],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "[]", done.stderr


def test_parse_command_parses_in_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gridcast.cli.parse, "BATCH_LINES", 2)
    texts = ["收到", "后山着火了！烟很大", "3栋楼下垃圾三天没人收了，臭死了", "1", "路灯坏了好几天"]
    lines = [json.dumps({"text": t}, ensure_ascii=False) for t in texts]
    lines.insert(2, "not json")
    result = CliRunner().invoke(parse_command, [], input="\n".join(lines) + "\n")
    assert result.exit_code == 1  # the bad line
    out = _lines(result.stdout)
    assert len(out) == 6
    assert str(out[2]["error"]).startswith("第3行")
    parser = default_parser()
    expected = [parser.parse(t).as_record(t) for t in texts]
    assert [o for i, o in enumerate(out) if i != 2] == expected


# --- issue 11: how residents really write ---------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    st.one_of(
        st.text(min_size=2_000, max_size=20_000),
        st.text(
            alphabet=st.characters(min_codepoint=0x3000, max_codepoint=0x9FFF), max_size=20_000
        ),
        st.lists(
            st.sampled_from(
                ["标题：", "\n", "尊敬的领导：", "着火了", "13912345678", "。", "T20261130-0012"]
            ),
            max_size=400,
        ).map("".join),
    )
)
def test_any_text_up_to_twenty_thousand_characters_returns_a_result(text: str) -> None:
    parsed = parse_message(text)
    assert isinstance(parsed, ParsedMessage) and parsed.reason != "internal_error"
    assert parsed.title is None or len(parsed.title) <= 40
    assert set(parsed.secondary_categories) <= set(CATEGORY_CODES)
    assert parsed.category not in parsed.secondary_categories
    [batched] = default_parser().parse_many([text])
    assert batched == parsed


def test_a_complaint_with_the_residents_phone_number_is_no_advert() -> None:
    parsed = parse_message("村口的路灯坏了好几天，晚上很黑，我电话13912345678")
    assert parsed.is_ticket and parsed.category == "infrastructure", parsed
    advert = parse_message("新鲜龙眼上市啦，15元一斤，需要的加微信13859012345")
    assert not advert.is_ticket and advert.reason == "advert"


@pytest.mark.parametrize(
    "text",
    [
        "开元路已认定的违章建筑何时解决？",
        "请问政府有这方面的规划吗？我们村到镇上一直没有公交车",
        "学校门口的垃圾桶很久没人倒了，已经反映过了还是没人管",
        "建议公园的路灯晚上晚关半个小时，散步的老人太多了，请镇里考虑",
    ],
)
def test_questions_suggestions_and_repeat_reports_to_the_government_are_requests(
    text: str,
) -> None:
    assert parse_message(text).is_ticket, parse_message(text)


def test_a_long_letter_gets_its_title_and_secondary_categories() -> None:
    letter = (
        "标题：开元路与延福路交叉口的路灯和垃圾问题\n内容：尊敬的领导：您好！我是开元路的居民。"
        "开元路与延福路交叉口这几个问题希望能一起解决：一是路口西北角的两盏路灯坏了快一个月，"
        "晚上路口一片漆黑，井盖也松动了；二是路口的垃圾桶满了好几天没人清运，垃圾堆在地上臭气熏天，"
        "苍蝇成堆。请有关部门尽快处理，谢谢！"
    )
    parsed = parse_message(letter)
    assert parsed.is_ticket and parsed.title == "开元路与延福路交叉口的路灯和垃圾问题"
    assert {parsed.category, *parsed.secondary_categories} >= {"infrastructure", "sanitation"}
    assert parsed.urgency == "normal"


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("尊敬的领导您好：\n我是荔园小区7栋的业主，想反映一个装修噪音的问题。楼上天天打墙", "想反映一个装修噪音的问题"),
        ("国欢中学的食堂问题 各位领导好，我是一名家长。孩子说饭菜是夹生的", "国欢中学的食堂问题"),
        ("楼下垃圾三天没人收了", "楼下垃圾三天没人收了"),
    ],
)  # fmt: skip
def test_titles_and_summaries(text: str, title: str) -> None:
    assert title_of(text) == title


def test_traditional_characters_go_through_opencc() -> None:
    assert fold_text("樓下垃圾沒人收，頭髮裡") == "楼下垃圾没人收,头发里"
    assert to_simplified("颱") == "台"  # not in the old hand-typed table's spirit: OpenCC's


def test_parse_command_eval_by_register(tmp_path: Path) -> None:
    labelled = tmp_path / "mixed.jsonl"
    rows = [
        {"text": "后山着火了，烟很大", "is_ticket": True, "category": "safety",
         "urgency": "urgent", "location": "后山", "register": "chat"},
        {"text": "喂那个三栋楼下垃圾好几天没人收了臭死了你们来看一下", "is_ticket": True,
         "category": "sanitation", "urgency": "normal", "location": "三栋", "register": "voice"},
        {"text": "收到", "is_ticket": False, "category": None, "urgency": None, "location": None,
         "register": "chat"},
    ]  # fmt: skip
    labelled.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), "utf-8")
    table = CliRunner().invoke(parse_command, ["--eval", str(labelled), "--by", "register"])
    assert table.exit_code == 0, table.output
    assert "== register chat ==" in table.stdout and "== register voice ==" in table.stdout
    assert "confusion" in table.stdout and "== summary ==" in table.stdout
    as_json = CliRunner().invoke(
        parse_command, ["--eval", str(labelled), "--by", "register", "--json"]
    )
    report = json.loads(as_json.stdout)
    assert set(report) == {"chat", "voice", "all"}
    assert report["chat"]["messages"] == 2 and report["all"]["messages"] == 3
