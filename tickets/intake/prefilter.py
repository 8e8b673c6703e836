"""A cheap test before each regular expression: which of them can match a text at all.

Most of intake's patterns match few messages, yet ``re.search`` reads the whole text to
say so. :func:`required_strings` reads off a pattern the literal strings that every match
must contain (``尊敬的`` or ``恳请`` or ...; ``狗`` and then ``叫`` or ``吠``), and
:class:`Prefilter` finds all of them in a text in one pass of an Aho-Corasick automaton
(``pyahocorasick``): a pattern is searched only when each of its requirements is met.
The answer of the search is unchanged; only searches that cannot succeed are skipped.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Sequence
from re import _constants as _sre  # type: ignore[attr-defined]
from re import _parser as _sre_parse  # type: ignore[attr-defined]
from typing import Any, Final

import ahocorasick

__all__ = ["Prefilter", "Requirement", "required_strings"]

Requirement = frozenset[str]
"""Strings of which every match holds at least one."""

_BITS: Final = operator.itemgetter(1)
_REPEATS: Final = (_sre.MAX_REPEAT, _sre.MIN_REPEAT, _sre.POSSESSIVE_REPEAT)


def _selectivity(requirement: Requirement) -> tuple[int, int]:
    """Longer strings are rarer, and fewer of them rarer still: the larger, the better."""
    return min(map(len, requirement)), -len(requirement)


def _required(items: Any) -> list[Requirement]:
    """Every requirement of the parsed regex sequence ``items`` (all must be met)."""
    found: list[Requirement] = []
    run: list[str] = []  # consecutive literal characters make one string

    def flush() -> None:
        if run:
            found.append(frozenset(("".join(run),)))
            run.clear()

    for op, av in items:
        if op is _sre.LITERAL:
            run.append(chr(av))
            continue
        flush()
        if op is _sre.IN:
            if all(o is _sre.LITERAL for o, _ in av):
                found.append(frozenset(chr(v) for _, v in av))
        elif op is _sre.SUBPATTERN:
            found.extend(_required(av[-1]))
        elif op is _sre.BRANCH:
            best = [_best(_required(branch)) for branch in av[1]]
            if all(b is not None for b in best):
                found.append(frozenset().union(*(b for b in best if b is not None)))
        elif op in _REPEATS and av[0] >= 1:
            found.extend(_required(av[2]))
        # Anything else (a class like \d, a lookaround, ^, a back reference) requires
        # nothing that can be read off: it is left out, which only makes the test weaker.
    flush()
    return found


def _best(requirements: list[Requirement]) -> Requirement | None:
    return max(requirements, key=_selectivity, default=None)


def required_strings(pattern: re.Pattern[str]) -> tuple[Requirement, ...]:
    """Requirements every match of ``pattern`` meets: for each, the text holds one of its
    strings. Empty when none can be read off (the pattern must always be searched)."""
    if pattern.flags & re.IGNORECASE:
        return ()
    try:
        parsed = _sre_parse.parse(pattern.pattern, pattern.flags)
        return tuple(dict.fromkeys(r for r in _required(parsed) if all(r)))
    except Exception:  # a private module of the standard library: never rely on it
        return ()


class Prefilter:
    """Which of ``patterns`` may match a text: those whose every requirement is met."""

    def __init__(self, patterns: Sequence[re.Pattern[str]]) -> None:
        # Each requirement of each pattern is one bit; a string sets the bits of the
        # requirements it meets, and a pattern needs all of its bits.
        bits_of: dict[str, int] = {}
        self._needs: list[int] = []
        bit = 1
        for pattern in patterns:
            needs = 0
            for requirement in required_strings(pattern):
                for string in requirement:
                    bits_of[string] = bits_of.get(string, 0) | bit
                needs |= bit
                bit <<= 1
            self._needs.append(needs)
        self._automaton: Any = None
        if bits_of:
            self._automaton = ahocorasick.Automaton()
            for string, bits in bits_of.items():
                self._automaton.add_word(string, bits)
            self._automaton.make_automaton()

    def candidates(self, text: str) -> list[int]:
        """Indices (in order) of the patterns that may match ``text``; the others cannot."""
        met = 0
        if self._automaton is not None:  # (map and reduce: no Python loop per string found)
            met = functools.reduce(operator.or_, map(_BITS, self._automaton.iter(text)), 0)
        return [index for index, needs in enumerate(self._needs) if needs & met == needs]
