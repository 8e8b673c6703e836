"""Intake (受理): decide whether a group message is a ticket, and of what kind.

``parse_message(text)`` reads one message and returns a :class:`ParsedMessage`: is it a
ticket, its category (codes from TAXONOMY.md), its urgency, the substring that locates
the problem (3栋, 二单元三楼, 国欢大道, 菜市场旁边), and whether it is an acknowledgement
of a notice (收到, 1, 👌). It is pure, synchronous and never raises.

How it decides, in order:

1. Normalise (see :func:`tickets.intake.hanzi.fold`: NFKC, traditional -> simplified, lower-case
   ASCII, control characters to spaces) keeping a map back to the original text, and
   blank out @mentions. Only the first ``MAX_SCAN_CHARS`` characters are read.
2. Nothing left but emoji, punctuation or media placeholders ([图片]) -> not a ticket.
   Only receipt words, optionally after a unit or a name (3栋收到) -> acknowledgement
   (:mod:`core.acknowledgement`, with the lexicon's words).
3. The rules: weigh the cues of the :class:`~tickets.intake.lexicon.Lexicon` and its patterns
   (:mod:`tickets.intake.patterns`): category cues, category-free request cues (投诉, 没人管,
   坏了 ...) and negative cues by kind (notice, scam_alert, advert, lost_found,
   recommendation, greeting, social, resolved). A notice, scam alert, advert, lost-and-
   found post or recommendation request scoring ``HARD_VETO`` (and more than the
   request cues) is never a ticket. Otherwise a ticket needs a best category of at least
   ``MIN_CATEGORY`` and category + request - negatives of at least ``TICKET_THRESHOLD``;
   strong request cues with no category and no negatives make an ``other`` ticket.
4. The model (:mod:`tickets.intake.model`, trained on the labelled messages in
   ``tickets/intake/data`` and loaded from ``data/model.npz``) and the rules decide together. Ticket: the model's log-odds plus
   the rules' vote (``TICKET_RULE_VOTE``, + for their yes, - for their no) reach
   ``TICKET_LOGIT``. Category: the best model log-probability plus
   ``CATEGORY_RULE_WEIGHT`` times the rules' score; the rules' own choice stands when
   it is within ``CATEGORY_MARGIN`` of that best, and for a category only the lexicon
   knows (added from config.yaml). With ``Parser(model=None)`` the rules decide alone.
5. Urgent when the rules' urgent cues and patterns (fire, gas, trapped, collapsed,
   missing person, fight, water in the house, a structure about to fall ...) reach
   ``URGENT_THRESHOLD``, ignoring cues in a clause that makes them past or hypothetical
   (去年着过火, 容易引起山火) and cues followed by 以后 (失火以后); or when the model's
   probability of an urgent ticket reaches ``URGENT_PROBABILITY``, unless the rules
   dismissed an urgent cue as past or hypothetical (the model cannot read tense).
6. Location: see :class:`tickets.intake.location.Locator`.

Every decision carries its :class:`Evidence`, so a grid leader (or a test) can see why.
"""

from __future__ import annotations

import bisect
import enum
import functools
import logging
import math
import operator
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal, NamedTuple

import ahocorasick

from core.acknowledgement import (
    EMOTICON,
    MAX_CONTENT,
    AcknowledgementDetector,
    message_content,
)
from tickets.intake.hanzi import fold, fold_text
from tickets.intake.lexicon import DEFAULT_LEXICON, Lexicon, split_words
from tickets.intake.location import Locator, writing_register
from tickets.intake.model import MODEL_FILE, IntakeModel, ModelScores
from tickets.intake.prefilter import Prefilter
from tickets.intake.segment import SEGMENTER

__all__ = [
    "CATEGORY_MARGIN",
    "CATEGORY_RULE_WEIGHT",
    "CONFIDENT_CATEGORY",
    "DEFAULT_MODEL",
    "HARD_VETO",
    "LONG_MESSAGE",
    "MAX_SCAN_CHARS",
    "MIN_CATEGORY",
    "TICKET_LOGIT",
    "TICKET_RULE_VOTE",
    "TICKET_THRESHOLD",
    "URGENT_PROBABILITY",
    "URGENT_THRESHOLD",
    "Evidence",
    "ParsedMessage",
    "Parser",
    "Urgency",
    "default_parser",
    "parse_message",
    "parser_for",
    "title_of",
]

logger = logging.getLogger(__name__)

Urgency = Literal["urgent", "normal"]

