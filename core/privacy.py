"""Masking of personal data wherever a group or a report shows it."""

from __future__ import annotations

import re

_MOBILE = re.compile(r"(?<!\d)(1[3-9]\d)[\s-]?(\d{4})[\s-]?(\d{4})(?!\d)")


def mask_phone(phone: str | None) -> str:
    """``13800001234`` -> ``138****1234``; anything else keeps only its last 4 digits."""
    if not phone:
        return ""
    digits = re.sub(r"\D", "", phone)
    if len(digits) == 11:
        return f"{digits[:3]}****{digits[7:]}"
    if len(digits) > 4:
        return "*" * (len(digits) - 4) + digits[-4:]
    return "*" * len(digits)


def mask_phones_in_text(text: str) -> str:
    """Mask every mobile number that appears inside free text."""
    return _MOBILE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)
