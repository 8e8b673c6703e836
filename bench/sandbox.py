"""Throughput probe of the whole send path: WechatyTransport -> wechaty -> gRPC -> sandbox.

Everything (sandbox servers, wechaty clients) runs in this process and event loop, so
the figure is what one core sustains for both ends together. Run it with
``python -m bench.sandbox --sends 2000 --accounts 4``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

from bot.transport import IncomingMessage
from bot.wechaty_transport import WechatyTransport
from core.messaging import TransportError
from models.enums import AccountStatus
from sandbox.risk import SandboxRiskSettings
from sandbox.sandbox import Sandbox
from sandbox.world import AccountSpec, MemberSpec, RoomSpec, WorldSpec


def bench_world(accounts: int, rooms: int) -> WorldSpec:
    """``rooms`` rooms of a few residents each, spread round-robin over the accounts."""
    account_specs = [
        AccountSpec(f"bench-bot-{index}", f"压测助手{index}") for index in range(accounts)
    ]
    room_specs = [
        RoomSpec(
            topic=f"压测村第{index // 10 + 1}网格-{index % 10 + 1}号楼",
            members=[
                MemberSpec(f"bench-resident-{index}-{n}", f"居民{index}-{n}") for n in range(3)
            ],
            bot_account_ids=[account_specs[index % accounts].account_id],
            room_id=f"bench-{index}@chatroom",
        )
        for index in range(rooms)
    ]
    return WorldSpec(accounts=account_specs, rooms=room_specs)


async def measure_send_throughput(
    n: int, accounts: int, *, rooms: int = 200, in_flight_per_account: int = 1
) -> dict[str, Any]:
    """Send ``n`` texts over ``accounts`` bot accounts with rate limits off; sends per second.

    Each account sends its share to its rooms with ``in_flight_per_account`` sends
    outstanding (1 = one after another, as a rate-limited broadcaster would); the
    accounts run concurrently. Connecting is not timed.
    """
    if n < 1 or accounts < 1 or in_flight_per_account < 1:
        raise ValueError("n, accounts and in_flight_per_account must be >= 1")
    rooms = max(rooms, accounts)
    spec = bench_world(accounts, rooms)
    risk = SandboxRiskSettings(rate_per_s=0)
    async with Sandbox(spec, risk=risk, heartbeat_interval_s=0) as sandbox:
        transports = [
            WechatyTransport(
                account_id,
                endpoint=sandbox.endpoint(account_id),
                token=sandbox.token(account_id),
                heartbeat_timeout_s=None,
            )
            for account_id in sandbox.account_ids
        ]

        async def ignore_message(message: IncomingMessage) -> None:
            return None

        async def ignore_state(account_id: str, state: AccountStatus, detail: str) -> None:
            return None

        try:
            await asyncio.gather(
                *(transport.start(ignore_message, ignore_state) for transport in transports)
            )
            offline = [t.account_id for t in transports if t.state is not AccountStatus.ONLINE]
            if offline:
                raise RuntimeError(f"accounts not online: {offline}")
            room_ids = {
                account_id: sandbox.world.room_ids_of(account_id)
                for account_id in sandbox.account_ids
            }
            errors: list[str] = []
            shares = [
                n // accounts + (1 if index < n % accounts else 0) for index in range(accounts)
            ]

            async def lane(transport: WechatyTransport, count: int, lane_index: int) -> None:
                targets = room_ids[transport.account_id]
                for number in range(lane_index, count, in_flight_per_account):
                    try:
                        await transport.say(targets[number % len(targets)], f"压测通知 {number}")
                    except TransportError as error:
                        errors.append(error.reason)

            started, cpu_started = time.perf_counter(), time.process_time()
            await asyncio.gather(
                *(
                    lane(transport, share, lane_index)
                    for transport, share in zip(transports, shares, strict=True)
                    for lane_index in range(in_flight_per_account)
                )
            )
            seconds = time.perf_counter() - started
            cpu_seconds = time.process_time() - cpu_started
        finally:
            for transport in transports:
                await transport.stop()
        recorded = sum(view.sent for view in sandbox.accounts())
    return {
        "sends": n,
        "accounts": accounts,
        "in_flight_per_account": in_flight_per_account,
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu_seconds, 3),
        "sends_per_s": round(n / seconds, 1),
        # What one core sustains even when the machine is shared: sends per CPU second.
        "sends_per_cpu_s": round(n / cpu_seconds, 1) if cpu_seconds > 0 else None,
        "recorded_by_sandbox": recorded,
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sends", type=int, default=2000)
    parser.add_argument("--accounts", type=int, default=4)
    parser.add_argument("--in-flight", type=int, default=1)
    args = parser.parse_args()
    result = asyncio.run(
        measure_send_throughput(args.sends, args.accounts, in_flight_per_account=args.in_flight)
    )
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
