"""The cadences read a ticket's text for groups and people who do not handle it (the
周商 agenda, the 会商 page, 回访): a phone typed into it is masked there."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import Session

from core.config import Settings
from rhythm.cases import load_cases
from tests.tickets.flows import new_code
from tests.tickets.helpers import Town


def test_case_facts_mask_a_phone_typed_into_the_text(
    engine: Engine, settings: Settings, town: Town
) -> None:
    code = new_code(
        engine, settings, town, text="楼道的灯坏了一个星期，晚上很黑，我电话13912345678"
    )
    with Session(engine) as session:
        (case,) = [c for c in load_cases(session, settings) if c.code == code]
    assert "13912345678" not in case.text and "139****5678" in case.text
