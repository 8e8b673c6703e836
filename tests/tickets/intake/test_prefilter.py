"""The prefilter skips only searches that cannot succeed."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from tickets.intake.evaluate import load_labelled
from tickets.intake.lexicon import DEFAULT_LEXICON
from tickets.intake.location import Locator
from tickets.intake.model import DATA_DIR
from tickets.intake.parser import _normalise
from tickets.intake.prefilter import Prefilter, required_strings

PATTERNS = [p.regex for p in DEFAULT_LEXICON.patterns]
PREFILTER = Prefilter(PATTERNS)
LOCATOR = Locator(DEFAULT_LEXICON.places, DEFAULT_LEXICON.landmarks)
PLACES = [pattern for pattern, _ in LOCATOR._kinds]
# Every character of the patterns' literal parts, and a few others: random texts over
# these often meet a requirement, and sometimes match.
ALPHABET = sorted(
    {ch for pattern in PATTERNS + PLACES for r in required_strings(pattern) for s in r for ch in s}
    | set("0123456789 ,。的了是在有")
)


def _skipped_matches(prefilter: Prefilter, patterns: list[re.Pattern[str]], text: str) -> list[str]:
    candidates = set(prefilter.candidates(text))
    return [
        p.pattern[:40]
        for index, p in enumerate(patterns)
        if index not in candidates and p.search(text)
    ]


def test_requirements_are_read_off_literals_classes_and_branches() -> None:
    assert required_strings(re.compile(r"狗[^,.]{0,6}(?:叫|吠)")) == (
        frozenset({"狗"}),
        frozenset({"叫", "吠"}),
    )
    assert required_strings(re.compile(r"尊敬的.{0,9}领导|恳请")) == (
        frozenset({"尊敬的", "恳请"}),
    )
    # Nothing to read off: an optional part, a class like \d, a lookaround, IGNORECASE.
    assert required_strings(re.compile(r"(?:abc)?\d+(?=x)")) == ()
    assert required_strings(re.compile(r"abc", re.IGNORECASE)) == ()
    assert required_strings(re.compile(r"abc|\d")) == ()


def test_a_pattern_without_requirements_is_always_a_candidate() -> None:
    prefilter = Prefilter([re.compile(r"\d+"), re.compile("火")])
    assert prefilter.candidates("") == [0]
    assert prefilter.candidates("着火了") == [0, 1]


def test_no_pattern_that_matches_a_labelled_message_is_skipped() -> None:
    for path in sorted(DATA_DIR.glob("*.jsonl")):
        for row in load_labelled(path):
            body = _normalise(row.text).body
            assert _skipped_matches(PREFILTER, PATTERNS, body) == [], row.text
            assert _skipped_matches(LOCATOR._prefilter, PLACES, body) == [], row.text


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=ALPHABET, max_size=60))
def test_no_pattern_that_matches_is_skipped(text: str) -> None:
    assert _skipped_matches(PREFILTER, PATTERNS, text) == []
    assert _skipped_matches(LOCATOR._prefilter, PLACES, text) == []
