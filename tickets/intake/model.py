"""A trained complement to the intake rules (学习模型): character n-grams, linear models.

The lexicon of :mod:`tickets.intake.lexicon` knows the words its author thought of;
residents use others (水漫进屋, 火舌窜到屋顶, 墙在往外鼓). :class:`IntakeModel` learns from
the labelled messages in ``tickets/intake/data`` (``train.jsonl`` and ``dev.jsonl``, see
the README there) three linear scores over the TF-IDF weighted characters and character
pairs (1- and 2-grams) of the normalised text:

- ``ticket``: is the message a ticket (logistic regression, all messages);
- ``categories``: which category (one logistic regression per category, tickets only,
  normalised to sum to 1);
- ``urgent``: is it an urgent ticket (logistic regression, all messages, classes
  balanced: urgent tickets are few).

:class:`tickets.intake.Parser` weighs these against its rules. Training uses scikit-learn
(liblinear, deterministic) and takes about two seconds, so it is done once, by
``gridcast parse --build-model`` (:mod:`tickets.intake.build`), which writes the weights to
:data:`MODEL_FILE`; a process loads that file when the parser first needs the model
(a few milliseconds; no pickle). Scoring needs only numpy: a hash-table look-up per
n-gram and one small sparse product.

The file (:meth:`IntakeModel.to_bytes`) is an ``.npz`` archive that ``numpy.load`` reads:
``ngrams`` (the vocabulary, sorted), ``idf``, ``weights`` (float32, one row per n-gram,
one column per score), ``bias``, ``columns`` (the score names) and ``format``. It is
written byte for byte the same from the same model: stored, not compressed, with fixed
timestamps. float32 weights change no decision and no rounded probability of the parser
on the 3,361 labelled messages (a test checks the dev set).
"""

from __future__ import annotations

import json
import math
import re
import warnings
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from tickets.intake.archive import npz_bytes

__all__ = [
    "DATA_DIR",
    "HELDOUT_FILES",
    "MODEL_FILE",
    "NGRAM_MAX",
    "REGULARISATION",
    "TRAINING_FILES",
    "IntakeModel",
    "ModelFileError",
    "ModelScores",
    "TrainingExample",
    "char_ngrams",
    "read_training_files",
]

DATA_DIR: Final = Path(__file__).resolve().parent / "data"
MODEL_FILE: Final = DATA_DIR / "model.npz"
"""The default model, built by ``gridcast parse --build-model`` from :data:`TRAINING_FILES`."""
TRAINING_FILES: Final = (
    DATA_DIR / "train.jsonl",
    DATA_DIR / "dev.jsonl",
    DATA_DIR / "longform.train.jsonl",
    DATA_DIR / "voice.train.jsonl",
)
"""What the parser's default model learns from: group chat, long letters and posts, voice
transcripts. The held-out files (``*.heldout.jsonl``) are never among them: they measure
the parser and must never train it."""
HELDOUT_FILES: Final = (
    DATA_DIR / "chat.heldout.jsonl",
    DATA_DIR / "longform.heldout.jsonl",
    DATA_DIR / "voice.heldout.jsonl",
    DATA_DIR / "blind.heldout.jsonl",
)
"""One held-out part per register; see ``data/README.md``."""
NGRAM_MAX: Final = 2
"""Character n-grams of length 1 to this."""
REGULARISATION: Final = 10.0
"""liblinear's ``C`` for every model: larger fits the training messages more closely."""

_SPACES: Final = re.compile(r"\s+")
_FORMAT: Final = "gridcast-intake-model/1"

FloatArray = npt.NDArray[np.float64]
_FIRST: Final = np.zeros(1, dtype=np.intp)


def char_ngrams(body: str) -> list[str]:
    """The character 1- to :data:`NGRAM_MAX`-grams of a normalised message.

    Runs of white space (blanked @mentions among them) count as one space.
    """
    text = _SPACES.sub(" ", body).strip()
    grams = list(text)
    length = len(text)
    for n in range(2, NGRAM_MAX + 1):
        grams.extend(text[i : i + n] for i in range(length - n + 1))
    return grams


@dataclass(frozen=True, slots=True)
class TrainingExample:
    """One labelled message, its text already normalised the way the parser reads it."""

    body: str
    is_ticket: bool
    category: str | None
    urgent: bool


