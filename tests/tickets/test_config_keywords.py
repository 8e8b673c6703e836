"""Categories and keywords added in config.yaml reach the intake parser."""

from __future__ import annotations

from core.config import parse_settings
from tickets.configured import configured_parser


def test_a_configured_category_with_keywords_is_recognised() -> None:
    base = [c.model_dump() for c in parse_settings({}).tickets.categories]
    settings = parse_settings(
        {
            "tickets": {
                "categories": [
                    *base,
                    {
                        "code": "charging",
                        "name": "充电设施",
                        "department": "housing",
                        "keywords": ["充电桩", "充电站"],
                    },
                ]
            }
        }
    )
    parser = configured_parser(settings)
    assert parser is not configured_parser(parse_settings({}))
    assert parser.parse("村口那台充电桩又坏了，扫码没反应").category == "charging"
    assert parser.parse("小区充电站的插座烧了").is_ticket
    assert configured_parser(settings) is parser  # built once per keyword set
