"""Acknowledgements (回执): a reply that says a notice was received — 收到, 已阅, 1, 好的, 👌.

One detector for the two places that need it: intake (:mod:`tickets.intake.parser`), where
an acknowledgement is never a ticket, and receipts (:mod:`broadcast.receipts`), where it
counts for the latest notice in the group. Each gives its own words (the lexicon's, or
``broadcast.ack_words`` of config.yaml). Pure: text in, yes or no out.

A message is an acknowledgement when, once WeChat codes ([强]), emoji, punctuation and
spaces are dropped (:func:`message_content`), what is left is

- nothing, and the message holds an acknowledging symbol (👌, 👍, ✅, [OK], [强]);
- or, at most :data:`MAX_CONTENT` characters: ack words and 1s only (收到, 111, 好的收到),
  or a short lead — a unit or a name, with no negation or question in it — before
  receipt words (3栋收到, 张三已阅, @李书记 收到); either optionally followed by thanks
  (收到，谢谢书记);
- or, with ``accept_trailing`` only: at most :data:`MAX_TRAILING_CONTENT` characters led
  by an ack word of two or more characters, whatever follows unless it is all digits
  (收到，马上落实; 收到了，谢谢). Receipts want this: a notice awaits its receipt, and a
  leader who adds a few words still answered it. Intake does not: a resident may put a
  complaint after the word (收到，路灯还是坏的), and an acknowledgement is never a ticket.
"""

from __future__ import annotations

import functools
import re
import string
import unicodedata
from collections.abc import Iterable
from typing import Final

__all__ = [
    "ACK_SYMBOLS",
    "EMOTICON",
    "MAX_CONTENT",
    "MAX_TRAILING_CONTENT",
    "AcknowledgementDetector",
    "acknowledgement_detector",
    "is_acknowledgement",
    "message_content",
]

EMOTICON: Final = re.compile(r"\[[^\[\]]{1,8}\]")
"""A WeChat code as the puppet service renders it: [强], [捂脸], [图片]."""
ACK_SYMBOLS: Final = frozenset(["👌", "👍", "✅", "🆗", "✔", "☑", "✔️", "[ok]", "[强]", "[好的]"])
"""Symbols that acknowledge on their own (after ASCII lower-casing: [OK] is [ok])."""
MAX_CONTENT: Final = 24
"""Longer replies are never acknowledgements, whatever words they are made of."""
MAX_TRAILING_CONTENT: Final = 8
"""With ``accept_trailing``: the longest reply led by an ack word that counts."""

# Words that say "received" (and may follow a unit or a name: 3栋收到), as opposed to
# words that only agree (好, 嗯, 知道), which after a lead would make 大家早上好 a receipt.
_RECEIPT: Final = re.compile(r"收到|已|阅|读|转发|通知|传达|落实|好的|ok")
_THANKS_TAIL: Final = r"(?:谢谢|感谢|多谢|辛苦了|辛苦)[\w]{0,4}"
_NOT_CONTENT: Final = re.compile(r"[\W_]+")
_ASCII_LOWER: Final = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def _normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).translate(_ASCII_LOWER)


def message_content(text: str) -> str:
    """Letters and digits only: what is left of a message without WeChat codes, emoji,
    punctuation and spaces."""
    return _NOT_CONTENT.sub("", EMOTICON.sub("", text))


class AcknowledgementDetector:
    """Decides whether a message acknowledges, for one set of ack words (see the module).

    Text is read after NFKC and ASCII lower-casing; callers with a stronger
    normalisation (intake folds traditional characters) give their words and text folded.
    """

    def __init__(self, words: Iterable[str], *, accept_trailing: bool = False) -> None:
        normalised = sorted({_normalise(w) for w in words} - {""}, key=len, reverse=True)
        ack_words = "|".join(re.escape(w) for w in normalised)
        receipts = "|".join(re.escape(w) for w in normalised if _RECEIPT.search(w))
        alternatives = [f"(?:{ack_words}|1+)+" if ack_words else "1+"]
        # 收到 alone, or after a unit or a name (3栋收到, 张三已阅); only receipt words take
        # a lead, so 大家早上好 and 谁知道 are not receipts.
        lead = "[^没不未吗呢么谁]{1,6}?"
        alternatives.append(f"{lead}(?:{receipts}|1+)+" if receipts else f"{lead}1+")
        self._pattern = re.compile(f"(?:{'|'.join(alternatives)})(?:{_THANKS_TAIL})?")
        self._leading = (
            tuple(c for c in (message_content(w) for w in normalised) if len(c) > 1)
            if accept_trailing
            else ()
        )

    def matches(self, text: str) -> bool:
        """Whether ``text`` is an acknowledgement."""
        text = _normalise(text)
        content = message_content(text)
        if not content:
            stripped = text.strip()
            symbols = set(EMOTICON.findall(stripped)) | set(stripped)
            return bool(symbols & ACK_SYMBOLS) or any(s in stripped for s in ACK_SYMBOLS)
        if len(content) <= MAX_CONTENT and self._pattern.fullmatch(content):
            return True
        if len(content) <= MAX_TRAILING_CONTENT:
            for word in self._leading:
                if content.startswith(word) and not content[len(word) :].isdigit():
                    return True
        return False


@functools.lru_cache(maxsize=32)
def acknowledgement_detector(
    words: tuple[str, ...], *, accept_trailing: bool = False
) -> AcknowledgementDetector:
    """The detector for ``words``, compiled once per distinct set."""
    return AcknowledgementDetector(words, accept_trailing=accept_trailing)


def is_acknowledgement(text: str, words: Iterable[str], *, accept_trailing: bool = False) -> bool:
    """Whether ``text`` acknowledges, with ``words`` as ack words (see the module)."""
    return acknowledgement_detector(tuple(words), accept_trailing=accept_trailing).matches(text)
