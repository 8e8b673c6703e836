"""Ticket requests that cannot be done. Each carries a Chinese ``message`` shown as is;
the bot replies with it, the CLI prints it (and the lifecycle's own refusals are
:class:`~tickets.lifecycle.TransitionRefused`)."""

from __future__ import annotations

__all__ = ["AmbiguousPerson", "PersonNotFound", "TicketError", "TicketNotFound", "UnitNotFound"]


class TicketError(Exception):
    """A ticket request that cannot be done; ``message`` is Chinese and shown as is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TicketNotFound(TicketError):
    def __init__(self, code: str) -> None:
        super().__init__(f"没有找到工单{code}，请核对编号（如 T20261130-0012）。")
        self.code = code


class UnitNotFound(TicketError):
    """The org unit of a one-stop intake does not exist."""


class PersonNotFound(TicketError):
    """改派 names nobody who can hold a ticket."""


class AmbiguousPerson(TicketError):
    """改派 names several staff members."""
