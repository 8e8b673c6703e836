"""A tiny built-in world: one grid of 黄霞村 with two of its units and two bot accounts.

For tests and for trying the sandbox without the org tree; the real deployment builds
its :class:`WorldSpec` from the town tree.
"""

from __future__ import annotations

from sandbox.world import AccountSpec, MemberSpec, RoomSpec, WorldSpec

GRID_TOPIC = "国欢镇黄霞村第16网格"
BUILDING_TOPIC = "黄霞村16网格-国湄领涵3号楼"
SHOP_TOPIC = "黄霞村16网格-沿街商铺12号"

_SURNAMES = "陈林黄郑吴王李张刘蔡许方翁杨"
_GIVEN = ("秀英", "桂兰", "志强", "建华", "美玲", "国平", "丽娟", "文斌", "海燕", "金水")


def _residents(prefix: str, count: int, offset: int) -> list[MemberSpec]:
    people = []
    for index in range(count):
        n = offset + index
        name = _SURNAMES[n % len(_SURNAMES)] + _GIVEN[(n // len(_SURNAMES)) % len(_GIVEN)]
        people.append(MemberSpec(f"{prefix}{index + 1:03d}", name))
    return people


def demo_world(*, residents_per_room: int = 5, accounts: int = 2) -> WorldSpec:
    """Three rooms (grid, residential unit, shop unit), ``accounts`` bot accounts.

    The grid and building rooms hold every account; the shop room only the first.
    Contact ids: ``grid-leader``, ``unit-leader``, ``shop-owner``, ``shop-supervisor``,
    residents ``b3-001``..., shop customers ``s12-001``..., and ``villager`` (private only).
    """
    if accounts < 1:
        raise ValueError("accounts must be >= 1")
    account_specs = [
        AccountSpec(account_id=f"bot-{index + 1}", name=f"网格助手{index + 1}号")
        for index in range(accounts)
    ]
    all_bots = [spec.account_id for spec in account_specs]
    grid_leader = MemberSpec("grid-leader", "林志明", room_alias="16网格长-林志明")
    unit_leader = MemberSpec("unit-leader", "黄丽华", room_alias="3号楼单元长-黄丽华")
    shop_owner = MemberSpec("shop-owner", "郑国强", room_alias="12号店主-郑国强")
    shop_supervisor = MemberSpec("shop-supervisor", "陈美玲", room_alias="第二单元长-陈美玲")
    building = _residents("b3-", residents_per_room, 0)
    shop = _residents("s12-", residents_per_room, residents_per_room)
    rooms = [
        RoomSpec(
            topic=GRID_TOPIC,
            members=[grid_leader, unit_leader, shop_owner, shop_supervisor, *building[:2]],
            bot_account_ids=all_bots,
            room_id="grid-16@chatroom",
            org_unit="黄霞村/第16网格",
        ),
        RoomSpec(
            topic=BUILDING_TOPIC,
            members=[unit_leader, grid_leader, *building],
            bot_account_ids=all_bots,
            room_id="unit-16-3@chatroom",
            org_unit="黄霞村/第16网格/国湄领涵3号楼",
        ),
        RoomSpec(
            topic=SHOP_TOPIC,
            members=[shop_owner, shop_supervisor, grid_leader, *shop],
            bot_account_ids=all_bots[:1],
            room_id="unit-16-s12@chatroom",
            org_unit="黄霞村/第16网格/沿街商铺12号",
        ),
    ]
    return WorldSpec(
        accounts=account_specs,
        rooms=rooms,
        contacts=[MemberSpec("villager", "吴金水")],
    )