def read_training_files(
    paths: Iterable[Path], normalise: Callable[[str], str]
) -> list[TrainingExample]:
    """Labelled JSON lines (the format of ``tickets/intake/data/*.jsonl``) as training examples."""
    examples: list[TrainingExample] = []
    for path in paths:
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                if not line.strip():
                    continue
                row = json.loads(line.lstrip("\ufeff"))
                is_ticket = bool(row["is_ticket"])
                examples.append(
                    TrainingExample(
                        normalise(str(row["text"])),
                        is_ticket,
                        str(row["category"]) if is_ticket else None,
                        is_ticket and row["urgency"] == "urgent",
                    )
                )
    return examples


@dataclass(frozen=True, slots=True)
class ModelScores:
    """What the model makes of one message."""

    ticket: float
    """Probability that it is a ticket."""
    categories: Mapping[str, float]
    """Probability of each category, if it is a ticket (sums to 1)."""
    urgent: float
    """Probability that it is an urgent ticket."""


def _gram_keys(grams: Sequence[str]) -> npt.NDArray[np.int64]:
    """The integer key of each 1- or 2-character n-gram (see :meth:`IntakeModel._indices`)."""
    if not grams:
        return np.zeros(0, dtype=np.int64)
    pairs = np.array(grams, dtype="<U2").view(np.uint32).reshape(-1, 2).astype(np.int64)
    return (pairs[:, 0] << 21) | pairs[:, 1]


class _GramTable:
    """An open-addressing hash table (linear probing) from n-gram keys to vocabulary
    indices, looked up for a whole array of keys at once: a few vectorised probes instead
    of a binary search per n-gram (``searchsorted`` misses the cache at every step)."""

    _EMPTY: Final = -1
    _MULTIPLIER: Final = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing

    def __init__(self, keys: npt.NDArray[np.int64]) -> None:
        bits = max(8, (4 * len(keys) - 1).bit_length())  # at most a quarter full
        self._shift = np.uint64(64 - bits)
        self._mask = (1 << bits) - 1
        self._keys = np.full(1 << bits, self._EMPTY, dtype=np.int64)
        self._values = np.zeros(1 << bits, dtype=np.intp)
        slots = self._slots(keys)
        pending = np.arange(len(keys), dtype=np.intp)
        while len(pending):
            wanted = slots[pending]
            free = self._keys[wanted] == self._EMPTY
            # Of the keys wanting one free slot, the first takes it; the others move on.
            taken, first = np.unique(wanted[free], return_index=True)
            placed = pending[free][first]
            self._keys[taken] = keys[placed]
            self._values[taken] = placed
            waiting = np.ones(len(keys), dtype=bool)
            waiting[placed] = False
            pending = pending[waiting[pending]]
            slots[pending] = (slots[pending] + 1) & self._mask

    def _slots(self, keys: npt.NDArray[np.int64]) -> npt.NDArray[np.intp]:
        hashed = (keys.astype(np.uint64) * self._MULTIPLIER) >> self._shift
        return hashed.astype(np.intp)

    def find(self, keys: npt.NDArray[np.int64]) -> npt.NDArray[np.intp]:
        """The index of each key (its position in the keys the table was built from),
        -1 for a key not in it."""
        found = np.full(len(keys), -1, dtype=np.intp)
        slots = self._slots(keys)
        active = np.arange(len(keys), dtype=np.intp)
        while len(active):
            held = self._keys[slots]
            hit = held == keys[active]
            found[active[hit]] = self._values[slots[hit]]
            going_on = ~hit & (held != self._EMPTY)
            active = active[going_on]
            slots = (slots[going_on] + 1) & self._mask
        return found


class ModelFileError(ValueError):
    """A model file that cannot be read: missing arrays, wrong shapes, another format."""


