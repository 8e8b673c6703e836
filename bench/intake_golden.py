"""The intake parser's full output on every labelled message, to check a speed-up changed nothing.

    python -m bench.intake_golden write /tmp/golden.json   # before a change
    python -m bench.intake_golden check /tmp/golden.json   # after: exit 1 on any difference

Parses the text of every ``tickets/intake/data/*.jsonl`` line (training, dev and held-out
files: the labels are not read, nothing is tuned on them) plus a few odd inputs, through
both paths (``Parser.parse`` one message at a time and ``Parser.parse_many`` in batches),
and records every field of each :class:`~tickets.intake.ParsedMessage`, evidence
included, with floats at full precision. ``check`` also fails when the two paths
disagree. The file is a few megabytes: keep it outside the repository.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from tickets.intake import BATCH_LINES, Parser, load_labelled
from tickets.intake.model import DATA_DIR

# Inputs the labelled files lack: empty, media, mentions, expanding and vanishing
# characters, traditional characters, a very long rant.
EXTRA_TEXTS = (
    "",
    "   ",
    "[图片]",
    "收到",
    "3栋收到",
    "@李书记 路灯坏了三天了",
    "@所有人 明天停水",
    "樓下垃圾沒人收，臭死了",
    "５栋３０２漏水\u200b了，㎡",
    "晚上很黑，我电话13912345678",
    ("楼上装修电钻从早钻到晚，物业也不管，" * 600)[:10_000],
    "国欢大道那个网吧附近着火了快来人",
)


def labelled_texts() -> list[str]:
    """The text of every labelled message in ``tickets/intake/data``, file by file."""
    texts = [row.text for path in sorted(DATA_DIR.glob("*.jsonl")) for row in load_labelled(path)]
    return texts + list(EXTRA_TEXTS)


def outputs(texts: list[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every field of each parse, one message at a time and in batches."""
    parser = Parser()
    single = [dataclasses.asdict(parser.parse(text)) for text in texts]
    batched: list[dict[str, Any]] = []
    for start in range(0, len(texts), BATCH_LINES):
        batched.extend(
            dataclasses.asdict(p) for p in parser.parse_many(texts[start : start + BATCH_LINES])
        )
    return single, batched


def main(argv: list[str] | None = None) -> int:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("action", choices=("write", "check"))
    options.add_argument("file", type=Path)
    args = options.parse_args(argv)
    texts = labelled_texts()
    single, batched = outputs(texts)
    # JSON round trip: tuples become lists, so a stored file compares equal.
    current = json.loads(json.dumps(single, ensure_ascii=False))
    if args.action == "write":
        args.file.write_text(json.dumps(current, ensure_ascii=False), encoding="utf-8")
        print(f"{len(texts)} messages written to {args.file}")
        return 0
    stored = json.loads(args.file.read_text(encoding="utf-8"))
    differences = 0
    if len(stored) != len(current):
        print(f"{len(stored)} messages stored, {len(current)} parsed")
        return 1
    for text, old, new in zip(texts, stored, current, strict=True):
        if old != new:
            differences += 1
            if differences <= 10:
                print(json.dumps({"text": text[:80], "was": old, "now": new}, ensure_ascii=False))
    split = sum(a != b for a, b in zip(single, batched, strict=True))
    print(f"{len(texts)} messages: {differences} differ from {args.file}; ", end="")
    print(f"{split} differ between parse and parse_many")
    return 0 if differences == 0 and split == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
