"""会商 T… 结论 … in chat through the sandbox: who may record a consultation's outcome
(issue 13: the grid's 三长 meet on it) and what the others are told."""

from __future__ import annotations

import re

from sqlalchemy import Engine
from sqlmodel import Session, select

from models.db import run_in_session
from models.rhythm import ConsultationItem
from orgtree.binding import topic_for
from tests.test_system import ROSTER, ROW, UNIT_TOPIC, System, resident, system, until  # noqa: F401
from web.keys import ENGINE


async def test_regression_the_grid_leader_records_a_consultation_a_resident_is_told_who_does(
    system: System,  # noqa: F811
    engine: Engine,
) -> None:
    sender = resident(system, UNIT_TOPIC)
    posted = system.sandbox.post_message(
        UNIT_TOPIC, sender, "@网格助手 3栋楼下的下水道堵了好几天了，臭死了，没人管吗"
    )
    [filed] = await until(lambda: system.bot_lines(UNIT_TOPIC, posted.seq))  # type: ignore[misc]
    code = re.search(r"T\d{8}-\d{4}", filed.text).group(0)  # type: ignore[union-attr]
    town = system.settings.town.name

    async def answer(room: str, who: str, text: str) -> str:
        posted = system.sandbox.post_message(room, who, text)
        [line] = await until(lambda: system.bot_lines(room, posted.seq))  # type: ignore[misc]
        return line.text  # type: ignore[no-any-return]

    refused = await answer(UNIT_TOPIC, sender, f"会商 {code} 结论 我觉得应该马上修")
    assert "请先登录" not in refused and "参加会商的工作人员" in refused, refused
    other = next(r for r in ROSTER.rows if r.path[:2] != ROW.path[:2])
    other_topic = topic_for(town, other.path[:2])
    elsewhere = await answer(
        other_topic, other.grid_leader.wechat_id or "", f"会商 {code} 结论 联系住建局上门"
    )
    assert "只有工单所在网格的网格长" in elsewhere, elsewhere
    grid_topic = topic_for(town, ROW.path[:2])
    done = await answer(
        grid_topic, ROW.grid_leader.wechat_id or "", f"会商 {code} 结论 联系住建局上门疏通"
    )
    assert "已记录" in done, done

    def items(session: Session) -> list[tuple[str, str]]:
        return [
            (i.conclusion or "", i.recorded_by or "")
            for i in session.exec(select(ConsultationItem))
        ]

    recorded = await run_in_session(system.client.app[ENGINE], items)
    assert recorded == [("联系住建局上门疏通", ROW.grid_leader.name)]