MIN_CATEGORY: Final = 2.0
"""The best category must score at least this much for a ticket."""
TICKET_THRESHOLD: Final = 3.0
"""Category + request - negatives must reach this for a ticket."""
URGENT_THRESHOLD: Final = 3.0
REQUEST_CAP: Final = 4.0
"""Request cues (投诉, 一直, 麻烦 ...) add at most this much: a polite chat is no ticket."""
NEGATIVE_CAP: Final = 8.0
"""Each kind of negative subtracts at most this much."""
HARD_NEGATIVES: Final = frozenset(
    {"notice", "scam_alert", "advert", "lost_found", "recommendation"}
)
"""Kinds of message that are never tickets, whatever topic words they contain."""
HARD_VETO: Final = 5.0
"""A hard negative kind scoring this much (and more than the request cues) vetoes."""
OTHER_REQUEST: Final = 3.0
"""With no category, request cues this strong (and no negatives) make an ``other`` ticket."""
BATCH_LINES: Final = 512
"""Callers that read a stream (``gridcast parse``) parse this many messages as one batch."""
MAX_SCAN_CHARS: Final = 2000
"""Only the beginning of a very long text is read; its length still counts."""
LONG_TEXT: Final = 150
"""Longer texts with formal markers read as forwarded notices."""
LONG_MESSAGE: Final = 100
"""A message this long (in characters) is a letter or a post, not a cry from the scene:
its politeness (谢谢, 您好) is no greeting, it gets a title and may carry secondary
categories, and the rules' urgent words need the model's support (below)."""
LONG_URGENT_SUPPORT: Final = 0.3
"""With a model, in a long message: the rules' urgent words count only when the model's
probability of an urgent ticket reaches this. A letter tells stories (上个月有个老人突发
疾病, 去年有人掉进去) full of emergency words; an emergency now is rarely written as a
letter. Chosen by 5-fold cross-validation on the training files (all registers): long-form
urgent precision 0.48 -> 0.91 at recall 0.98, chat and voice unchanged."""
SECONDARY_PROBABILITY: Final = 0.15
"""In a long message, another category is listed as secondary when the rules score it
at least ``MIN_CATEGORY`` and the model gives it at least this probability."""
MAX_SECONDARY: Final = 3
TITLE_CHARS: Final = 40
"""A title or one-line summary is cut to this many characters."""
# How rules and model are weighed: chosen by cross-validation on tickets/intake/data/train.jsonl
# and checked across authors (train.jsonl against dev.jsonl); see the README there.
TICKET_RULE_VOTE: Final = 1.0
"""With a model: the rules' yes (+) or no (-) added to the model's ticket log-odds."""
TICKET_LOGIT: Final = 0.0
"""With a model: a ticket when the model's log-odds plus the rules' vote reach this."""
ASK_RULE_VOTE: Final = 2.0
"""With a model: the rules' yes when the message asks the government outright (恳请, 望回复,
何时解决, 第二次反映, 请问政府有没有规划): short questions of this kind look like chat
to a model trained mostly on chat lines."""
CATEGORY_RULE_WEIGHT: Final = 0.3
"""With a model: each point of a category's rule score adds this to its log-probability."""
CATEGORY_MARGIN: Final = 0.5
"""With a model: the rules' category stands if the blend puts it this close to the best."""
CONFIDENT_CATEGORY: Final = 0.5
"""With a model: a category is a clear call (:attr:`ParsedMessage.category_confident`)
when the model gives it at least this probability as well as the rules leading with it.
Follow-ups use it: a resident's next message of another, clearly different category is
a new problem, not more about the last one."""
URGENT_PROBABILITY: Final = 0.5
"""With a model: a ticket is urgent when the rules say so or the model's probability of
an urgent ticket reaches this. The model is trained with balanced classes, so 0.5 means
its evidence favours urgent. Lower thresholds (0.3) caught a few more emergencies in
cross-validation but flagged many ordinary complaints written by other authors."""


@dataclass(frozen=True, slots=True)
class Evidence:
    """One reason behind a decision: a matched phrase or pattern and its weight."""

    kind: Literal["ticket", "category", "request", "urgent", "negative", "location"]
    label: str
    """Category code, negative kind (notice, advert ...), or the pattern name."""
    phrase: str
    """The matched text."""
    weight: float
    """A cue's weight; for the model (``source="model"``) its probability."""
    source: str = "lexicon"
    """``lexicon`` for a cue phrase, ``model`` for the trained model, else the name of the
    pattern or rule."""


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    """What intake made of one message."""

    is_ticket: bool
    category: str | None
    urgency: Urgency | None
    location: str | None
    is_acknowledgement: bool = False
    """A receipt for a notice (收到, 已阅, 1, 👌); never a ticket."""
    reason: str | None = None
    """Why it is not a ticket: empty, media, acknowledgement, a negative kind, no_request,
    model (the rules saw a ticket, the model outweighed them), internal_error."""
    score: float = 0.0
    evidence: tuple[Evidence, ...] = ()
    title: str | None = None
    """For a ticket: the post's own title (标题：..., or a short first line), or else a
    one-line summary, without polite openings (尊敬的领导：您好！)."""
    secondary_categories: tuple[str, ...] = ()
    """For a long ticket: other categories it also asks about (several requests in one
    letter make one ticket, filed under ``category``, listing these)."""

    @property
    def category_confident(self) -> bool:
        """Is the category a clear call: a named category (not ``other``) whose cue weight
        leads every other category's, and which the model, when it voted, gives at least
        :data:`CONFIDENT_CATEGORY`? (下水道 is both 市政设施 and 环境卫生: not clear.)"""
        if self.category is None or self.category == "other":
            return False
        rules: dict[str, float] = {}
        model: float | None = None
        for e in self.evidence:
            if e.kind != "category":
                continue
            if e.source == "model":
                model = e.weight if e.label == self.category else model
            else:
                rules[e.label] = rules.get(e.label, 0.0) + e.weight
        mine = rules.get(self.category, 0.0)
        leads = all(weight < mine for label, weight in rules.items() if label != self.category)
        return leads and (model is None or model >= CONFIDENT_CATEGORY)

    def as_record(self, text: str) -> dict[str, object]:
        """The ``gridcast parse`` output line for this message."""
        return {
            "text": text,
            "is_ticket": self.is_ticket,
            "category": self.category,
            "urgency": self.urgency,
            "location": self.location,
        }


