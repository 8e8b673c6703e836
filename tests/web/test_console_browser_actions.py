"""More of the console in a real browser (Playwright driving Debian's Chromium), against the
whole application with the sandbox on a real port, as in ``test_console_browser.py``:

- a station chief recalls a notice from its page (with the confirmation step) and every
  group that got it is told in the sandbox; another notice is corrected the same way;
- the notice's acknowledgement coverage, opened from the village down to its units, with
  the silent units and their unit leaders;
- the history's filters (date range, place, status, kind, text) from the keyboard, and at
  a phone-size viewport;
- an admin's roster import by upload: the dry run first, then the import, written;
- an admin creates an API token on the system page, it works, and revokes it.

Set ``GRIDCAST_SCREENSHOTS=docs/screenshots`` to write screenshots of these pages.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from core.clock import TOWN_TZ
from models.broadcast import Notice, NoticeStatus
from models.db import session_scope
from models.org import Person
from orgtree.binding import topic_for
from orgtree.roster import write_roster
from sandbox.sandbox import Sandbox
from tests.web.test_console_browser import (
    ADMIN,
    CHIEF,
    ROSTER,
    ROW,
    TOWN,
    VILLAGE_A,
    ConsoleServer,
    expect,
    new_page,
    shot,
    sign_in_with_password,
    wait_for,
)
from tests.web.test_console_browser import browser as browser  # the fixture, shared

GRID_A = "/".join(ROW.path[:2])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleServer]:
    with ConsoleServer(tmp_path_factory.mktemp("console-actions")) as running:
        yield running


def issue(page: Any, scope: str, title: str, body: str) -> str:
    """A notice planned and confirmed by the signed-in person through the JSON API, as the
    composer's script does; returns its code."""
    answer = page.evaluate(
        """async (notice) => {
            const csrf = document.querySelector('meta[name="csrf-token"]').content;
            const response = await fetch("/api/notices", {method: "POST",
                headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
                body: JSON.stringify(notice)});
            return await response.json();
        }""",
        {"title": title, "body": body, "scope": scope, "confirm": True},
    )
    assert re.fullmatch(r"N\d{4,6}", str(answer.get("code"))), answer
    return str(answer["code"])


def statuses(server: ConsoleServer, *codes: str) -> set[NoticeStatus]:
    with session_scope(server.engine) as session:
        found = session.exec(select(Notice.status).where(col(Notice.code).in_(codes))).all()
    return set(found)


def bot_lines(server: ConsoleServer, topic: str, needle: str) -> list[str]:
    def read(sandbox: Sandbox) -> list[str]:
        return [m.text for m in sandbox.transcript(topic) if m.sender_is_bot and needle in m.text]

    return server.call(read)


def wait_for_child(page: Any, code: str) -> str:
    """The page the recall or correction leads to: its own notice, not ``code``."""
    page.wait_for_url(
        lambda url: bool(re.search(r"/console/notices/N\d+$", url)) and not url.endswith(code)
    )
    return str(page.url.rsplit("/", 1)[-1])


def open_notice_when_reached(page: Any, code: str) -> None:
    page.goto(f"/console/notices/{code}")
    expect(page.locator("#c-pct")).to_have_text("100.0%", timeout=20_000)


def test_station_chief_recalls_a_notice_from_its_page(server: ConsoleServer, browser: Any) -> None:
    page = new_page(browser, server)
    sign_in_with_password(page, CHIEF.phone)
    code = issue(page, VILLAGE_A, "明日停电", "明天上午8点至12点停电检修。")
    open_notice_when_reached(page, code)
    unit_topic = topic_for(TOWN, ROW.path)
    assert wait_for(lambda: bot_lines(server, unit_topic, f"【通知 {code}】"))
    page.get_by_label("撤回原因（可不填，仅留档）").fill("停电时间未定，另行通知")
    page.get_by_role("button", name="撤回…").click()
    step = page.locator("#recall-step")
    expect(step).to_be_visible()
    expect(page.get_by_role("button", name="确认撤回")).to_be_focused()
    page.get_by_role("button", name="返回").first.click()  # think again
    expect(step).to_be_hidden()
    assert not bot_lines(server, unit_topic, "【撤回")
    page.get_by_role("button", name="撤回…").click()
    page.get_by_role("button", name="确认撤回").click()
    expect(page.locator("#flash")).to_contain_text(f"通知 {code} 已撤回")
    expect(page.locator("#flash")).to_contain_text("不再催办")
    child = wait_for_child(page, code)
    expect(page.locator("h1")).to_contain_text("撤回")
    expect(page.locator("#c-pct")).to_have_text("100.0%", timeout=20_000)
    lines = wait_for(lambda: bot_lines(server, unit_topic, f"【撤回 {child}】"))
    assert f"通知 {code}「明日停电」已撤回" in lines[0]
    page.get_by_role("link", name=code).click()
    expect(page.locator("#n-status")).to_have_text("已撤回")
    assert page.locator("#recall-form").count() == 0  # nothing left to recall
    page.context.close()


