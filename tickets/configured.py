"""What ``config.yaml`` says about tickets, in the shapes the ticket code takes: the SLA
policy, the lifecycle's bounds, category names and the configured intake parser."""

from __future__ import annotations

from core.config import Settings, TicketSettings
from tickets.intake import Parser, parser_for
from tickets.lifecycle import Rules
from tickets.sla import SlaPolicy, SlaWindow

__all__ = [
    "category_department_name",
    "category_name",
    "configured_parser",
    "lifecycle_rules",
    "sla_policy",
]


def sla_policy(settings: TicketSettings) -> SlaPolicy:
    """The SLA policy of ``tickets.sla`` and ``tickets.rating_timeout``."""
    sla = settings.sla
    return SlaPolicy(
        urgent=SlaWindow(sla.urgent.accept, sla.urgent.resolve),
        normal=SlaWindow(sla.normal.accept, sla.normal.resolve),
        remind_fraction=sla.remind_before,
        rating_window=settings.rating_timeout,
    )


def lifecycle_rules(settings: TicketSettings) -> Rules:
    """The lifecycle's bounds of ``tickets.max_extensions`` / ``max_extension_days``."""
    return Rules(
        max_extensions=settings.max_extensions, max_extension_days=settings.max_extension_days
    )


def category_name(settings: Settings, code: str) -> str:
    """The Chinese name of a category code (the code itself when unknown)."""
    for category in settings.tickets.categories:
        if category.code == code:
            return category.name
    return code


def category_department_name(settings: Settings, code: str) -> str:
    """The department a category's tickets usually call (the 吹哨 example in a brief)."""
    department = next((c.department for c in settings.tickets.categories if c.code == code), None)
    for configured in settings.departments:
        if configured.code == department:
            return configured.name
    return settings.departments[0].name if settings.departments else "区司法局"


def configured_parser(settings: Settings) -> Parser:
    """The intake parser with the category keywords of config.yaml."""
    return parser_for(
        tuple((c.code, tuple(c.keywords)) for c in settings.tickets.categories if c.keywords)
    )
