"""Which configured department a name means (区司法局, 司法局, 派出所 …)."""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Sequence

from core.config import Department

__all__ = [
    "department_code",
    "department_key",
    "department_name",
    "department_names",
    "match_department",
    "suggest_department",
]


def department_key(name: str) -> str:
    return re.sub(r"\s", "", unicodedata.normalize("NFKC", name)).casefold()


def department_name(code: str | None, departments: Sequence[Department]) -> str | None:
    """The configured name (区司法局) of the department with ``code`` (justice), or None."""
    return next((d.name for d in departments if code is not None and d.code == code), None)


def department_names(department: Department) -> tuple[str, ...]:
    return (department.name, *department.aliases)


def match_department(name: str, departments: Sequence[Department]) -> Department | None:
    """The department called exactly ``name`` or one of its aliases (full-width and
    case folded)."""
    wanted = department_key(name)
    for department in departments:
        if any(department_key(candidate) == wanted for candidate in department_names(department)):
            return department
    return None


def suggest_department(name: str, departments: Sequence[Department]) -> Department | None:
    """The department ``name`` most likely meant, if any is close enough."""
    wanted = department_key(name)
    if not wanted:
        return None
    best: tuple[float, Department] | None = None
    for department in departments:
        for candidate in map(department_key, department_names(department)):
            score = difflib.SequenceMatcher(None, wanted, candidate).ratio()
            if wanted in candidate or candidate in wanted:
                score = max(score, 0.8)
            if best is None or score > best[0]:
                best = (score, department)
    return best[1] if best is not None and best[0] >= 0.5 else None


def department_code(name: str | None, departments: Sequence[Department]) -> str | None:
    """The code of the configured department a roster or a person names (its code, name
    or an alias), or None."""
    if not name:
        return None
    found = match_department(name, departments)
    if found is not None:
        return found.code
    return next((d.code for d in departments if d.code == name), None)
