"""What is wrong with a roster file: one :class:`RosterProblem` per thing, all of them in
one :class:`RosterInvalid`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["RosterInvalid", "RosterProblem", "file_problem"]


@dataclass(frozen=True, slots=True)
class RosterProblem:
    """One thing wrong with a roster file.

    ``row`` is the spreadsheet row number (``None`` for the whole file), ``column`` the
    header as the file spells it, ``message`` the Chinese explanation, ``sheet`` the
    people sheet (its worksheet or file name) when the problem is there. ``str()`` gives
    the full line, e.g. ``第12行 单元长电话: 「1380000」不是有效的手机号`` or
    ``人员 第5行 部门: 「区教育局」不是已配置的部门……``.
    """

    row: int | None
    column: str | None
    message: str
    sheet: str | None = None

    def __str__(self) -> str:
        where = " ".join(
            part
            for part in (
                self.sheet,
                f"第{self.row}行" if self.row is not None else "",
                self.column,
            )
            if part
        )
        return f"{where}: {self.message}" if where else self.message


class RosterInvalid(Exception):
    """The roster file cannot be imported; ``problems`` lists every reason."""

    def __init__(self, problems: Sequence[RosterProblem]) -> None:
        self.problems: tuple[RosterProblem, ...] = tuple(problems)
        lines = "\n".join(str(problem) for problem in self.problems)
        super().__init__(f"花名册有 {len(self.problems)} 处问题，未导入：\n{lines}")


def file_problem(message: str) -> RosterInvalid:
    """The error for a problem with the whole file (no row, no column)."""
    return RosterInvalid([RosterProblem(None, None, message)])
