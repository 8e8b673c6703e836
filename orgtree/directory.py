"""Who is who in the org tree: the people holding each post, and how to reach them.

The one place that answers "who holds which post for this unit" for tickets, notice
receipts, the bot and the org CLI.
"""

from __future__ import annotations

from models.org import Person

__all__ = ["contact_id_of"]


def contact_id_of(person: Person) -> str:
    """The WeChat contact id gridcast expects for a roster person."""
    return person.wechat_id or f"tel-{person.phone}"
