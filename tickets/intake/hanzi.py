"""Character normalisation for intake: traditional to simplified (繁简转换) and friends.

Residents from Taiwan, Hong Kong or with a phone set to traditional characters write
樓下垃圾沒人收 for 楼下垃圾没人收. The conversion is OpenCC's (the ``opencc`` package and
its ``t2s`` dictionaries), applied one character at a time: that keeps string offsets
unchanged (the location is cut from the original text) and needs one look-up per distinct
character, cached. OpenCC's phrase tables (乾隆 vs 干净) are not used: both forms of such
characters are valid simplified text, and a complaint reads the same either way.
"""

from __future__ import annotations

import functools
import threading
import unicodedata
from typing import Any, Final

__all__ = ["fold", "fold_text", "to_simplified"]

_converter: Any = None
_converter_lock: Final = threading.Lock()


def _opencc() -> Any:
    global _converter
    if _converter is None:
        with _converter_lock:
            if _converter is None:
                import opencc

                _converter = opencc.OpenCC("t2s")
    return _converter


@functools.lru_cache(maxsize=1 << 16)
def to_simplified(ch: str) -> str:
    """One character in simplified form, by OpenCC's ``t2s`` character table (itself if
    it has none, or if OpenCC would turn it into more or fewer characters)."""
    if ch.isascii() or not ("\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff"):
        return ch
    converted = str(_opencc().convert(ch))
    return converted if len(converted) == 1 else ch


@functools.lru_cache(maxsize=1 << 16)
def fold(ch: str) -> str:
    """One character's normal form: NFKC (full-width to half-width), simplified,
    lower-case ASCII; control characters become a space, invisible ones ('' ) vanish."""
    category = unicodedata.category(ch)
    if category == "Cc" or category in ("Zl", "Zp"):
        return " "
    if category in ("Cf", "Cs", "Co", "Cn"):
        return ""  # zero-width joiners, BOMs, lone surrogates, private use, unassigned
    folded = unicodedata.normalize("NFKC", ch)
    if folded.isascii():
        folded = folded.lower()
    return "".join(to_simplified(c) for c in folded)


def fold_text(text: str) -> str:
    """:func:`fold` applied to every character (for lexicon phrases and place names)."""
    return "".join(fold(ch) for ch in text)