def test_station_chief_chases_the_silent_units_from_the_notice_page(
    server: ConsoleServer, browser: Any
) -> None:
    page = new_page(browser, server)
    sign_in_with_password(page, CHIEF.phone)
    code = issue(page, GRID_A, "消防演练", "周六上午消防演练，请各单元长回复收到。")
    open_notice_when_reached(page, code)
    unit_topic = topic_for(TOWN, ROW.path)
    page.reload()  # the coverage and silent units are drawn when the page loads
    page.get_by_role("button", name="催办…").click()
    expect(page.locator("#chase-step")).to_be_visible()
    page.get_by_role("button", name="确认催办").click()
    expect(page.locator("#flash")).to_contain_text("已催办")
    lines = wait_for(lambda: bot_lines(server, unit_topic, "尚未确认"))
    assert code in lines[0] and f"@{ROW.unit_leader.name}" in lines[0]
    page.context.close()


def test_station_chief_corrects_a_notice_after_reading_the_preview(
    server: ConsoleServer, browser: Any
) -> None:
    page = new_page(browser, server)
    sign_in_with_password(page, CHIEF.phone)
    code = issue(page, GRID_A, "消防检查", "本周五下午检查楼道消防设施。")
    open_notice_when_reached(page, code)
    page.get_by_role("button", name="更正…").click()  # empty: the browser asks for the text
    expect(page.locator("#correct-step")).to_be_hidden()
    page.get_by_label("更正内容").fill("检查改到本周六上午9点。")
    page.get_by_role("button", name="更正…").click()
    expect(page.locator("#correct-preview")).to_have_text("检查改到本周六上午9点。")
    page.get_by_label("更正内容").fill("检查改到本周六上午10点。")  # editing closes the step
    expect(page.locator("#correct-step")).to_be_hidden()
    page.get_by_role("button", name="更正…").click()
    expect(page.locator("#correct-preview")).to_have_text("检查改到本周六上午10点。")
    page.get_by_role("button", name="确认更正").click()
    child = wait_for_child(page, code)
    expect(page.locator("#c-pct")).to_have_text("100.0%", timeout=20_000)
    unit_topic = topic_for(TOWN, ROW.path)
    lines = wait_for(lambda: bot_lines(server, unit_topic, f"【更正 {child}】"))
    assert "上午10点" in lines[0] and "上午9点" not in lines[0]
    page.get_by_role("link", name=code).click()
    expect(page.locator("#n-status")).to_have_text("已送达")  # a correction does not recall
    expect(page.locator(".related")).to_contain_text("上午10点")
    page.context.close()


def test_coverage_opens_from_the_village_down_to_the_silent_units_and_their_leaders(
    server: ConsoleServer, browser: Any
) -> None:
    page = new_page(browser, server)
    sign_in_with_password(page, CHIEF.phone)
    code = issue(page, VILLAGE_A, "防汛值班", "今晚起各单元安排防汛值班，请回复收到。")
    open_notice_when_reached(page, code)
    leader = ROW.unit_leader
    contact = leader.wechat_id or f"tel-{leader.phone}"
    unit_topic = topic_for(TOWN, ROW.path)
    server.call(lambda s: s.post_message(unit_topic, contact, "收到"))
    expect(page.locator("#c-acked")).to_have_text("1", timeout=10_000)  # live
    page.reload()
    table = page.locator("#coverage-table")
    expect(table).to_contain_text(f"{VILLAGE_A}（村群）")
    page.get_by_role("link", name=ROW.grid, exact=True).click()
    page.wait_for_url(re.compile(r"at="))
    expect(page.locator("#coverage-title")).to_contain_text(ROW.grid)
    row = table.locator("tr", has_text=ROW.unit)
    expect(row).to_contain_text(leader.name)  # who acknowledged
    expect(row).to_contain_text("100.0%")
    silent = page.locator("#silent")
    expect(silent).not_to_contain_text(ROW.unit)
    others = [r for r in ROSTER.rows if r.path[:2] == ROW.path[:2] and r != ROW]
    for other in others:
        line = silent.locator("tr", has_text=other.unit)
        expect(line).to_contain_text(other.unit_leader.name)
        expect(line).to_contain_text(other.unit_leader.phone)  # the village's chief may see it
    shot(page, "notice-coverage")
    page.get_by_role("link", name=VILLAGE_A, exact=True).click()  # back up
    expect(page.locator("#coverage-title")).not_to_contain_text(ROW.grid)
    page.context.close()


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
def test_history_filters_from_the_keyboard(
    server: ConsoleServer, browser: Any, phone: bool
) -> None:
    page = new_page(browser, server, phone)
    sign_in_with_password(page, CHIEF.phone)
    mark = "手机" if phone else "桌面"
    village = issue(page, VILLAGE_A, f"{mark}村通知", "全村大扫除。")
    grid = issue(page, GRID_A, f"{mark}网格通知", "网格内停车调整。")
    if phone:
        page.get_by_text("☰ 菜单").click()
        page.get_by_role("link", name="通知", exact=True).click()
    else:
        page.goto("/console/notices")
    rows = page.locator("table.notices tbody tr")
    search = page.get_by_label("搜索")
    search.fill(mark)
    search.press("Enter")  # the form submits from the keyboard
    expect(rows).to_have_count(2)
    place = page.get_by_label("范围（村或网格）")
    place.fill(GRID_A)
    place.press("Enter")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(grid)
    page.get_by_label("含发往上级（全村、全镇）的通知").check()
    page.get_by_role("button", name="筛选").click()
    expect(rows).to_have_count(2)
    page.get_by_label("种类").select_option(label="更正")
    page.get_by_role("button", name="筛选").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("没有符合条件的通知")
    page.get_by_label("种类").select_option(label="全部")
    wait_for(lambda: statuses(server, village, grid) == {NoticeStatus.DONE}, within_s=60)
    page.get_by_label("状态").select_option(label="已送达")
    today = datetime.now(TOWN_TZ).date()
    page.get_by_label("发布自").fill(today.isoformat())
    page.get_by_label("至").fill(today.isoformat())
    page.get_by_role("button", name="筛选").click()
    expect(rows).to_have_count(2)
    codes = {rows.nth(i).get_attribute("data-code") for i in range(2)}
    assert codes == {village, grid}
    page.get_by_label("发布自").fill((today + timedelta(days=1)).isoformat())
    page.get_by_label("至").fill((today + timedelta(days=2)).isoformat())
    page.get_by_role("button", name="筛选").click()
    expect(rows.first).to_contain_text("没有符合条件的通知")
    page.get_by_label("发布自").fill((today + timedelta(days=3)).isoformat())
    page.get_by_role("button", name="筛选").click()
    expect(page.locator("#filter-problems")).to_contain_text("开始日期晚于结束日期")
    if phone:  # the page fits the screen: nothing wider than the viewport
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= page.viewport_size["width"], width
    page.get_by_role("link", name="清除").click()
    page.get_by_label("搜索").focus()
    assert page.evaluate("document.activeElement.name") == "q"
    page.keyboard.type(mark)
    page.keyboard.press("Enter")
    expect(rows).to_have_count(2)
    shot(page, "notices-filtered" + ("-phone" if phone else ""))
    page.context.close()


