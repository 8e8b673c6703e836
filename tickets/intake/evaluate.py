"""Measuring intake against a labelled set (评测).

A labelled set is JSON lines ``{"text", "is_ticket", "category", "urgency", "location"}``
with ``category``/``urgency``/``location`` null when the message is not a ticket, and an
optional ``register`` (``chat``, ``longform``, ``voice``: how the message was written).
:func:`evaluate_by_register` gives one report per register, because a parser that does
well on chat lines can still fail long letters or voice transcripts.

Definitions used by :class:`EvalReport`:

- **is-a-ticket** precision, recall and F1 treat "ticket" as the positive class.
- **category accuracy** is computed over the *matched* tickets: messages that are tickets
  in the labels *and* that the parser called tickets. It measures the category decision
  on its own. ``category_accuracy_all`` is over *all* labelled tickets, a missed ticket
  counting as wrong: the share of tickets that end up in the right queue.
- **confusion** counts labelled category (rows) against predicted category (columns)
  over all labelled tickets; the column ``-`` is "not a ticket".
- **urgency accuracy** is over matched tickets. **urgent recall** is over all labelled
  urgent tickets (a missed ticket is a missed urgent); **urgent precision** over all
  messages predicted urgent.
- **location**: over matched tickets whose label has a location, the share where the
  predicted location equals it (exact) and where one contains the other (partial,
  exact included). ``location_spurious`` is the share of matched tickets labelled
  without a location for which the parser still gave one.

A ratio with nothing to count is ``None`` (shown as ``-``), never 0.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Final, Protocol, get_args, runtime_checkable

from tickets.intake.parser import ParsedMessage, Urgency, default_parser

__all__ = [
    "NOT_A_TICKET",
    "BatchParser",
    "EvalReport",
    "LabelledMessage",
    "LabelledSetError",
    "MessageParser",
    "Miss",
    "evaluate",
    "evaluate_by_register",
    "format_by_register",
    "format_report",
    "load_labelled",
    "read_labelled",
]

NOT_A_TICKET: Final = "-"
"""The confusion-table column for a labelled ticket the parser did not call a ticket."""

_FIELDS: Final = ("text", "is_ticket", "category", "urgency", "location")


class LabelledSetError(ValueError):
    """A labelled line that cannot be used; the message names the line and the problem."""


class MessageParser(Protocol):
    """Anything with ``parse(text) -> ParsedMessage``, such as :class:`tickets.intake.Parser`."""

    def parse(self, text: str) -> ParsedMessage: ...


@runtime_checkable
class BatchParser(Protocol):
    """A parser that also parses many messages at once (:meth:`tickets.intake.Parser.parse_many`)."""

    def parse(self, text: str) -> ParsedMessage: ...

    def parse_many(self, texts: Iterable[str]) -> list[ParsedMessage]: ...


@dataclass(frozen=True, slots=True)
class LabelledMessage:
    """One message and what a person decided about it."""

    text: str
    is_ticket: bool
    category: str | None = None
    urgency: Urgency | None = None
    location: str | None = None
    register: str | None = None
    """How it was written: ``chat``, ``longform`` (letters, posts), ``voice`` (transcripts)."""


def _labelled_from_json(line: str, line_number: int) -> LabelledMessage:
    where = f"第{line_number}行"
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise LabelledSetError(f"{where}: 不是合法的 JSON ({exc.msg}, 第{exc.colno}列)") from exc
    if not isinstance(data, dict):
        raise LabelledSetError(f"{where}: 应为 JSON 对象, 实际是 {type(data).__name__}")
    missing = [name for name in _FIELDS if name not in data]
    if missing:
        raise LabelledSetError(f"{where}: 缺少字段 {', '.join(missing)}")
    text, is_ticket = data["text"], data["is_ticket"]
    category, urgency, location = data["category"], data["urgency"], data["location"]
    if not isinstance(text, str):
        raise LabelledSetError(f"{where}: text 应为字符串")
    if not isinstance(is_ticket, bool):
        raise LabelledSetError(f"{where}: is_ticket 应为 true 或 false")
    for name, value in (("category", category), ("location", location)):
        if value is not None and not isinstance(value, str):
            raise LabelledSetError(f"{where}: {name} 应为字符串或 null")
    if urgency is not None and urgency not in get_args(Urgency):
        raise LabelledSetError(f"{where}: urgency 应为 urgent、normal 或 null, 实际是 {urgency!r}")
    if is_ticket and (category is None or urgency is None):
        raise LabelledSetError(f"{where}: 工单必须有 category 和 urgency")
    if not is_ticket and (category is not None or urgency is not None or location is not None):
        raise LabelledSetError(f"{where}: 非工单的 category、urgency、location 应为 null")
    register = data.get("register")
    if register is not None and not isinstance(register, str):
        raise LabelledSetError(f"{where}: register 应为字符串或 null")
    return LabelledMessage(text, is_ticket, category, urgency, location, register)


def read_labelled(lines: Iterable[str]) -> list[LabelledMessage]:
    """Labelled messages from JSON lines; blank lines are skipped.

    Raises :class:`LabelledSetError` naming the first bad line.
    """
    rows: list[LabelledMessage] = []
    for number, line in enumerate(lines, start=1):
        if line.strip():
            rows.append(_labelled_from_json(line.lstrip("\ufeff"), number))
    return rows


def load_labelled(path: Path | str) -> list[LabelledMessage]:
    """Read a labelled JSON-lines file (UTF-8)."""
    with Path(path).open(encoding="utf-8") as handle:
        return read_labelled(handle)


@dataclass(frozen=True, slots=True)
class Miss:
    """One message the parser got wrong, for reading the errors."""

    problem: str
    """missed_ticket, false_ticket, category, urgency or location."""
    text: str
    expected: str | None
    got: str | None


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _f1(precision: float | None, recall: float | None) -> float | None:
    if precision is None or recall is None:
        return None
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


@dataclass(frozen=True)
class EvalReport:
    """Figures of one evaluation; see the module docstring for the definitions."""

    messages: int
    true_positives: int
    false_positives: int
    false_negatives: int
    true_negatives: int
    precision: float | None
    recall: float | None
    f1: float | None
    category_correct: int
    category_matched: int
    category_accuracy: float | None
    category_accuracy_all: float | None
    confusion: Mapping[str, Mapping[str, int]]
    urgency_correct: int
    urgency_accuracy: float | None
    urgent_labelled: int
    urgent_predicted: int
    urgent_precision: float | None
    urgent_recall: float | None
    location_labelled: int
    location_exact: float | None
    location_partial: float | None
    location_spurious: float | None
    misses: tuple[Miss, ...] = field(default=(), repr=False)

    def to_dict(self) -> dict[str, object]:
        """Plain data: every figure, the confusion table and the misses."""
        data = asdict(self)
        data["confusion"] = {gold: dict(row) for gold, row in self.confusion.items()}
        return data

    def to_json(self, *, indent: int | None = 2) -> str:
        """The report as JSON (UTF-8 text, Chinese kept readable)."""
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=indent)


def evaluate(rows: Iterable[LabelledMessage], parser: MessageParser | None = None) -> EvalReport:
    """Run ``parser`` (the default one if omitted) over labelled rows and count.

    A :class:`BatchParser` parses all the rows in one :meth:`~BatchParser.parse_many`.
    """
    parser = parser if parser is not None else default_parser()
    rows = list(rows)
    if isinstance(parser, BatchParser):
        answers = parser.parse_many([row.text for row in rows])
    else:
        answers = [parser.parse(row.text) for row in rows]
    tp = fp = fn = tn = 0
    category_correct = category_matched = 0
    urgency_correct = 0
    urgent_labelled = urgent_predicted = urgent_hit = 0
    location_labelled = location_exact = location_partial = 0
    unlabelled_location = spurious = 0
    confusion: dict[str, dict[str, int]] = {}
    misses: list[Miss] = []
    messages = 0

    for row, got in zip(rows, answers, strict=True):
        messages += 1
        predicted_urgent = got.is_ticket and got.urgency == "urgent"
        urgent_predicted += predicted_urgent
        if row.is_ticket and row.urgency == "urgent":
            urgent_labelled += 1
            urgent_hit += predicted_urgent
        if not row.is_ticket:
            if got.is_ticket:
                fp += 1
                misses.append(Miss("false_ticket", row.text, None, got.category))
            else:
                tn += 1
            continue

        gold_category = row.category or NOT_A_TICKET
        predicted = (got.category or NOT_A_TICKET) if got.is_ticket else NOT_A_TICKET
        line = confusion.setdefault(gold_category, {})
        line[predicted] = line.get(predicted, 0) + 1
        if not got.is_ticket:
            fn += 1
            misses.append(Miss("missed_ticket", row.text, row.category, got.reason))
            continue

        tp += 1
        category_matched += 1
        if got.category == row.category:
            category_correct += 1
        else:
            misses.append(Miss("category", row.text, row.category, got.category))
        if got.urgency == row.urgency:
            urgency_correct += 1
        else:
            misses.append(Miss("urgency", row.text, row.urgency, got.urgency))
        if row.location:
            location_labelled += 1
            if got.location == row.location:
                location_exact += 1
            if got.location and (got.location in row.location or row.location in got.location):
                location_partial += 1
            else:
                misses.append(Miss("location", row.text, row.location, got.location))
        else:
            unlabelled_location += 1
            spurious += got.location is not None

    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, tp + fn)
    return EvalReport(
        messages=messages,
        true_positives=tp,
        false_positives=fp,
        false_negatives=fn,
        true_negatives=tn,
        precision=precision,
        recall=recall,
        f1=_f1(precision, recall),
        category_correct=category_correct,
        category_matched=category_matched,
        category_accuracy=_ratio(category_correct, category_matched),
        category_accuracy_all=_ratio(category_correct, tp + fn),
        confusion=confusion,
        urgency_correct=urgency_correct,
        urgency_accuracy=_ratio(urgency_correct, category_matched),
        urgent_labelled=urgent_labelled,
        urgent_predicted=urgent_predicted,
        urgent_precision=_ratio(urgent_hit, urgent_predicted),
        urgent_recall=_ratio(urgent_hit, urgent_labelled),
        location_labelled=location_labelled,
        location_exact=_ratio(location_exact, location_labelled),
        location_partial=_ratio(location_partial, location_labelled),
        location_spurious=_ratio(spurious, unlabelled_location),
        misses=tuple(misses),
    )


def _pct(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:.3f}"


def format_report(report: EvalReport, *, show_misses: int = 0) -> str:
    """A table for people: the figures, the category confusion, optionally some misses."""
    r = report
    lines = [
        f"messages          {r.messages}",
        "",
        f"is a ticket       precision {_pct(r.precision)}  recall {_pct(r.recall)}  F1 {_pct(r.f1)}",
        f"                  TP {r.true_positives}  FP {r.false_positives}  "
        f"FN {r.false_negatives}  TN {r.true_negatives}",
        f"category          accuracy {_pct(r.category_accuracy)} "
        f"({r.category_correct}/{r.category_matched} matched tickets)  "
        f"over all tickets {_pct(r.category_accuracy_all)}",
        f"urgency           accuracy {_pct(r.urgency_accuracy)}  "
        f"urgent precision {_pct(r.urgent_precision)}  recall {_pct(r.urgent_recall)} "
        f"({r.urgent_labelled} labelled, {r.urgent_predicted} predicted)",
        f"location          exact {_pct(r.location_exact)}  partial {_pct(r.location_partial)} "
        f"({r.location_labelled} labelled)  spurious {_pct(r.location_spurious)}",
    ]
    if r.confusion:
        gold = sorted(r.confusion)
        predicted = sorted({p for row in r.confusion.values() for p in row} - {NOT_A_TICKET})
        columns = [*predicted, NOT_A_TICKET]
        width = max(len(c) for c in [*gold, *columns])
        lines += ["", "confusion (rows: labelled, columns: predicted, - = not a ticket)"]
        lines.append(" " * (width + 1) + " ".join(c[:5].rjust(5) for c in columns))
        for g in gold:
            row = r.confusion[g]
            cells = " ".join(str(row.get(c, 0) or ".").rjust(5) for c in columns)
            lines.append(f"{g.ljust(width)} {cells}")
    if show_misses and r.misses:
        lines += ["", f"misses (first {min(show_misses, len(r.misses))} of {len(r.misses)})"]
        for miss in r.misses[:show_misses]:
            text = miss.text.replace("\n", " ")
            text = text if len(text) <= 60 else text[:59] + "…"
            lines.append(f"  {miss.problem:<14} expected {miss.expected}  got {miss.got}  {text}")
    return "\n".join(lines)


ALL_REGISTERS: Final = "all"
"""The key of the whole set in :func:`evaluate_by_register`."""
NO_REGISTER: Final = "-"
"""The register of a labelled message that names none."""


def evaluate_by_register(
    rows: Iterable[LabelledMessage], parser: MessageParser | None = None
) -> dict[str, EvalReport]:
    """One report per register (sorted by name), then the whole set under ``"all"``.

    The messages are parsed once; each register's report counts its own messages.
    """
    rows = list(rows)
    parser = parser if parser is not None else default_parser()
    if isinstance(parser, BatchParser):
        answers = parser.parse_many([row.text for row in rows])
    else:
        answers = [parser.parse(row.text) for row in rows]
    replay = _Replay(dict(zip((row.text for row in rows), answers, strict=True)))
    groups: dict[str, list[LabelledMessage]] = {}
    for row in rows:
        groups.setdefault(row.register or NO_REGISTER, []).append(row)
    reports = {name: evaluate(groups[name], replay) for name in sorted(groups)}
    reports[ALL_REGISTERS] = evaluate(rows, replay)
    return reports


class _Replay:
    """A parser that gives back the answers already computed (the parser is a function
    of the text: the same text, the same answer)."""

    def __init__(self, answers: Mapping[str, ParsedMessage]) -> None:
        self._answers = answers

    def parse(self, text: str) -> ParsedMessage:
        return self._answers[text]


def format_by_register(reports: Mapping[str, EvalReport], *, show_misses: int = 0) -> str:
    """:func:`format_report` for each register, then a one-line-per-register summary."""
    parts: list[str] = []
    for name, report in reports.items():
        parts += [f"== register {name} ==", format_report(report, show_misses=show_misses), ""]
    header = (
        f"{'register':<10}{'n':>6}{'F1':>7}{'recall':>8}{'categ':>7}"
        f"{'urg.rec':>8}{'urg.prec':>9}{'loc':>7}"
    )
    parts += ["== summary ==", header]
    for name, r in reports.items():
        parts.append(
            f"{name:<10}{r.messages:>6}{_pct(r.f1):>7}{_pct(r.recall):>8}"
            f"{_pct(r.category_accuracy):>7}{_pct(r.urgent_recall):>8}"
            f"{_pct(r.urgent_precision):>9}{_pct(r.location_exact):>7}"
        )
    return "\n".join(parts)
