"""Which characters of a run of Chinese are words of their own, as jieba would cut it.

A one-character category cue (吵, 臭, 偷, 火) counts only where jieba's precise mode
(``cut(run, HMM=False)``) makes it a word: 火 in 着了火, not in 火锅.
:meth:`Segmenter.single_character_words` computes that route itself, with jieba's
arithmetic, from jieba's dictionary: every word with its count, and every prefix of a
word with count 0.

Loading jieba to get that dictionary costs about a second (its import, then 0.8 s to
unmarshal 500,000 entries), which was most of a cold ``gridcast parse``. So the
dictionary ships as a table of its own, :data:`WORDS_FILE` (``data/jieba_words.npz``):
a sorted array of 64-bit BLAKE2b hashes of the entries and their counts, loaded in
about 30 ms. A fragment's hash is looked up by binary search; two of jieba's 498,113
entries do not share a hash (checked when the table is built), and a fragment outside
the dictionary is taken for an entry with a chance of about 3 in 10^14. The table is
built from jieba's own dictionary by ``gridcast parse --build-model``
(:func:`build_words_file`); a test checks the shipped file against jieba.

Words added by the lexicon (化粪池, 窨井盖) go in as jieba's ``add_word(word, freq=200000)``
does: the word's count set, its prefixes added with 0, the total raised.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from tickets.intake.archive import npz_bytes

__all__ = [
    "ADDED_WORD_FREQUENCY",
    "SEGMENTER",
    "WORDS_FILE",
    "Segmenter",
    "WordTable",
    "build_words_file",
    "jieba_dictionary",
]

WORDS_FILE: Final = Path(__file__).resolve().parent / "data" / "jieba_words.npz"
ADDED_WORD_FREQUENCY: Final = 200_000
"""The count a lexicon word gets (high: segmentation keeps it whole)."""
_MAX_REMEMBERED: Final = 1_000_000
"""Fragments whose probability is remembered; forgotten all at once beyond this."""

_UNSEEN: Final = object()
_NOT_A_PREFIX: Final = object()


def fragment_hash(fragment: str) -> int:
    """The 64-bit key of a dictionary entry (stable across processes, unlike ``hash``)."""
    digest = hashlib.blake2b(fragment.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def jieba_dictionary() -> tuple[dict[str, int], int]:
    """jieba's own prefix dictionary (``FREQ``) and total, from a fresh tokenizer; jieba's
    loading messages kept out of the logs. Only building the table needs this."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import jieba

    jieba_logger = logging.getLogger("jieba")
    level = jieba_logger.level
    jieba_logger.setLevel(logging.WARNING)
    try:
        tokenizer = jieba.Tokenizer()
        tokenizer.initialize()
    finally:
        jieba_logger.setLevel(level)
    return dict(tokenizer.FREQ), int(tokenizer.total)


class WordTable:
    """jieba's dictionary as sorted hashes and counts (see the module docstring)."""

    def __init__(
        self, keys: npt.NDArray[np.uint64], counts: npt.NDArray[np.uint32], total: int
    ) -> None:
        if keys.shape != counts.shape or keys.ndim != 1:
            raise ValueError("keys and counts must be one-dimensional and of one length")
        self._keys = keys
        self._counts = counts
        self.total = total
        self._size = len(keys)

    @classmethod
    def from_dictionary(cls, frequencies: dict[str, int], total: int) -> WordTable:
        pairs = sorted((fragment_hash(word), count) for word, count in frequencies.items())
        keys = np.fromiter((k for k, _ in pairs), dtype=np.uint64, count=len(pairs))
        if len(pairs) > 1 and bool((keys[1:] == keys[:-1]).any()):
            raise ValueError("two dictionary entries share a hash")
        counts = np.fromiter((c for _, c in pairs), dtype=np.uint32, count=len(pairs))
        return cls(keys, counts, total)

    def count(self, fragment: str) -> int | None:
        """The entry's count (0: a prefix that is not a word itself); None: no entry."""
        key = np.uint64(fragment_hash(fragment))
        index = int(self._keys.searchsorted(key))
        if index < self._size and self._keys[index] == key:
            return int(self._counts[index])
        return None

    def to_bytes(self) -> bytes:
        arrays: dict[str, npt.NDArray[Any]] = {
            "keys": self._keys,
            "counts": self._counts,
            "total": np.array(self.total, dtype=np.int64),
        }
        return npz_bytes(arrays, compress=True)

    @classmethod
    def load(cls, path: Path = WORDS_FILE) -> WordTable:
        with np.load(path, allow_pickle=False) as archive:
            keys = np.asarray(archive["keys"], dtype=np.uint64)
            counts = np.asarray(archive["counts"], dtype=np.uint32)
            total = int(archive["total"])
        return cls(keys, counts, total)

    def same_as(self, other: WordTable) -> bool:
        return (
            self.total == other.total
            and np.array_equal(self._keys, other._keys)
            and np.array_equal(self._counts, other._counts)
        )


