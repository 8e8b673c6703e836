"""Personal data: who sees a phone number in full, and masking everywhere else.

One policy, for the chat, the console, the API and the command line:

- **A leader's work phone** (the phone of someone holding a post: 单元长, 第二单元长, 网格长,
  网格站站长, …) is public to the people of the area the post covers, as the article's
  public boards show it: a resident of 国湄领涵1号楼 sees its unit leader's, its grid
  leader's and its station chief's phones in full. Staff whose posts cover the same
  area see it too (the town covers everything). Anyone else sees it masked.
- **A resident's own phone** (a reporter, a caller, anyone without a post) is masked
  everywhere, except to the people handling that resident's ticket, who must call back.
- **Phones typed into free text** (a complaint's text, a note) are a resident's own:
  :func:`show_phones_in_text` leaves them in full only for who handles the ticket.
- **Unknown viewers** (a report, a log line, an export of the directory with no
  identity behind it) see every phone masked.

The functions take who is looking (:class:`Viewer`) and whose phone it is
(:class:`PhoneOwner`); nothing here reads the database. A signed-in person or a token
becomes a viewer through :func:`viewer_of`, the same on every web page and endpoint.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from core.policy import Principal
from models.enums import Role

__all__ = [
    "ANONYMOUS",
    "PhoneOwner",
    "Viewer",
    "mask_phone",
    "mask_phones_in_text",
    "may_see_phone",
    "show_phone",
    "show_phones_in_text",
    "viewer_of",
]

_MOBILE = re.compile(r"(?<!\d)(1[3-9]\d)[\s-]?(\d{4})[\s-]?(\d{4})(?!\d)")

OrgPath = tuple[str, ...]
"""An org path below the town (``("黄霞村", "第16网格")``); ``()`` is the whole town."""


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is looking at a phone number.

    ``areas`` are the places the viewer belongs to as a resident (the unit or grid of
    the group they write in, or of the groups they are a member of); ``scopes`` are the
    areas of the posts they hold (``()`` is the town); ``handles_ticket`` says they are
    among the people handling the ticket whose reporter's phone is shown.
    """

    areas: tuple[OrgPath, ...] = ()
    scopes: tuple[OrgPath, ...] = ()
    handles_ticket: bool = False

    @classmethod
    def resident_of(cls, *areas: OrgPath) -> Viewer:
        """A resident of ``areas`` (everyone reading a group's message is one of its area)."""
        return cls(areas=tuple(areas))

    @classmethod
    def staff(cls, scopes: Iterable[OrgPath], *, handles_ticket: bool = False) -> Viewer:
        return cls(scopes=tuple(scopes), handles_ticket=handles_ticket)

    @classmethod
    def handler(cls) -> Viewer:
        """Someone handling the ticket (its holder, the whistled department)."""
        return cls(handles_ticket=True)


ANONYMOUS = Viewer()
"""Nobody in particular: every phone masked."""


def viewer_of(principal: Principal | None, *, handles_ticket: bool = False) -> Viewer:
    """A signed-in person or a token as a viewer: staff over the scopes of their posts
    (a liaison's town-wide post opens no phones; an admin's, over the town, opens all);
    nobody in particular without a principal."""
    if principal is None:
        return Viewer.handler() if handles_ticket else ANONYMOUS
    return Viewer.staff(
        (post.scope for post in principal.posts if post.role != Role.DEPARTMENT_LIAISON),
        handles_ticket=handles_ticket,
    )


@dataclass(frozen=True, slots=True)
class PhoneOwner:
    """Whose phone: a post's holder (``post_area`` is the area the post covers) or, with
    ``post_area=None``, a resident's own phone."""

    phone: str | None
    post_area: OrgPath | None = None

    @classmethod
    def leader(cls, phone: str | None, post_area: OrgPath) -> PhoneOwner:
        return cls(phone, post_area)

    @classmethod
    def resident(cls, phone: str | None) -> PhoneOwner:
        return cls(phone, None)


def _inside(path: OrgPath, area: OrgPath) -> bool:
    return path[: len(area)] == area


def may_see_phone(viewer: Viewer, owner: PhoneOwner) -> bool:
    """The policy: may ``viewer`` see ``owner``'s phone in full?"""
    if owner.post_area is None:
        return viewer.handles_ticket
    area = owner.post_area
    if viewer.handles_ticket:
        return True  # a leader's work phone to whoever works the same ticket
    if any(_inside(home, area) for home in viewer.areas):
        return True  # a resident of the area the post covers
    # Staff over the post (the town, the village above a grid) or inside its area.
    return any(_inside(area, scope) or _inside(scope, area) for scope in viewer.scopes)


def show_phone(viewer: Viewer, owner: PhoneOwner) -> str:
    """The phone as ``viewer`` may see it: in full, or masked (:func:`mask_phone`)."""
    if not owner.phone:
        return ""
    return owner.phone if may_see_phone(viewer, owner) else mask_phone(owner.phone)


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
    """Mask every mobile number that appears inside free text (residents write theirs)."""
    return _MOBILE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)


def show_phones_in_text(viewer: Viewer, text: str) -> str:
    """Free text (a ticket's text or title, a note) as ``viewer`` may see it: a phone
    number typed into it is taken for the resident's own (:meth:`PhoneOwner.resident`),
    so it stays in full only for who handles the ticket and is masked for everyone else
    (:func:`mask_phones_in_text`), as :func:`show_phone` shows the reporter's phone."""
    if may_see_phone(viewer, PhoneOwner.resident(None)):
        return text
    return mask_phones_in_text(text)
