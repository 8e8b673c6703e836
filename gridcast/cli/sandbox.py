"""``gridcast sandbox``: talk to the simulated WeChat of a running system over its control API."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import click
from aiohttp import web

from core.config import Settings
from gridcast.cli.tools import http_json, system_url, with_settings
from sandbox.control import create_control_app


def _call(method: str, url: str, payload: dict[str, Any] | None = None) -> Any:
    return asyncio.run(http_json(method, url, payload))


url_option = click.option(
    "--url", default=None, help="URL of the running system (default from config)."
)


@click.group()
def sandbox() -> None:
    """The simulated WeChat (模拟微信) of a running `gridcast run`."""


@sandbox.command("say")
@with_settings
@url_option
@click.option(
    "--room", required=True, help="Room id or exact topic, e.g. 黄霞村第16网格-国湄领涵3号楼."
)
@click.option("--as", "sender", required=True, help="A member's name or contact id.")
@click.argument("text")
def say(settings: Settings, url: str | None, room: str, sender: str, text: str) -> None:
    """Post TEXT in a room as one of its members; prints the bot's answer when it comes."""
    base = system_url(settings, url)
    room_path = f"{base}/sandbox/api/rooms/{quote(room, safe='')}"
    posted = _call("POST", f"{room_path}/messages", {"sender": sender, "text": text})
    click.echo(f"[{posted.get('sender_name', sender)}] {text}")

    async def answers() -> list[dict[str, Any]]:
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            for _ in range(30):
                await asyncio.sleep(0.1)
                async with session.get(
                    f"{room_path}/transcript", params={"since": str(posted["seq"])}
                ) as r:
                    body = await r.json(content_type=None)
                bot_lines = [m for m in body.get("messages", []) if m.get("sender_is_bot")]
                if bot_lines:
                    return bot_lines
        return []

    for message in asyncio.run(answers()):
        click.echo(f"[{message['sender_name']}] {message['text']}")


@sandbox.command("add-friend")
@with_settings
@url_option
@click.option("--account", required=True, help="The bot account's id, e.g. bot-01.")
@click.option("--as", "person", required=True, help="The person's contact id or unique name.")
@click.option("--hello", default="", help="The verification message (验证消息).")
def add_friend(settings: Settings, url: str | None, account: str, person: str, hello: str) -> None:
    """Send a friend request to a bot account as PERSON; the bot accepts people in the roster."""
    base = f"{system_url(settings, url)}/sandbox/api/accounts/{quote(account, safe='')}"
    asked = _call("POST", f"{base}/friend-requests", {"contact": person, "hello": hello})
    click.echo(f"{asked['contact_name']} 已向 {account} 发出好友申请（{asked['friendship_id']}）")

    async def answer() -> bool:
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            for _ in range(30):
                await asyncio.sleep(0.1)
                async with session.get(f"{base}/friends") as r:
                    body = await r.json(content_type=None)
                if any(f["contact_id"] == asked["contact_id"] for f in body.get("friends", [])):
                    return True
        return False

    if asyncio.run(answer()):
        click.echo("机器人已通过好友申请")
    else:
        click.echo("机器人没有通过（不在名册中的人，申请会被忽略）")


@sandbox.command("transcript")
@with_settings
@url_option
@click.option("--room", required=True)
@click.option("--json", "as_json", is_flag=True)
def transcript(settings: Settings, url: str | None, room: str, as_json: bool) -> None:
    """A room's conversation, residents' and bots' messages alike."""
    body = _call(
        "GET", f"{system_url(settings, url)}/sandbox/api/rooms/{quote(room, safe='')}/transcript"
    )
    if as_json:
        click.echo(json.dumps(body, ensure_ascii=False, indent=2))
        return
    for message in body["messages"]:
        mentions = f" @{'@'.join(message['mention_names'])}" if message.get("mention_names") else ""
        click.echo(
            f"{message['sent_at'][11:19]} [{message['sender_name']}]{mentions} {message['text']}"
        )


@sandbox.command("rooms")
@with_settings
@url_option
@click.option("--q", "query", default="", help="Filter by topic.")
@click.option("--json", "as_json", is_flag=True)
def rooms(settings: Settings, url: str | None, query: str, as_json: bool) -> None:
    """Each room's id, topic, org unit and members by name."""
    body = _call("GET", f"{system_url(settings, url)}/sandbox/api/rooms?q={quote(query)}&members=1")
    if as_json:
        click.echo(json.dumps(body, ensure_ascii=False, indent=2))
        return
    for room in body["rooms"]:
        names = "、".join(m["name"] for m in room.get("members", []))
        click.echo(f"{room['room_id']}  {room['topic']}  [{room.get('org_unit', '')}]  {names}")
    click.echo(f"共 {body['total']} 个群")


@sandbox.command("serve")
@with_settings
@click.option(
    "--port", type=int, default=8790, show_default=True, help="Port of the control API and page."
)
@click.option(
    "--endpoints-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write each account's puppet endpoint and token here (JSON), for a bot config.",
)
def serve(settings: Settings, port: int, endpoints_file: Path | None) -> None:
    """Run the simulated WeChat on its own, for a `gridcast run` configured with
    ``sandbox.enabled: false`` and explicit account endpoints (e.g. crash tests)."""
    from gridcast.runtime import build_sandbox

    async def main() -> None:
        world = await build_sandbox(settings)
        await world.start()
        app = web.Application()
        app.add_subapp("/sandbox/", create_control_app(world))
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, settings.web.host, port)
        await site.start()
        endpoints = {
            account_id: {"endpoint": world.endpoint(account_id), "token": world.token(account_id)}
            for account_id in world.account_ids
        }
        if endpoints_file is not None:
            text = json.dumps(endpoints, ensure_ascii=False, indent=2)
            await asyncio.to_thread(endpoints_file.write_text, text, encoding="utf-8")
        bound = runner.addresses[0]
        click.echo(
            f"模拟微信已启动: http://{bound[0]}:{bound[1]}/sandbox/  （{len(endpoints)} 个机器人账号）"
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()
            await world.stop()

    asyncio.run(main())