def build_words_file(path: Path = WORDS_FILE) -> int:
    """Write jieba's dictionary as a :class:`WordTable` to ``path``; its size in bytes."""
    data = WordTable.from_dictionary(*jieba_dictionary()).to_bytes()
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    partial.replace(path)
    return len(data)


class Segmenter:
    """jieba's precise-mode route over the shipped table, plus the lexicon's words; the
    table is loaded on first use. Thread-safe."""

    def __init__(self, path: Path = WORDS_FILE) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._table: WordTable | None = None
        self._added: dict[str, int] = {}
        """Added words (their count) and their prefixes not in the table (0)."""
        self._pending: dict[str, None] = {}
        self._total = 0
        """jieba's total: the dictionary's, plus each added word's count (as add_word does)."""
        self._log_total = 0.0
        # Fragment -> log probability (a float), None for a prefix that is not a word,
        # or _NOT_A_PREFIX; filled as texts need them.
        self._logp: dict[str, Any] = {}

    def add_words(self, words: Iterable[str]) -> None:
        with self._lock:
            for word in words:
                if len(word) > 1:
                    self._pending.setdefault(word, None)
            if self._table is not None:
                self._sync(self._table)

    def _sync(self, table: WordTable) -> None:
        for word in self._pending:
            if self._added.get(word) == ADDED_WORD_FREQUENCY:
                continue
            self._added[word] = ADDED_WORD_FREQUENCY
            self._total += ADDED_WORD_FREQUENCY
            for end in range(1, len(word)):
                prefix = word[:end]
                if prefix not in self._added and table.count(prefix) is None:
                    self._added[prefix] = 0
        self._pending = {}
        # New words change the total: what was computed from the old one is forgotten.
        self._log_total = math.log(self._total)
        self._logp = {}

    def _load(self) -> WordTable:
        table = self._table
        if table is None:
            with self._lock:
                if self._table is None:
                    table = WordTable.load(self._path)
                    self._total = table.total
                    self._sync(table)
                    self._table = table
                table = self._table
        return table

    def warm_up(self) -> None:
        self._load()

    def _log_probability(self, table: WordTable, fragment: str) -> Any:
        """jieba's log(count) - log(total) of an entry; None for a prefix that is not a
        word itself, ``_NOT_A_PREFIX`` for neither."""
        count = self._added.get(fragment)
        if count is None:
            count = table.count(fragment)
        if count is None:
            found: Any = _NOT_A_PREFIX
        else:
            found = math.log(count) - self._log_total if count else None
        if len(self._logp) >= _MAX_REMEMBERED:
            self._logp = {}
        self._logp[fragment] = found
        return found

    def single_character_words(self, run: str) -> frozenset[int]:
        """Offsets in ``run`` (Chinese characters only) of one-character words.

        This is jieba's precise mode without HMM (``cut(run, HMM=False)``) for a run of
        Chinese characters: its ``get_DAG`` and ``calc`` steps in one pass over the
        dictionary with the same arithmetic, so the same route.
        """
        table = self._load()
        logp = self._logp
        n = len(run)
        score = [0.0] * (n + 1)
        route = [0] * (n + 1)
        for k in range(n - 1, -1, -1):
            # The entries starting at k (every prefix of a word is an entry, with no
            # probability unless it is a word); the best (score, end), as jieba's max: a
            # later end wins a tie.
            best = -math.inf
            end = -1
            i = k
            while i < n:
                fragment = run[k : i + 1]
                word = logp.get(fragment, _UNSEEN)
                if word is _UNSEEN:
                    word = self._log_probability(table, fragment)
                if word is _NOT_A_PREFIX:
                    break
                if word is not None:
                    candidate = word + score[i + 1]
                    if candidate >= best:
                        best, end = candidate, i
                i += 1
            if end < 0:  # no word starts here: the character alone, with count 1
                best, end = -self._log_total + score[k + 1], k
            score[k], route[k] = best, end
        offsets: set[int] = set()
        position = 0
        while position < n:
            end = route[position] + 1
            if end - position == 1:
                offsets.add(position)
            position = end
        return frozenset(offsets)


SEGMENTER: Final = Segmenter()
