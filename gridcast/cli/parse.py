"""``gridcast parse``: run intake over JSON lines, evaluate it on a labelled set, or build
its model file."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import BinaryIO

import click

from tickets.intake import (
    BATCH_LINES,
    LabelledSetError,
    Parser,
    default_parser,
    evaluate,
    evaluate_by_register,
    format_by_register,
    format_report,
    load_labelled,
)
from tickets.intake.build import build_model_file
from tickets.intake.model import MODEL_FILE

__all__ = ["parse_command", "parse_line"]


class _BadLine(ValueError):
    """A line of input that is not ``{"text": "..."}``; the message is for the user."""


def _text_of(raw: bytes, number: int) -> str:
    where = f"第{number}行"
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _BadLine(f"{where}: 不是 UTF-8 文本 (第{exc.start + 1}个字节)") from exc
    if number == 1:
        line = line.lstrip("\ufeff")
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise _BadLine(f"{where}: 不是合法的 JSON ({exc.msg}, 第{exc.colno}列)") from exc
    if not isinstance(data, dict):
        raise _BadLine(f'{where}: 应为 JSON 对象 {{"text": "..."}}, 实际是 {type(data).__name__}')
    if "text" not in data:
        raise _BadLine(f'{where}: 缺少 "text" 字段')
    text = data["text"]
    if not isinstance(text, str):
        raise _BadLine(f'{where}: "text" 应为字符串, 实际是 {type(text).__name__}')
    return text


def _dumps(record: dict[str, object]) -> bytes:
    line = json.dumps(record, ensure_ascii=False)
    try:
        return line.encode("utf-8") + b"\n"
    except UnicodeEncodeError:  # a lone surrogate from a "\ud800" escape in the input
        return json.dumps(record).encode("ascii") + b"\n"


def parse_line(raw: bytes, number: int, parser: Parser) -> tuple[bytes, bool]:
    """The output line for input line ``number`` (1-based) and whether the input was good."""
    try:
        text = _text_of(raw, number)
    except _BadLine as exc:
        return _dumps({"error": str(exc)}), False
    return _dumps(parser.parse(text).as_record(text)), True


def _parse_batch(lines: list[tuple[int, bytes]], sink: BinaryIO, parser: Parser) -> int:
    """Parse numbered input lines with :meth:`Parser.parse_many`; the number of bad ones."""
    texts: list[str] = []
    outputs: list[bytes | int] = []  # an error line, or the index of a text
    for number, raw in lines:
        try:
            text = _text_of(raw, number)
        except _BadLine as exc:
            outputs.append(_dumps({"error": str(exc)}))
            continue
        outputs.append(len(texts))
        texts.append(text)
    parsed = parser.parse_many(texts)
    for out in outputs:
        if isinstance(out, int):
            sink.write(_dumps(parsed[out].as_record(texts[out])))
        else:
            sink.write(out)
    return sum(isinstance(out, bytes) for out in outputs)


def _parse_stream(source: BinaryIO, sink: BinaryIO, parser: Parser) -> int:
    bad = 0
    batch: list[tuple[int, bytes]] = []
    for number, raw in enumerate(source, start=1):
        if not raw.strip():
            continue  # a blank line is not a message
        batch.append((number, raw.rstrip(b"\r\n")))
        if len(batch) >= BATCH_LINES:
            bad += _parse_batch(batch, sink, parser)
            batch = []
    if batch:
        bad += _parse_batch(batch, sink, parser)
    sink.flush()
    return bad


@click.command("parse")
@click.option(
    "--eval",
    "eval_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Evaluate on this labelled JSON-lines file instead of reading stdin.",
)
@click.option(
    "--by",
    "by",
    type=click.Choice(["register"]),
    default=None,
    help="With --eval: one report per register (chat, longform, voice) and the whole set.",
)
@click.option("--json", "as_json", is_flag=True, help="With --eval: print the report as JSON.")
@click.option(
    "--misses",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="With --eval: also list this many wrongly parsed messages.",
)
@click.option(
    "--build-model",
    is_flag=True,
    help="Train the intake model on the training files of tickets/intake/data (train, dev, "
    "longform.train, voice.train; never a *.heldout file) and write its file, instead of "
    "parsing. Needs scikit-learn; a few seconds.",
)
@click.option(
    "--model-out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=MODEL_FILE,
    show_default="tickets/intake/data/model.npz",
    help="With --build-model: where to write the model file.",
)
@click.option(
    "--build-words",
    is_flag=True,
    help="Write jieba's dictionary as the table the parser reads "
    "(tickets/intake/data/jieba_words.npz), instead of parsing. After upgrading jieba.",
)
def parse_command(
    eval_path: Path | None,
    by: str | None,
    as_json: bool,
    misses: int,
    build_model: bool,
    model_out: Path,
    build_words: bool,
) -> None:
    """Decide which group messages are tickets (工单受理).

    Reads JSON lines {"text": ...} on stdin and writes one JSON line per message:
    {"text", "is_ticket", "category", "urgency", "location"}. A line that is not such an
    object gets {"error": "第N行: ..."} instead; the rest are still parsed, and the exit
    code is 1 if any line was bad.

    The model the parser weighs with its rules is a file in the package, loaded at first
    use; --build-model trains it again from the labelled data (the same data gives the
    same file, byte for byte). jieba's dictionary ships the same way, as a table loaded in
    milliseconds (--build-words writes it again).
    """
    if build_model:
        size = build_model_file(model_out)
        click.echo(f"模型已写入 {model_out} ({size:,} 字节)")
        return
    if build_words:
        from tickets.intake.segment import WORDS_FILE, build_words_file

        size = build_words_file()
        click.echo(f"词表已写入 {WORDS_FILE} ({size:,} 字节)")
        return
    parser = default_parser()
    if eval_path is not None:
        try:
            rows = load_labelled(eval_path)
        except LabelledSetError as exc:
            raise click.ClickException(f"{eval_path}: {exc}") from exc
        if by == "register":
            reports = evaluate_by_register(rows, parser)
            if as_json:
                data = {name: r.to_dict() for name, r in reports.items()}
                click.echo(json.dumps(data, ensure_ascii=False, indent=2))
            else:
                click.echo(format_by_register(reports, show_misses=misses))
            return
        report = evaluate(rows, parser)
        click.echo(report.to_json() if as_json else format_report(report, show_misses=misses))
        return
    # Bytes, not text: a line that is not UTF-8 gets its own error instead of a crash.
    bad = _parse_stream(sys.stdin.buffer, sys.stdout.buffer, parser)
    if bad:
        click.echo(f"gridcast parse: {bad} 行输入有误, 见输出中的 error", err=True)
        raise click.exceptions.Exit(1)
