"""What the simulated WeChat refuses, as domain exceptions.

The gRPC layer (:mod:`sandbox.puppet_service`) and the control plane
(:mod:`sandbox.control`) translate them into status codes; the messages are the
Chinese texts a WeChat user would see.
"""

from __future__ import annotations


class SandboxError(Exception):
    """Base of everything the sandbox refuses; ``message`` is shown to people as is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(SandboxError):
    """An unknown or dissolved room, an unknown contact or message."""


class NotAMember(SandboxError):
    """The account or sender is not (or no longer) in the room: permanent for that room."""


class NotAFriend(SandboxError):
    """A private send to a contact who is not the account's friend: permanent for that
    contact until they become friends."""


class LoggedOut(SandboxError):
    """The account is logged out; nothing works until it logs in again."""


class Throttled(SandboxError):
    """Risk control refused a send (发送消息过于频繁); the account is cooling down."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class TransientFailure(SandboxError):
    """A random, retryable failure of the network or the WeChat servers."""


class InvalidRequest(SandboxError):
    """A malformed request: empty text, unknown kind, room full, ambiguous name."""
