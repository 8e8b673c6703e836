"""Intake throughput: messages per second on one core, printed as JSON.

    gridcast bench intake [--json] [--repeat 5] [--file LABELLED.jsonl ...]

Parses a mix of short and long messages (by default the training texts of every register:
group-chat lines, long letters and posts, voice transcripts; ``--file`` picks others),
repeated, with a warmed-up parser (jieba's
dictionary and the intake model file loaded before the clock starts; the time that
takes is reported as ``warm_up_seconds``), pinned to one CPU where the platform allows.
Two paths are timed: ``single`` calls ``Parser.parse`` once per message (the bot's
path), ``batch`` calls ``Parser.parse_many`` on chunks of ``tickets.intake.BATCH_LINES``
messages (the path of ``gridcast parse``). ``messages_per_second`` is wall-clock;
``messages_per_cpu_second`` is the same work over the process's CPU time, steadier on a
busy machine. Also times single long messages (a 10,000-character rant), the worst
case. ``messages_per_second`` at the top is the batch path's; the target is >= 10,000
messages/s on one core. ``--json`` is accepted for symmetry with the other benchmarks
(the output is always JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tickets.intake import BATCH_LINES, Parser, load_labelled
from tickets.intake.model import DATA_DIR

DEFAULT_FILES = (
    DATA_DIR / "dev.jsonl",
    DATA_DIR / "longform.train.jsonl",
    DATA_DIR / "voice.train.jsonl",
)
TARGET = 10_000


def _pin_to_one_core() -> int | None:
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


def _timed(work: Callable[[], object], messages: int) -> dict[str, object]:
    started, cpu_started = time.perf_counter(), time.process_time()
    work()
    elapsed = time.perf_counter() - started
    cpu_elapsed = time.process_time() - cpu_started
    rate = messages / elapsed
    return {
        "seconds": round(elapsed, 4),
        "messages_per_second": round(rate),
        "messages_per_cpu_second": round(messages / cpu_elapsed) if cpu_elapsed else None,
        "mean_microseconds": round(elapsed / messages * 1e6, 1),
        "meets_target": rate >= TARGET,
    }


def main(argv: list[str] | None = None) -> int:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--repeat", type=int, default=5, help="passes over the messages")
    options.add_argument(
        "--file", type=Path, action="append", help="labelled JSON lines (repeatable)"
    )
    options.add_argument("--json", action="store_true", help="print JSON (always on)")
    args = options.parse_args(argv)
    files = args.file or list(DEFAULT_FILES)

    cpu = _pin_to_one_core()
    texts = [row.text for path in files for row in load_labelled(path)]
    lengths = sorted(len(text) for text in texts)
    parser = Parser()
    warm_started = time.perf_counter()
    parser.warm_up()
    warm_up = time.perf_counter() - warm_started

    batch = texts * args.repeat

    def single() -> None:
        for text in batch:
            parser.parse(text)

    def batched() -> None:
        for start in range(0, len(batch), BATCH_LINES):
            parser.parse_many(batch[start : start + BATCH_LINES])

    single_result = _timed(single, len(batch))
    batch_result = _timed(batched, len(batch))

    long_text = ("楼上装修电钻从早钻到晚，物业也不管，" * 600)[:10_000]
    long_runs = []
    for _ in range(5):
        t0 = time.perf_counter()
        parser.parse(long_text)
        long_runs.append(time.perf_counter() - t0)

    meets = bool(single_result["meets_target"] and batch_result["meets_target"])
    result = {
        "benchmark": "intake.parse",
        "files": [str(path) for path in files],
        "distinct_messages": len(texts),
        "median_chars": lengths[len(lengths) // 2] if lengths else 0,
        "long_messages": sum(length >= 100 for length in lengths),
        "messages_per_second": batch_result["messages_per_second"],
        "messages_per_cpu_second": batch_result["messages_per_cpu_second"],
        "messages": len(batch),
        "warm_up_seconds": round(warm_up, 3),
        "single": single_result,
        "batch": {"batch_size": BATCH_LINES, **batch_result},
        "long_message_chars": len(long_text),
        "long_message_milliseconds": round(statistics.median(long_runs) * 1e3, 2),
        "pinned_cpu": cpu,
        "python": platform.python_version(),
        "target_messages_per_second": TARGET,
        "meets_target": meets,
    }
    print(json.dumps(result, ensure_ascii=False))
    return 0 if meets else 1


if __name__ == "__main__":
    sys.exit(main())
