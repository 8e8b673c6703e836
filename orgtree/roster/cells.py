"""Cell values: phone numbers, WeChat ids, household counts, grid names and headers as
towns type them, normalised; and the Chinese message for a cell that is not one."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, time
from typing import Final

__all__ = [
    "MAX_HOUSEHOLDS",
    "bad_households",
    "bad_phone",
    "bad_wechat",
    "cell_text",
    "header_key",
    "household_count",
    "normalize_grid_name",
    "normalize_phone",
    "valid_wechat_id",
]

MAX_HOUSEHOLDS: Final = 999

_MOBILE: Final = re.compile(r"1[3-9]\d{9}")
_WECHAT_ID: Final = re.compile(r"[A-Za-z][A-Za-z0-9_-]{5,31}")
_SCIENTIFIC: Final = re.compile(r"\d(\.\d+)?e\+?\d+", re.IGNORECASE)


def header_key(text: str) -> str:
    """Normalise a header (or unit kind) cell: full-width forms, case, 必填 marks, blanks.

    "单元长 电话(必填)" -> "单元长电话"; "Unit Leader Phone*" -> "unit_leader_phone".
    """
    key = unicodedata.normalize("NFKC", text).lower()
    key = re.sub(r"\((必填|选填|可选|required|optional)\)|[*:]", "", key).strip()
    if re.search(r"[^\x00-\x7f]", key):
        return re.sub(r"\s+", "", key)
    return re.sub(r"[\s\-]+", "_", key)


def normalize_phone(text: str) -> str | None:
    """The 11-digit mobile number in ``text`` (spaces, dashes, +86 allowed), else None."""
    digits = re.sub(r"[\s\-()]", "", unicodedata.normalize("NFKC", text))
    digits = re.sub(r"^(\+?86)(?=1\d{10}$)", "", digits)
    digits = re.sub(r"\.0$", "", digits)  # a number that went through a float
    return digits if _MOBILE.fullmatch(digits) else None


def valid_wechat_id(text: str) -> bool:
    """A WeChat id: a letter, then 5-31 letters, digits, '_' or '-' (wxid_… included)."""
    return _WECHAT_ID.fullmatch(text) is not None


def household_count(text: str) -> int | None:
    """ "24", "24户", "24.0" -> 24; None unless a whole number of households 1–999."""
    compact = re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).removesuffix("户")
    compact = re.sub(r"\.0+$", "", compact)
    if not compact.isdecimal():
        return None
    number = int(compact)
    return number if 1 <= number <= MAX_HOUSEHOLDS else None


_CN_DIGITS: Final = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4,
                     "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}  # fmt: skip
_GRID_NUMBER: Final = re.compile(r"第?([0-9]+|[零〇一二两三四五六七八九十百]+)号?(网格)?")


def _chinese_number(text: str) -> int | None:
    """十六 -> 16, 一百零二 -> 102; None when ``text`` is not a Chinese number below 1000."""
    total, current = 0, 0
    for char in text:
        if char in _CN_DIGITS:
            current = _CN_DIGITS[char]
        elif char == "十":
            total += (current or 1) * 10
            current = 0
        elif char == "百":
            total += (current or 1) * 100
            current = 0
        else:
            return None
    return total + current


def normalize_grid_name(text: str) -> str:
    """ "16", "16网格", "第016网格" and "第十六网格" all become "第16网格"; other names stay."""
    name = text.strip()
    compact = unicodedata.normalize("NFKC", name)
    match = _GRID_NUMBER.fullmatch(compact)
    if match is None or not (match.group(2) or compact[0] == "第" or match.group(1).isdigit()):
        return name
    number_text = match.group(1)
    number = int(number_text) if number_text.isdigit() else _chinese_number(number_text)
    return f"第{number}网格" if number else name


def cell_text(value: object) -> str:
    """An .xlsx cell's value as the text a CSV would hold."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value).strip()


def bad_phone(text: str) -> str:
    """Why ``text`` is not a mobile number, with the likely cause."""
    compact = re.sub(r"[\s\-]", "", text)
    if _SCIENTIFIC.fullmatch(compact):
        return (
            f"「{text}」被 Excel 显示成了科学计数法，号码已丢失：请把该列设为「文本」格式并重新填写"
        )
    if compact.startswith("0"):
        return f"「{text}」是座机号码：请填写11位手机号"
    return f"「{text}」不是有效的手机号（应为11位，以13–19开头）"


def bad_wechat(text: str) -> str:
    """Why ``text`` is not a WeChat id."""
    if normalize_phone(text) is not None:
        return f"「{text}」是手机号，不是微信号：微信号以字母开头；不知道微信号可以留空"
    return f"「{text}」不是有效的微信号（以字母开头，6–32位字母、数字、下划线或减号）"


def bad_households(text: str) -> str:
    """Why ``text`` is not a household count."""
    if normalize_phone(text) is not None:
        return f"「{text}」是手机号，不是户数：请检查是否填错了列"
    return f"「{text}」不是有效的户数（应为1–{MAX_HOUSEHOLDS}的整数，如 24）"
