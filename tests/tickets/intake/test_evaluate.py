"""Evaluation arithmetic (tickets.intake.evaluate) on a tiny hand-made set."""

from __future__ import annotations

import json
from collections.abc import Iterable

import pytest

from tickets.intake.evaluate import (
    NOT_A_TICKET,
    LabelledMessage,
    LabelledSetError,
    evaluate,
    format_report,
    read_labelled,
)
from tickets.intake.parser import ParsedMessage, Urgency


def _ticket(
    category: str, urgency: Urgency = "normal", location: str | None = None
) -> ParsedMessage:
    return ParsedMessage(True, category, urgency, location)


_NOT = ParsedMessage(False, None, None, None, reason="no_request")


class _ScriptedParser:
    """Answers what it is told to for each text."""

    def __init__(self, answers: dict[str, ParsedMessage]) -> None:
        self.answers = answers

    def parse(self, text: str) -> ParsedMessage:
        return self.answers[text]


# Ten messages: 6 labelled tickets (2 urgent), 4 not.
ROWS = [
    LabelledMessage("a", True, "noise", "normal", "3栋"),  # TP, right, location exact
    LabelledMessage("b", True, "noise", "normal", "国欢大道"),  # TP, wrong category, partial
    LabelledMessage("c", True, "safety", "urgent", "村口"),  # TP, right, urgent hit, loc wrong
    LabelledMessage("d", True, "safety", "urgent", None),  # FN: urgent missed
    LabelledMessage("e", True, "consult", "normal", None),  # TP, right, urgency wrong (urgent)
    LabelledMessage("f", True, "other", "normal", None),  # TP, right, spurious location
    LabelledMessage("g", False),  # FP
    LabelledMessage("h", False),  # TN
    LabelledMessage("i", False),  # TN
    LabelledMessage("j", False),  # TN
]
PARSER = _ScriptedParser(
    {
        "a": _ticket("noise", location="3栋"),
        "b": _ticket("dispute", location="国欢大道上"),
        "c": _ticket("safety", "urgent", location="菜市场"),
        "d": _NOT,
        "e": _ticket("consult", "urgent"),
        "f": _ticket("other", location="后山"),
        "g": _ticket("sanitation"),
        "h": _NOT,
        "i": _NOT,
        "j": ParsedMessage(False, None, None, None, True, reason="acknowledgement"),
    }
)


def test_is_a_ticket_precision_recall_f1() -> None:
    report = evaluate(ROWS, PARSER)
    assert report.messages == 10
    assert (report.true_positives, report.false_positives) == (5, 1)
    assert (report.false_negatives, report.true_negatives) == (1, 3)
    assert report.precision == pytest.approx(5 / 6)
    assert report.recall == pytest.approx(5 / 6)
    assert report.f1 == pytest.approx(5 / 6)


def test_category_accuracy_on_matched_and_on_all_tickets() -> None:
    report = evaluate(ROWS, PARSER)
    # Matched tickets a b c e f: b is wrong.
    assert (report.category_correct, report.category_matched) == (4, 5)
    assert report.category_accuracy == pytest.approx(4 / 5)
    # All six labelled tickets: the missed d counts as wrong.
    assert report.category_accuracy_all == pytest.approx(4 / 6)
    assert report.confusion == {
        "noise": {"noise": 1, "dispute": 1},
        "safety": {"safety": 1, NOT_A_TICKET: 1},
        "consult": {"consult": 1},
        "other": {"other": 1},
    }


def test_urgency_figures() -> None:
    report = evaluate(ROWS, PARSER)
    # Matched tickets: e is urgent but labelled normal.
    assert report.urgency_correct == 4
    assert report.urgency_accuracy == pytest.approx(4 / 5)
    # Labelled urgent: c (hit) and d (missed ticket). Predicted urgent: c and e.
    assert (report.urgent_labelled, report.urgent_predicted) == (2, 2)
    assert report.urgent_recall == pytest.approx(1 / 2)
    assert report.urgent_precision == pytest.approx(1 / 2)


def test_location_figures() -> None:
    report = evaluate(ROWS, PARSER)
    # Matched tickets with a labelled location: a (exact), b (partial), c (wrong).
    assert report.location_labelled == 3
    assert report.location_exact == pytest.approx(1 / 3)
    assert report.location_partial == pytest.approx(2 / 3)
    # Matched tickets labelled without a location: e (none given), f (spurious 后山).
    assert report.location_spurious == pytest.approx(1 / 2)