_NOT_A_TICKET_EMPTY: Final = ParsedMessage(False, None, None, None, reason="empty")


# --- normalisation -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Text:
    original: str
    body: str
    """Normalised, mentions blanked with spaces."""
    origin: tuple[int, ...] | None
    """For each character of ``body`` its index in ``original``; None when the same."""
    mentions: tuple[str, ...]

    def original_span(self, start: int, end: int) -> str:
        if self.origin is None:
            return self.original[start:end]
        return self.original[self.origin[start] : self.origin[end - 1] + 1]


# WeChat puts U+2005 (a space after NFKC) after a mention picked from the member list.
_MENTION: Final = re.compile(r"@([^\s@]{1,16})(?=\s|$)")
_STRAY_AT: Final = re.compile(r"@")


class _OneToOne(dict[int, str]):
    """``str.translate`` table of :func:`fold` for characters that fold to exactly one
    character; any other character maps to a marker that sends the text the slow way."""

    def __missing__(self, codepoint: int) -> str:
        folded = fold(chr(codepoint))
        value = folded if len(folded) == 1 and folded != _SLOW else _SLOW
        if len(self) < 1 << 16:
            self[codepoint] = value
        return value


_SLOW: Final = "\uffff"
_ONE_TO_ONE: Final = _OneToOne()


def _normalise(text: str) -> _Text:
    text_scanned = text[:MAX_SCAN_CHARS]
    normal = text_scanned.translate(_ONE_TO_ONE)
    if _SLOW in normal:  # a character that vanishes (zero-width) or expands (㎡ -> m2)
        chars: list[str] = []
        origin: list[int] = []
        for index, ch in enumerate(text_scanned):
            folded = fold(ch)
            chars.append(folded)
            origin.extend([index] * len(folded))
        normal = "".join(chars)
        origin_map: tuple[int, ...] | None = tuple(origin)
    else:
        origin_map = None  # one to one: offsets are the same
    if "@" not in normal:  # most messages mention no one
        return _Text(text, normal, origin_map, ())
    mentions = tuple(m.group(1) for m in _MENTION.finditer(normal))
    body = _MENTION.sub(lambda m: " " * len(m.group(0)), normal)
    body = _STRAY_AT.sub(" ", body)
    return _Text(text, body, origin_map, mentions)


# --- shapes of messages that are not tickets ---------------------------------------------

# WeChat's placeholders for what is not text, as the puppet service renders them.
_MEDIA: Final = frozenset(
    split_words(
        "[图片] [语音] [视频] [动画表情] [表情] [文件] [链接] [位置] [语音通话] [视频通话] "
        "[小程序] [名片] [聊天记录] [红包] [转账] [音乐] [sticker] [photo] [image] [video] "
        "[voice] [file] [link] [location]"
    )
)
_OFFICIAL_MENTION: Final = re.compile(r"书记|网格|主任|村长|单元长|社区|村委|镇长|站长|物业")