class IntakeModel:
    """Linear scores over TF-IDF character n-grams; build one with :meth:`train`.

    ``weights`` has one row per n-gram of the vocabulary and one column per score:
    ticket, urgent, then the categories; ``idf`` weighs the n-grams of a message.
    """

    def __init__(
        self,
        vocabulary: Mapping[str, int],
        idf: FloatArray,
        weights: FloatArray,
        bias: FloatArray,
        categories: Sequence[str],
    ) -> None:
        self._vocabulary = dict(vocabulary)
        # Scoring looks n-grams up as integers, all of a message at once: a character
        # pair (a, b) is (ord(a) << 21) | ord(b), a single character (ord(a) << 21).
        grams = sorted(self._vocabulary, key=self._vocabulary.__getitem__)
        self._table = _GramTable(_gram_keys(grams))
        self._idf = idf
        self._weights = weights
        self._columns = [np.ascontiguousarray(c) for c in weights.T]
        self._bias = bias
        self.categories: tuple[str, ...] = tuple(categories)

    # --- training ------------------------------------------------------------------------

    @classmethod
    def train(
        cls, examples: Sequence[TrainingExample], *, regularisation: float = REGULARISATION
    ) -> IntakeModel:
        """Fit the three models on ``examples`` (deterministic: same data, same model)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # import-time deprecations of scipy/sklearn
            from sklearn.feature_extraction.text import TfidfVectorizer
            from sklearn.linear_model import LogisticRegression

        def fit(x: Any, y: Sequence[bool], *, balanced: bool = False) -> tuple[FloatArray, float]:
            model = LogisticRegression(
                C=regularisation,
                solver="liblinear",
                class_weight="balanced" if balanced else None,
                max_iter=1000,
                random_state=0,  # liblinear shuffles: a fixed seed keeps training repeatable
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.fit(x, np.asarray(y, dtype=bool))
            return np.asarray(model.coef_[0], dtype=np.float64), float(model.intercept_[0])

        categories = sorted({e.category for e in examples if e.category is not None})
        if (
            not categories
            or all(e.is_ticket for e in examples)
            or not any(e.is_ticket for e in examples)
        ):
            raise ValueError("training needs tickets of at least one category and non-tickets")
        vectorizer = TfidfVectorizer(analyzer=char_ngrams, sublinear_tf=True)
        x_all = vectorizer.fit_transform([e.body for e in examples])
        tickets = [i for i, e in enumerate(examples) if e.is_ticket]
        x_tickets = x_all[tickets]

        columns = [
            fit(x_all, [e.is_ticket for e in examples]),
            fit(x_all, [e.urgent for e in examples], balanced=True),
        ]
        for code in categories:
            labels = [examples[i].category == code for i in tickets]
            if all(labels):  # one category only: it is always that one
                columns.append((np.zeros(x_all.shape[1]), 10.0))
            else:
                columns.append(fit(x_tickets, labels))
        idf = np.asarray(vectorizer.idf_, dtype=np.float64)
        weights = np.column_stack([c[0] for c in columns])
        bias = np.array([c[1] for c in columns])
        vocabulary = {str(k): int(v) for k, v in vectorizer.vocabulary_.items()}
        return cls(vocabulary, idf, np.ascontiguousarray(weights), bias, categories)

    # --- scoring -------------------------------------------------------------------------

    def _indices(self, bodies: Sequence[str]) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
        """For every n-gram of ``bodies`` found in the vocabulary: its message, its index."""
        texts: list[str] = []
        rows: list[int] = []
        for row, body in enumerate(bodies):
            text = _SPACES.sub(" ", body).strip()
            if text:
                texts.append(text)
                rows.append(row)
        if not texts:
            empty = np.zeros(0, dtype=np.intp)
            return empty, empty
        # All the messages' characters in one array; a bigram never spans two messages.
        lengths = np.fromiter(map(len, texts), dtype=np.intp, count=len(texts))
        chars = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
        row_of_char = np.repeat(np.array(rows, dtype=np.intp), lengths)
        high = chars << 21
        if NGRAM_MAX >= 2:
            within = np.ones(len(chars) - 1, dtype=bool)
            within[np.cumsum(lengths)[:-1] - 1] = False
            keys = np.concatenate((high, (high[:-1] | chars[1:])[within]))
            row_of = np.concatenate((row_of_char, row_of_char[:-1][within]))
        else:
            keys, row_of = high, row_of_char
        index = self._table.find(keys)
        known = index >= 0
        return row_of[known], index[known]

    def _scores(self, logits: FloatArray) -> list[ModelScores]:
        """One :class:`ModelScores` per row of logits (ticket, urgent, categories)."""
        categories = self.categories
        exp = math.exp
        found: list[ModelScores] = []
        for row in logits.tolist():
            # The logistic function, inline (a call per score costs more than the arithmetic);
            # a very negative logit goes through exp(v): no overflow.
            ticket, urgent, *per_category = [
                1.0 / (1.0 + exp(-v)) if v >= 0 else (odds := exp(v)) / (1.0 + odds) for v in row
            ]
            total = sum(per_category) or 1.0
            found.append(
                ModelScores(
                    ticket,
                    dict(zip(categories, [p / total for p in per_category], strict=True)),
                    urgent,
                )
            )
        return found

    def score(self, body: str) -> ModelScores:
        """Score one normalised message: :meth:`score_many` of it, with fewer numpy calls
        (each costs more than the arithmetic of one message); the same numbers, bit for bit."""
        logits = self._bias.copy()
        text = _SPACES.sub(" ", body).strip()
        if text:
            chars = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
            high = chars << 21
            keys = np.concatenate((high, high[:-1] | chars[1:])) if NGRAM_MAX >= 2 else high
            index = self._table.find(keys)
            grams, counts = np.unique(index[index >= 0], return_counts=True)
            if len(grams):
                values = (np.log(counts) + 1.0) * self._idf[grams]
                # bincount and reduceat: the sums of score_many, in the same order
                norm = np.sqrt(np.bincount(np.zeros(len(values), np.intp), weights=values * values))
                values /= norm[0]
                contributions = values[:, None] * self._weights[grams]
                logits += np.add.reduceat(contributions, _FIRST, axis=0)[0]
        return self._scores(logits[None, :])[0]

    def score_many(self, bodies: Sequence[str]) -> list[ModelScores]:
        """Score many normalised messages at once (one sparse product for the batch).

        The message's vector is TF-IDF with sublinear counts (1 + log count), L2
        normalised, as scikit-learn's ``TfidfVectorizer(sublinear_tf=True)`` makes it.
        """
        if not bodies:
            return []
        row_of, index = self._indices(bodies)
        logits = np.tile(self._bias, (len(bodies), 1))
        if len(index):
            width = len(self._idf)
            pairs, counts = np.unique(row_of * width + index, return_counts=True)
            rows, grams = np.divmod(pairs, width)
            values = (np.log(counts) + 1.0) * self._idf[grams]
            norms = np.sqrt(np.bincount(rows, weights=values * values, minlength=len(bodies)))
            values /= norms[rows]
            # ``rows`` is sorted: each message's n-grams are one contiguous run. One score
            # at a time: a column of the weights is small enough to stay in the cache (the
            # sums are those of one reduceat over all columns, bit for bit).
            starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
            scored = rows[starts]
            for column, weights in enumerate(self._columns):
                logits[scored, column] += np.add.reduceat(values * weights[grams], starts)
        return self._scores(logits)

    # --- the model file --------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """The model as a deterministic ``.npz`` archive (see the module docstring)."""
        ngrams = sorted(self._vocabulary, key=self._vocabulary.__getitem__)
        if [self._vocabulary[g] for g in ngrams] != list(range(len(ngrams))):
            raise ValueError("the vocabulary's indices are not 0..n-1")
        arrays: dict[str, npt.NDArray[Any]] = {
            "format": np.array(_FORMAT),
            "columns": np.array(["ticket", "urgent", *self.categories]),
            "ngrams": np.array(ngrams, dtype=np.str_),
            "idf": np.asarray(self._idf, dtype=np.float64),
            "weights": np.asarray(self._weights, dtype=np.float32),
            "bias": np.asarray(self._bias, dtype=np.float64),
        }
        return npz_bytes(arrays)

    def save(self, path: Path) -> int:
        """Write :meth:`to_bytes` to ``path`` (replacing it whole); the number of bytes."""
        data = self.to_bytes()
        partial = path.with_name(path.name + ".partial")
        partial.write_bytes(data)
        partial.replace(path)
        return len(data)

    @classmethod
    def load(cls, path: Path) -> IntakeModel:
        """Read a model file written by :meth:`save`; :class:`ModelFileError` if it is not one."""
        try:
            with np.load(path, allow_pickle=False) as archive:
                arrays = {name: archive[name] for name in archive.files}
        except (OSError, ValueError, zipfile.BadZipFile, KeyError) as exc:
            raise ModelFileError(f"{path}: {exc}") from exc
        try:
            if str(arrays["format"]) != _FORMAT:
                raise ModelFileError(f"{path}: format {arrays['format']!s}, need {_FORMAT}")
            ngrams, idf, weights = arrays["ngrams"], arrays["idf"], arrays["weights"]
            bias, columns = arrays["bias"], [str(c) for c in arrays["columns"]]
        except KeyError as exc:
            raise ModelFileError(f"{path}: no array {exc}") from exc
        if (
            columns[:2] != ["ticket", "urgent"]
            or weights.shape != (len(ngrams), len(columns))
            or idf.shape != (len(ngrams),)
            or bias.shape != (len(columns),)
        ):
            raise ModelFileError(f"{path}: arrays of inconsistent shapes")
        vocabulary = {str(gram): index for index, gram in enumerate(ngrams.tolist())}
        return cls(
            vocabulary,
            np.asarray(idf, dtype=np.float64),
            np.ascontiguousarray(weights),
            np.asarray(bias, dtype=np.float64),
            columns[2:],
        )
