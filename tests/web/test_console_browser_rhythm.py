"""The 节奏 pages in a real browser (Debian's Chromium) against the whole application with
the sandbox and the bots: a station chief assigns a task from the console with the
keyboard-usable form, sees it in the list, and the grid leader gets it on WeChat."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from core.clock import TOWN_TZ
from sandbox.sandbox import Sandbox
from tests.web.test_console_browser import (  # noqa: F401 - the fixtures are used by name
    CHIEF,
    ROW,
    VILLAGE_A,
    ConsoleServer,
    browser,
    expect,
    new_page,
    server,
    shot,
    sign_in_with_password,
    wait_for,
)

LEADER = ROW.grid_leader


def test_a_station_chief_assigns_a_task_and_sees_it_in_the_list(
    server: ConsoleServer,  # noqa: F811
    browser: Any,  # noqa: F811
) -> None:
    page = new_page(browser, server)
    sign_in_with_password(page, CHIEF.phone)
    page.get_by_role("navigation", name="主菜单").get_by_role("link", name="节奏").click()
    page.wait_for_url(re.compile(r"/console/tasks$"))
    page.get_by_role("link", name="下达任务").click()
    page.wait_for_url(re.compile(r"/console/tasks/new$"))
    page.get_by_label("任务名称").fill("果树丈量")
    page.get_by_label("搜索村或网格").fill(VILLAGE_A)
    page.get_by_role("checkbox", name=re.compile(rf"^\s*{VILLAGE_A}")).check()
    day = (datetime.now(TOWN_TZ) + timedelta(days=3)).date().isoformat()
    page.get_by_label("完成期限（日期）").fill(day)
    page.get_by_label("说明").fill("配合征迁组丈量果树")
    page.get_by_label("逐单元清单").check()
    shot(page, "task-new")
    page.get_by_role("button", name="下达").click()
    expect(page.locator("#flash")).to_contain_text("已下达到")
    page.wait_for_url(re.compile(r"/console/tasks/R\d{4}$"))
    code = page.url.rsplit("/", 1)[1]
    expect(page.locator("table.task-grids")).to_contain_text(LEADER.name)
    shot(page, "task")
    page.get_by_role("link", name="← 任务").click()
    row = page.locator(f"tr[data-code='{code}']")
    expect(row).to_contain_text("果树丈量")
    expect(row).to_contain_text(CHIEF.name)
    shot(page, "tasks")

    def told(sandbox: Sandbox) -> bool:
        return any(
            code in message.text
            for account in sandbox.account_ids
            for message in sandbox.private_transcript(account, LEADER.wechat_id or "")
            if message.sender_is_bot
        )

    wait_for(lambda: server.call(told), within_s=20)
    page.context.close()
