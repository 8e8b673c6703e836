"""Shop units (沿街商铺) and their two unit leaders: who acknowledges (broadcast/receipts.py)."""

from __future__ import annotations

import pytest

from broadcast.receipts import acknowledges_group, is_urged_confirmation
from models.broadcast import AckVia
from models.enums import Level, Role, UnitKind


def test_a_shop_counts_only_by_its_owner_or_the_second_leaders_urging() -> None:
    shop = (Level.UNIT, UnitKind.SHOP)
    assert acknowledges_group(*shop, Role.UNIT_LEADER) is AckVia.OWNER
    assert acknowledges_group(*shop, Role.SECOND_UNIT_LEADER) is None
    assert acknowledges_group(*shop, Role.SECOND_UNIT_LEADER, urged=True) is (
        AckVia.SECOND_LEADER_URGED
    )
    assert acknowledges_group(*shop, None, urged=True) is None


def test_other_groups_count_by_their_leaders_as_before() -> None:
    assert acknowledges_group(Level.UNIT, UnitKind.RESIDENTIAL, Role.UNIT_LEADER) is AckVia.LEADER
    assert acknowledges_group(Level.UNIT, UnitKind.FACILITY, Role.SECOND_UNIT_LEADER) is (
        AckVia.LEADER
    )
    assert acknowledges_group(Level.GRID, None, Role.GRID_LEADER) is AckVia.LEADER
    assert acknowledges_group(Level.GRID, None, Role.UNIT_LEADER) is None
    assert acknowledges_group(Level.TOWN, None, Role.TOWN_OFFICIAL) is AckVia.LEADER


@pytest.mark.parametrize("text", ["已督促", "已督促店主", "已经督促过了", "督促了", "已提醒店主！"])
def test_urged_confirmations(text: str) -> None:
    assert is_urged_confirmation(text)


@pytest.mark.parametrize(
    "text", ["收到", "督促一下店主", "店主还没回，我再督促", "", "已督促" * 10]
)
def test_not_urged_confirmations(text: str) -> None:
    assert not is_urged_confirmation(text)
