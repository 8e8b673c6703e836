"""A file message through the real wechaty client: the bot posts a PNG in the town group
(MessageSendFile), the sandbox stores it as an image and serves it to its page."""

from __future__ import annotations

from core.messaging import Attachment, Reply
from orgtree.binding import topic_for
from tests.test_system import TOWN, System, system, until  # noqa: F401 (fixture)
from web.keys import HUB

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


async def test_an_image_reaches_the_town_group_and_its_page(system: System) -> None:  # noqa: F811
    topic = topic_for(TOWN, ())
    room = system.sandbox.room(topic)
    hub = system.client.app[HUB]
    message_id = await hub.send(
        Reply(
            "月报图",
            room_id=room.room_id,
            attachment=Attachment("2026-11月结.png", PNG, "image/png"),
        )
    )
    assert message_id
    [posted] = await until(lambda: system.bot_lines(topic))  # type: ignore[misc]
    assert posted.kind.value == "image" and posted.file_name == "2026-11月结.png"
    response = await system.client.get(f"/sandbox/api/messages/{posted.message_id}/file")
    assert response.status == 200 and response.content_type == "image/png"
    assert await response.read() == PNG
    page = await (await system.client.get("/sandbox/")).text()
    assert "api/messages/" in page and "<img" not in page.split("<script")[0]