# --- phrase matching ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Cue:
    kind: Literal["category", "request", "urgent", "negative", "blocker"]
    label: str
    weight: float
    namespace: tuple[str, str] = field(init=False, compare=False, repr=False)
    """(kind, label): the table the cue belongs to."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "namespace", (self.kind, self.label))


class _Hit(NamedTuple):
    """A cue phrase found in a text. (A named tuple: thousands are made per second, and a
    frozen dataclass costs several times more to make.)"""

    start: int
    end: int
    phrase: str
    cue: _Cue
    evidence: Evidence
    """The same for every hit of this phrase and cue: made once, shared."""


def _evidence_of(phrase: str, cue: _Cue) -> Evidence:
    kind = cue.kind
    if kind == "blocker":  # filtered out before scoring; kept total for the type checker
        kind = "negative"
    return Evidence(kind, cue.label, phrase, cue.weight)


def _is_cjk(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"


def _is_ascii_alnum(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


class _PhraseIndex:
    """All cue phrases by first character; finds every occurrence, overlapping ones too."""

    def __init__(self, lexicon: Lexicon) -> None:
        table: dict[str, list[_Cue]] = {}

        def add(phrase: str, cue: _Cue) -> None:
            key = fold_text(phrase).strip()
            if key:
                table.setdefault(key, []).append(cue)

        for code, category_cues in lexicon.categories.items():
            for phrase, weight in category_cues.items():
                add(phrase, _Cue("category", code, weight))
        for phrase, weight in lexicon.request.items():
            add(phrase, _Cue("request", "request", weight))
        for phrase, weight in lexicon.urgent.items():
            add(phrase, _Cue("urgent", "urgent", weight))
        for kind, negative_cues in lexicon.negatives.items():
            for phrase, weight in negative_cues.items():
                add(phrase, _Cue("negative", kind, weight))
        for phrase in lexicon.blockers:
            add(phrase, _Cue("blocker", "blocker", 0.0))

        # One Aho-Corasick automaton (C) for every phrase: all occurrences, overlapping too.
        automaton = ahocorasick.Automaton()
        for phrase, phrase_cues in table.items():
            automaton.add_word(
                phrase,
                (
                    phrase,
                    tuple((cue, _evidence_of(phrase, cue)) for cue in phrase_cues),
                    len(phrase),
                    _is_ascii_alnum(phrase[0]),
                    _is_ascii_alnum(phrase[-1]),
                ),
            )
        if table:
            automaton.make_automaton()
        self._automaton = automaton if table else None
        self.phrases: tuple[str, ...] = tuple(table)

    def find(self, text: str) -> list[_Hit]:
        """Every occurrence of a phrase, by start then length (then the cues' order)."""
        if self._automaton is None or not text:
            return []
        n = len(text)
        found: list[tuple[int, int, str, tuple[tuple[_Cue, Evidence], ...]]] = []
        for last, (phrase, phrase_cues, length, ascii_first, ascii_last) in self._automaton.iter(
            text
        ):
            j = last + 1
            i = j - length
            # 120 inside 1200, ok inside book: ASCII cues match whole words
            if (ascii_first and i > 0 and _is_ascii_alnum(text[i - 1])) or (
                ascii_last and j < n and _is_ascii_alnum(text[j])
            ):
                continue
            found.append((i, j, phrase, phrase_cues))
        found.sort(key=_SPAN)  # (one span is one phrase: never a tie)
        return [
            _Hit(i, j, phrase, cue, evidence)
            for i, j, phrase, phrase_cues in found
            for cue, evidence in phrase_cues
        ]


_SPAN: Final = operator.itemgetter(0, 1)


def _nested(spans: Iterable[tuple[int, int]]) -> Callable[[int, int], bool]:
    """A test: is (start, end) inside a strictly longer one of ``spans``?"""
    longest_at: dict[int, int] = {}
    for s, e in spans:
        if e > longest_at.get(s, -1):
            longest_at[s] = e
    starts = sorted(longest_at)
    # reach[k]: the furthest end of a span starting before starts[k]
    reach: list[int] = []
    furthest = -1
    for s in starts:
        reach.append(furthest)
        furthest = max(furthest, longest_at[s])

    def inside(start: int, end: int) -> bool:
        k = bisect.bisect_left(starts, start)
        if k < len(starts) and starts[k] == start:
            if longest_at[start] > end:
                return True  # same start, longer
            before = reach[k]
        else:
            before = reach[k] if k < len(starts) else furthest
        return before >= end  # an earlier start reaching at least as far is longer

    return inside


_NEGATABLE: Final = frozenset({"resolved", "social", "greeting"})
_CJK_RUN: Final = re.compile(r"[\u4e00-\u9fff]+")
_WINDOW: Final = 12


def _standalone(text: str, hits: Sequence[_Hit]) -> set[int]:
    """Offsets of ``hits`` that jieba segments as words of their own."""
    alone: set[int] = set()
    done: set[int] = set()
    for h in hits:
        if h.start in done:
            continue
        start = max(0, h.start - _WINDOW)
        end = min(len(text), h.end + _WINDOW)
        run = next(
            (m for m in _CJK_RUN.finditer(text, start, end) if m.start() <= h.start < m.end()),
            None,
        )
        if run is None:
            continue
        offset = run.start()
        for position in SEGMENTER.single_character_words(run.group(0)):
            alone.add(offset + position)
        done.update(range(run.start(), run.end()))
    return alone


def _filter_hits(hits: list[_Hit], text: str) -> list[_Hit]:
    """Apply blockers, the single-character rule and per-table nesting."""
    blockers = [(h.start, h.end) for h in hits if h.cue.kind == "blocker"]
    blocked = _nested(blockers) if blockers else None
    kept: list[_Hit] = []
    checked: list[_Hit] = []
    for h in hits:
        cue = h.cue
        if blocked is not None and (cue.kind == "blocker" or blocked(h.start, h.end)):
            continue
        # 不亮了 is not 亮了, 不开心 not 开心: a negated good outcome is still a problem.
        if cue.label in _NEGATABLE and h.start > 0 and text[h.start - 1] in "不没未别":
            continue
        kept.append(h)
        if cue.kind == "category" and h.end - h.start == 1 and _is_cjk(h.phrase):
            checked.append(h)
    # A one-character category cue (吵, 臭, 偷) counts only where jieba makes it a word of
    # its own: 火 in 着了火 but not in 火锅. Only the run of Chinese around it is cut.
    if checked:
        alone = _standalone(text, checked)
        dropped = {id(h) for h in checked if h.start not in alone}
        if dropped:
            kept = [h for h in kept if id(h) not in dropped]
    # A category phrase inside a longer phrase of another category is that category's
    # (油漆味 is pollution, not the 油漆 of a fire hazard; 女厕所 is not sanitation).
    spans = [(h.start, h.end) for h in kept if h.cue.kind == "category"]
    if len(spans) > 1:
        nested = _nested(spans)
        kept = [h for h in kept if h.cue.kind != "category" or not nested(h.start, h.end)]
    # Within one table, overlapping phrases count once (the longest: 被偷了 is not both
    # 被偷 and 偷了), and a phrase repeated in a rant counts once.
    result: list[_Hit] = []
    by_namespace: dict[tuple[str, str], list[_Hit]] = {}
    for h in kept:
        by_namespace.setdefault(h.cue.namespace, []).append(h)
    for group in by_namespace.values():
        if len(group) == 1:
            result.append(group[0])
            continue
        taken: list[_Hit] = []
        phrases: set[str] = set()
        for h in sorted(group, key=_longest_first):
            if h.phrase in phrases or any(h.start < t.end and t.start < h.end for t in taken):
                continue
            taken.append(h)
            phrases.add(h.phrase)
        result.extend(taken)
    result.sort(key=_START)
    return result


def _longest_first(h: _Hit) -> tuple[int, int]:
    return h.start - h.end, h.start


_START: Final = operator.itemgetter(0)


# --- the parser -----------------------------------------------------------------------------

_CLAUSE_BREAK: Final = re.compile(r"[,.!?;，。！？；、\s~]")
_CHRONIC_SMOKE: Final = frozenset({"pollution", "sanitation"})
_AFTERWARDS: Final = re.compile(r"[了过]?(?:以后|之后|过后|后来)")
# A danger told as experience (着过火, 塌过, 淹过一次): 过 after the verb puts it in the
# past. Not 烧过来 or 晕过去, which happen now.
_PAST_DANGER: Final = re.compile(r"(?:着|烧|起|失|塌|漏|淹|爆|困|倒|砸|摔|晕)过(?![来去])")


class _Default(enum.Enum):
    MODEL = "default"


DEFAULT_MODEL: Final = _Default.MODEL
"""``Parser(model=DEFAULT_MODEL)``: the model of ``tickets/intake/data/model.npz``, loaded on
first use."""


@dataclass(frozen=True, slots=True)
class _Reading:
    """What the rules make of a message that has content: the inputs of the decision."""

    text: _Text
    hits: tuple[_Hit, ...]
    urgent_matches: tuple[tuple[int, int, float], ...]
    """Start, end and weight of each pattern match with an urgent effect."""
    evidence: tuple[Evidence, ...]
    category_scores: Mapping[str, float]
    negative_scores: Mapping[str, float]
    vetoed: bool
    """A notice, scam alert, advert, lost-and-found post or recommendation request."""
    is_ticket: bool
    category: str | None
    score: float


def _logit(p: float) -> float:
    p = min(max(p, 1e-9), 1.0 - 1e-9)
    return math.log(p / (1.0 - p))


class Parser:
    """A message parser for one :class:`~tickets.intake.lexicon.Lexicon` and, by default, the
    trained :class:`~tickets.intake.model.IntakeModel`.

    Building one compiles the lexicon (a few milliseconds); jieba's dictionary is loaded
    and the model file loaded on the first message that needs them, or by :meth:`warm_up`.
    ``model=None`` gives the rules alone. A category that only the lexicon knows (added
    from ``config.yaml``) is decided by the rules. Thread-safe.
    """

    def __init__(
        self,
        lexicon: Lexicon = DEFAULT_LEXICON,
        *,
        model: IntakeModel | _Default | None = DEFAULT_MODEL,
    ) -> None:
        self.lexicon = lexicon
        self._model = model
        self._index = _PhraseIndex(lexicon)
        self._locator = Locator(lexicon.places, lexicon.landmarks)
        self._order = {code: i for i, code in enumerate(lexicon.category_codes)}
        self._hypothetical = tuple(lexicon.hypothetical)
        self._patterns = tuple(lexicon.patterns)
        self._prefilter = Prefilter([p.regex for p in self._patterns])
        # No trailing text after an ack word: 收到，路灯还是坏的 is a complaint, not a receipt.
        self._acknowledgement = AcknowledgementDetector(
            (fold_text(a) for a in lexicon.acknowledgements), accept_trailing=False
        )
        # Only the curated domain words: adding every cue phrase would let one table's
        # phrase (在撬) swallow another table's single-character cue (撬).
        SEGMENTER.add_words(lexicon.words)

    @property
    def model(self) -> IntakeModel | None:
        """The trained model weighed with the rules (loaded now if not yet), or None."""
        if isinstance(self._model, _Default):
            self._model = _default_model()
        return self._model

    def warm_up(self) -> None:
        """Load jieba and the model now rather than on the first message."""
        SEGMENTER.warm_up()
        _ = self.model

    def parse(self, text: str) -> ParsedMessage:
        """Parse one message. Never raises: any input gives an answer."""
        try:
            if not isinstance(text, str):
                return _NOT_A_TICKET_EMPTY
            early, reading = self._read(text)
            if reading is None:
                return early or _NOT_A_TICKET_EMPTY
            model = self.model
            scores = model.score(reading.text.body) if model is not None else None
            return self._decide(reading, scores)
        except Exception:  # a bot reads every message: a bug here must not stop it
            return _failed(text)

    def parse_many(self, texts: Iterable[str]) -> list[ParsedMessage]:
        """Parse many messages, in order: :meth:`parse` of each, faster.

        The model scores the whole batch in one matrix product. Never raises; a message
        that fails gets ``reason="internal_error"`` and the others are still parsed.
        """
        results: list[ParsedMessage] = []
        pending: list[tuple[int, _Reading]] = []
        for text in texts:
            try:
                if not isinstance(text, str):
                    results.append(_NOT_A_TICKET_EMPTY)
                    continue
                early, reading = self._read(text)
            except Exception:
                results.append(_failed(text))
                continue
            if reading is None:
                results.append(early or _NOT_A_TICKET_EMPTY)
            else:
                pending.append((len(results), reading))
                results.append(_NOT_A_TICKET_EMPTY)  # replaced below
        if not pending:
            return results
        scores: Sequence[ModelScores | None] = [None] * len(pending)
        try:
            model = self.model
            if model is not None:
                scores = model.score_many([r.text.body for _, r in pending])
        except Exception:  # the rules alone still give an answer
            logger.exception("intake model failed on a batch of %d messages", len(pending))
        for (position, reading), score in zip(pending, scores, strict=True):
            try:
                results[position] = self._decide(reading, score)
            except Exception:
                results[position] = _failed(reading.text.original)
        return results

    # --- the rules -----------------------------------------------------------------------

    def _read(self, text: str) -> tuple[ParsedMessage | None, _Reading | None]:
        """The rules' reading, or the final answer for a message with no content."""
        parsed = _normalise(text)
        body = parsed.body
        content = message_content(body)

        if not content and _MEDIA.intersection(EMOTICON.findall(body)):
            return ParsedMessage(False, None, None, None, reason="media"), None
        # An acknowledgement is short (MAX_CONTENT): a letter need not be read for one.
        # (The detector normalises again, NFKC, which at most shrinks a text a few times.)
        if len(content) <= 4 * MAX_CONTENT and self._acknowledgement.matches(body):
            return ParsedMessage(False, None, None, None, True, reason="acknowledgement"), None
        if not content:
            return _NOT_A_TICKET_EMPTY, None

        hits = _filter_hits(self._index.find(body), body)
        evidence = [h.evidence for h in hits]
        urgent_matches: list[tuple[int, int, float]] = []
        cancelled: set[str] = set()
        patterns = self._patterns
        for index in self._prefilter.candidates(body):  # the others cannot match
            pattern = patterns[index]
            match = pattern.regex.search(body)
            if match is None:
                continue
            for effect in pattern.effects:
                if effect.kind == "cancel":
                    cancelled.add(effect.label)
                    continue
                evidence.append(
                    Evidence(effect.kind, effect.label, match.group(0), effect.weight, pattern.name)
                )
                if effect.kind == "urgent":
                    urgent_matches.append((match.start(), match.end(), effect.weight))
        if len(text) >= LONG_MESSAGE:
            cancelled.add("greeting")  # 您好, 谢谢 in a letter are manners, not chat
        if len(text) >= LONG_TEXT and any(e.label == "notice" for e in evidence):
            evidence.append(Evidence("negative", "notice", text[:20], 2.0, "long_formal_text"))
        if parsed.mentions and any(_OFFICIAL_MENTION.search(m) for m in parsed.mentions):
            evidence.append(
                Evidence("request", "request", "@" + parsed.mentions[0], 1.0, "official_mention")
            )
        if "@所有人" in body or any(m in ("所有人", "all") for m in parsed.mentions):
            evidence.append(Evidence("negative", "notice", "@所有人", 4.0, "mention_all"))

        category_scores: dict[str, float] = {}
        negative_scores: dict[str, float] = {}
        request = 0.0
        evidence = [e for e in evidence if not (e.kind == "negative" and e.label in cancelled)]
        for e in evidence:
            if e.kind == "category":
                category_scores[e.label] = category_scores.get(e.label, 0.0) + e.weight
            elif e.kind == "negative":
                negative_scores[e.label] = negative_scores.get(e.label, 0.0) + e.weight
            elif e.kind == "request":
                request += e.weight
        request = min(request, REQUEST_CAP)
        negatives = sum(min(v, NEGATIVE_CAP) for v in negative_scores.values())
        # A forwarded notice, an advert or a scam warning is full of topic words (防火,
        # 灭火器, 秸秆 ...) but speaks with no complaint in its voice: it is vetoed outright.
        veto = max((v for k, v in negative_scores.items() if k in HARD_NEGATIVES), default=0.0)
        vetoed = veto >= HARD_VETO and veto > request + 1.0

        category: str | None = None
        best = 0.0
        if category_scores:
            category = max(
                category_scores, key=lambda c: (category_scores[c], -self._order.get(c, 99))
            )
            best = category_scores[category]
        score = best + request - negatives
        is_ticket = not vetoed and best >= MIN_CATEGORY and score >= TICKET_THRESHOLD
        if (
            not is_ticket
            and best < MIN_CATEGORY
            and request >= OTHER_REQUEST
            and not negative_scores
        ):
            category, is_ticket, score = "other", True, request
        reading = _Reading(
            parsed,
            tuple(hits),
            tuple(urgent_matches),
            tuple(evidence),
            category_scores,
            negative_scores,
            vetoed,
            is_ticket,
            category,
            score,
        )
        return None, reading

    # --- rules and model together --------------------------------------------------------

    def _decide(self, reading: _Reading, scores: ModelScores | None) -> ParsedMessage:
        evidence = list(reading.evidence)
        is_ticket = reading.is_ticket
        category = reading.category
        if scores is not None:
            evidence.append(Evidence("ticket", "ticket", "", round(scores.ticket, 3), "model"))
            # A danger now (水漫进客厅) is a call for help even with no topic word the rules
            # know; unless it is a notice or a warning passed on.
            rules_yes = reading.is_ticket or (
                not reading.vetoed
                and self._urgency(reading, reading.category)[0] >= URGENT_THRESHOLD
            )
            vote = TICKET_RULE_VOTE if rules_yes else -TICKET_RULE_VOTE
            if rules_yes and any(e.source == "letter_to_government" for e in evidence):
                vote = ASK_RULE_VOTE  # 何时解决？ 请问政府有没有规划: asked of the government
            is_ticket = _logit(scores.ticket) + vote >= TICKET_LOGIT
            if is_ticket:
                category = self._category(reading, scores)
                p = scores.categories.get(category or "", 0.0)
                evidence.append(Evidence("category", category or "", "", round(p, 3), "model"))

        if not is_ticket:
            if reading.is_ticket:
                reason = "model"  # the rules saw a ticket, the model outweighed them
            elif reading.negative_scores:
                negatives = reading.negative_scores
                reason = max(negatives, key=lambda k: negatives[k])
            else:
                reason = "no_request"
            return ParsedMessage(
                False,
                None,
                None,
                None,
                reason=reason,
                score=reading.score,
                evidence=tuple(evidence),
            )

        rule_urgency, dismissed = self._urgency(reading, category)
        urgent = rule_urgency >= URGENT_THRESHOLD
        long = len(reading.text.original) >= LONG_MESSAGE
        if urgent and long and scores is not None and scores.urgent < LONG_URGENT_SUPPORT:
            urgent = False  # a story told in a letter, not a danger now
        # The model cannot read tense or conditions: where the rules heard an urgent word
        # and found it past or hypothetical (去年着过火, 万一起火), they have the last word.
        if (
            scores is not None
            and not urgent
            and not dismissed
            and scores.urgent >= URGENT_PROBABILITY
        ):
            evidence.append(Evidence("urgent", "urgent", "", round(scores.urgent, 3), "model"))
            urgent = True
        location: str | None = None
        body = reading.text.body
        span = self._locator.locate(body, writing_register(body))
        if span is not None:
            location = reading.text.original_span(*span).strip() or None
            if location:
                evidence.append(Evidence("location", "location", location, 0.0, "locator"))
        secondary: tuple[str, ...] = ()
        if long and scores is not None:
            secondary = _secondary_categories(reading, scores, category)
        return ParsedMessage(
            True,
            category,
            "urgent" if urgent else "normal",
            location,
            score=reading.score,
            evidence=tuple(evidence),
            title=title_of(reading.text.original),
            secondary_categories=secondary,
        )

    def _category(self, reading: _Reading, scores: ModelScores) -> str | None:
        """The category with the best blend of the model's log-probability and rule score.

        A category the model was not trained on (added to the lexicon from config.yaml)
        can only come from the rules: when it is their best, it stands. So does the rules'
        choice when the blend barely separates it from the best: the same complaint in
        other words (下水道堵了臭死了) then keeps its category, and a repeat report finds
        the ticket it repeats.
        """
        if reading.category is not None and reading.category not in scores.categories:
            return reading.category
        rule_scores = reading.category_scores
        log = math.log
        blend = {
            code: log(p if p >= 1e-9 else 1e-9) + CATEGORY_RULE_WEIGHT * rule_scores.get(code, 0.0)
            for code, p in scores.categories.items()
        }
        best = max(blend, key=lambda c: blend[c])
        ruled = reading.category
        if ruled is not None and ruled != best and blend[best] - blend[ruled] < CATEGORY_MARGIN:
            return ruled
        return best

    def _urgency(self, reading: _Reading, category: str | None) -> tuple[float, bool]:
        """The rules' urgency score, and whether they dismissed an urgent cue as past,
        hypothetical or a chronic nuisance (去年着过火, 万一起火, 烧秸秆的浓烟)."""
        body = reading.text.body
        total = 0.0
        dismissed = False
        cues = [
            (h.start, h.end, h.cue.weight, h.phrase) for h in reading.hits if h.cue.kind == "urgent"
        ]
        cues += [(start, end, weight, "") for start, end, weight in reading.urgent_matches]
        for start, end, weight, phrase in cues:
            if category in _CHRONIC_SMOKE and "烟" in phrase:
                dismissed = True  # straw burning, a chimney, a smouldering dump: no fire
                continue
            clause_start = 0
            for m in _CLAUSE_BREAK.finditer(body, 0, start):
                clause_start = m.end()
            # 要不要叫救护车 asks for help; it is not the 不要 of a warning.
            before = body[clause_start:start].replace("要不要", "")
            if any(marker in before for marker in self._hypothetical) or _AFTERWARDS.match(
                body, end
            ):
                dismissed = True  # 去年着过火, 容易引起山火, 失火以后: not a danger now
                continue
            total += weight
        if _PAST_DANGER.search(body):
            dismissed = True
        return total, dismissed


def _secondary_categories(
    reading: _Reading, scores: ModelScores, primary: str | None
) -> tuple[str, ...]:
    """Other categories a long message also asks about: both the rules and the model see them."""
    found = [
        code
        for code, rule_score in reading.category_scores.items()
        if code not in (primary, "other")
        and rule_score >= MIN_CATEGORY
        and scores.categories.get(code, 0.0) >= SECONDARY_PROBABILITY
    ]
    found.sort(key=lambda code: -scores.categories.get(code, 0.0))
    return tuple(found[:MAX_SECONDARY])


# 标题：... 内容：... as the 邻里家家亲 platform and the mayor's mailbox export posts.
_TITLE_FIELD: Final = re.compile(
    r"^\s*(?:标题|主题|题目)\s*[:：]\s*([^\n]+?)\s*(?:\n|(?:内容|正文)\s*[:：]|$)"
)
# Polite openings of a letter, and who is writing: not what the letter is about.
_OPENING: Final = re.compile(
    r"^(?:\s|[,，。.!！:：、])*(?:"
    r"(?:尊敬的|敬爱的|亲爱的)?[^\n,，。!！:：]{0,24}?(?:领导|书记|市长|镇长|局长|主任|同志|网格长|网格员|"
    r"政府|们|各位)(?:您|你)?(?:们)?好?\s*[:：,，!！]"
    r"|(?:您|你)(?:们)?好[!！,，。:：]?"
    r"|(?:内容|正文)\s*[:：]"
    r"|我是[^,，。!！\n]{0,30}[,，。!！]"
    r")"
)
_SPACED_TITLE: Final = re.compile(r"^\s*([^\s,，。!！?？:：]{4,30})\s+")
_SENTENCE_END: Final = re.compile(r"[。！？!?\n；;]")


def title_of(text: str) -> str | None:
    """The heading of a ticket: the post's title, or else a one-line summary.

    ``标题：...`` (or 主题, 题目) gives the title; so does a short first line followed by
    a longer body, unless it is a salutation (尊敬的领导：). Otherwise the first sentence
    after the polite openings (尊敬的领导：您好！我是黄霞村村民。) stands as the summary.
    Cut to :data:`TITLE_CHARS` characters; None for an empty text.
    """
    try:
        head = text[:MAX_SCAN_CHARS]
        match = _TITLE_FIELD.match(head)
        if match:
            return _clip(match.group(1))
        spaced = _SPACED_TITLE.match(head)
        if spaced and _OPENING.match(head[spaced.end() :]):
            return _clip(spaced.group(1))  # 国欢中学的食堂问题 各位领导好，...
        first, newline, rest = head.strip().partition("\n")
        first = first.strip()
        if (
            newline
            and 0 < len(first) <= TITLE_CHARS
            and len(rest.strip()) > len(first)
            and not _OPENING.fullmatch(first)
            and first[-1] not in ":：,，"
        ):
            return _clip(first)
        body = head
        for _ in range(6):  # 尊敬的领导：您好！我是...。 one opening after another
            opening = _OPENING.match(body)
            if not opening or opening.end() == 0:
                break
            body = body[opening.end() :]
        sentence = _SENTENCE_END.split(body.strip(), maxsplit=1)[0]
        return _clip(sentence) or _clip(head)
    except Exception:  # a heading is a nicety: never let it cost the ticket
        return None


def _clip(text: str) -> str | None:
    text = " ".join(text.split()).strip(" ,，。:：;；、")
    if not text:
        return None
    return text if len(text) <= TITLE_CHARS else text[: TITLE_CHARS - 1] + "…"


def _normalised_body(text: str) -> str:
    """The text the parser and its model read: normalised, @mentions blanked."""
    return _normalise(text).body


def _failed(text: object) -> ParsedMessage:
    length = len(text) if isinstance(text, str) else 0
    logger.exception("intake failed on a message of %d characters", length)
    return ParsedMessage(False, None, None, None, reason="internal_error")


_loaded_model: IntakeModel | None = None
_loading_failed = False
_model_lock = threading.Lock()


def _default_model() -> IntakeModel | None:
    """The model of :data:`~tickets.intake.model.MODEL_FILE`, loaded once per process.

    None if it cannot be loaded (the file missing from a broken install, or unreadable):
    the failure is logged once and the rules decide alone, rather than no message at all.
    """
    global _loaded_model, _loading_failed
    if _loaded_model is None and not _loading_failed:
        with _model_lock:
            if _loaded_model is None and not _loading_failed:
                try:
                    _loaded_model = IntakeModel.load(MODEL_FILE)
                except Exception:
                    logger.exception(
                        "intake model not loaded (rebuild it: gridcast parse --build-model): "
                        "the rules decide alone"
                    )
                    _loading_failed = True
    return _loaded_model


_default_parser: Parser | None = None
_default_lock = threading.Lock()


def default_parser() -> Parser:
    """The parser for :data:`~tickets.intake.lexicon.DEFAULT_LEXICON` and the default model,
    built on first use."""
    global _default_parser
    if _default_parser is None:
        with _default_lock:
            if _default_parser is None:
                _default_parser = Parser()
    return _default_parser


def parser_for(extra_keywords: tuple[tuple[str, tuple[str, ...]], ...]) -> Parser:
    """The default parser, or one whose lexicon also knows ``config.yaml``'s category
    keywords ((category code, phrases) pairs); built once per distinct set."""
    if not extra_keywords:
        return default_parser()
    return _parser_with(extra_keywords)


@functools.cache
def _parser_with(extra_keywords: tuple[tuple[str, tuple[str, ...]], ...]) -> Parser:
    lexicon = DEFAULT_LEXICON
    for category, phrases in extra_keywords:
        lexicon = lexicon.with_keywords(category, phrases)
    return Parser(lexicon)


def parse_message(text: str) -> ParsedMessage:
    """Parse one group message with the default lexicon and model. Never raises."""
    return default_parser().parse(text)