def test_admin_imports_a_roster_after_the_dry_run(
    server: ConsoleServer, browser: Any, tmp_path: Path
) -> None:
    last = ROSTER.rows[-1]
    assert last.unit_leader.phone not in (CHIEF.phone, ADMIN.phone)
    renamed = dataclasses.replace(
        last, unit_leader=dataclasses.replace(last.unit_leader, name="韩新名")
    )
    roster = dataclasses.replace(ROSTER, rows=(*ROSTER.rows[:-1], renamed))
    file = write_roster(roster, tmp_path / "花名册.xlsx")

    def name_in_database() -> str:
        with session_scope(server.engine) as session:
            person = session.exec(
                select(Person).where(Person.phone == last.unit_leader.phone)
            ).one()
            return person.name

    assert name_in_database() == last.unit_leader.name
    page = new_page(browser, server)
    sign_in_with_password(page, ADMIN.phone)
    page.goto("/console/org/roster")
    page.get_by_label("花名册文件").set_input_files(str(file))
    page.get_by_role("button", name="试运行检查").click()
    result = page.locator("#roster-result")
    expect(result).to_contain_text("没有问题")
    expect(result).to_contain_text("尚未写入")
    shot(page, "roster-preview")
    assert name_in_database() == last.unit_leader.name  # the dry run wrote nothing
    page.get_by_role("button", name="确认导入").click()
    expect(result).to_contain_text("已导入「花名册.xlsx」")
    assert name_in_database() == "韩新名"
    page.goto(f"/console/org?path={'/'.join(last.path[:2])}")
    expect(page.locator("main")).to_contain_text("韩新名")
    page.goto("/console/system/audit?action=roster.import")
    expect(page.locator("main")).to_contain_text("花名册.xlsx")
    page.context.close()


def test_admin_creates_and_revokes_an_api_token(server: ConsoleServer, browser: Any) -> None:
    page = new_page(browser, server)
    sign_in_with_password(page, ADMIN.phone)
    page.goto("/console/system/tokens")
    page.get_by_label("名称").fill("防汛办系统")
    page.get_by_label("角色").select_option(label="网格站站长")
    page.get_by_label("范围（组织路径，空为全镇）").fill(VILLAGE_A)
    page.get_by_role("button", name="创建").click()
    shown = page.locator("#new-token")
    expect(shown).to_contain_text("令牌只显示这一次")
    token = shown.inner_text().rsplit("：", 1)[-1].strip()
    assert len(token) > 20

    def me(secret: str) -> int:
        response = page.request.get("/api/auth/me", headers={"Authorization": f"Bearer {secret}"})
        return int(response.status)

    assert me(token) == 200
    page.reload()
    row = page.locator("tr", has_text="防汛办系统")
    expect(row).to_contain_text(VILLAGE_A)
    page.once("dialog", lambda dialog: dialog.accept())  # 吊销令牌「…」？
    row.get_by_role("button", name="吊销").click()
    expect(page.locator("tr", has_text="防汛办系统")).to_contain_text("已吊销")
    assert me(token) == 401
    page.context.close()