def test_misses_say_what_went_wrong() -> None:
    problems = sorted((m.problem, m.text) for m in evaluate(ROWS, PARSER).misses)
    assert problems == [
        ("category", "b"),
        ("false_ticket", "g"),
        ("location", "c"),
        ("missed_ticket", "d"),
        ("urgency", "e"),
    ]


def test_ratios_with_nothing_to_count_are_none_not_zero() -> None:
    report = evaluate([LabelledMessage("h", False)], PARSER)
    assert report.precision is None and report.recall is None and report.f1 is None
    assert report.category_accuracy is None and report.urgent_recall is None
    assert report.location_exact is None
    assert "F1 -" in format_report(report)


def test_a_perfect_parser_scores_one() -> None:
    rows = [LabelledMessage("a", True, "noise", "normal", "3栋"), LabelledMessage("h", False)]
    report = evaluate(rows, PARSER)
    assert (report.precision, report.recall, report.f1) == (1.0, 1.0, 1.0)
    assert report.category_accuracy == 1.0 and report.location_exact == 1.0


def test_format_report_shows_the_figures_and_the_confusion_table() -> None:
    text = format_report(evaluate(ROWS, PARSER), show_misses=10)
    assert "precision 0.833  recall 0.833  F1 0.833" in text
    assert "TP 5  FP 1  FN 1  TN 3" in text
    assert "accuracy 0.800 (4/5 matched tickets)  over all tickets 0.667" in text
    assert "urgent precision 0.500  recall 0.500" in text
    assert "confusion" in text
    noise_row = next(line for line in text.splitlines() if line.startswith("noise "))
    # Columns: consult dispute noise other safety -
    assert noise_row.split()[1:] == [".", "1", "1", ".", ".", "."]
    assert "missed_ticket" in text


def test_to_json_round_trips() -> None:
    report = evaluate(ROWS, PARSER)
    data = json.loads(report.to_json())
    assert data["f1"] == pytest.approx(5 / 6)
    assert data["confusion"]["safety"] == {"safety": 1, NOT_A_TICKET: 1}
    assert len(data["misses"]) == 5
    assert report.to_dict()["messages"] == 10


def test_read_labelled_skips_blank_lines_and_a_bom() -> None:
    lines = [
        '\ufeff{"text": "着火了", "is_ticket": true, "category": "safety", '
        '"urgency": "urgent", "location": null}',
        "",
        '{"text": "收到", "is_ticket": false, "category": null, "urgency": null, "location": null}',
    ]
    rows = read_labelled(lines)
    assert rows == [
        LabelledMessage("着火了", True, "safety", "urgent", None),
        LabelledMessage("收到", False, None, None, None),
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{oops", "第2行: 不是合法的 JSON"),
        ("[1, 2]", "第2行: 应为 JSON 对象"),
        ('{"text": "x"}', "第2行: 缺少字段 is_ticket, category, urgency, location"),
        (
            '{"text": 1, "is_ticket": false, "category": null, "urgency": null, "location": null}',
            "第2行: text 应为字符串",
        ),
        (
            '{"text": "x", "is_ticket": true, "category": "noise", "urgency": "soon", '
            '"location": null}',
            "第2行: urgency 应为 urgent、normal 或 null",
        ),
        (
            '{"text": "x", "is_ticket": true, "category": null, "urgency": "normal", '
            '"location": null}',
            "第2行: 工单必须有 category 和 urgency",
        ),
        (
            '{"text": "x", "is_ticket": false, "category": "noise", "urgency": null, '
            '"location": null}',
            "第2行: 非工单的 category、urgency、location 应为 null",
        ),
    ],
)
def test_read_labelled_names_the_bad_line(line: str, message: str) -> None:
    good = (
        '{"text": "收到", "is_ticket": false, "category": null, "urgency": null, "location": null}'
    )
    with pytest.raises(LabelledSetError, match=message):
        read_labelled([good, line])


class _BatchScriptedParser(_ScriptedParser):
    """Also parses in batches, and records how it was called."""

    def __init__(self, answers: dict[str, ParsedMessage]) -> None:
        super().__init__(answers)
        self.batches: list[list[str]] = []

    def parse(self, text: str) -> ParsedMessage:
        raise AssertionError("a batch parser is asked for the whole batch")

    def parse_many(self, texts: Iterable[str]) -> list[ParsedMessage]:
        batch = list(texts)
        self.batches.append(batch)
        return [self.answers[t] for t in batch]


def test_a_batch_parser_gets_all_the_rows_at_once() -> None:
    parser = _BatchScriptedParser(PARSER.answers)
    report = evaluate(iter(ROWS), parser)
    assert parser.batches == [[row.text for row in ROWS]]
    assert report == evaluate(ROWS, PARSER)
