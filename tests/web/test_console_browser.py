"""The console in a real browser (Playwright driving Debian's Chromium) against the whole
application on a real port: the sandbox, the real wechaty clients, the bots.

The issue's scenarios: sign in with the code sent on WeChat; a station chief composes a
village notice, reads the prediction, confirms and watches reach climb to 100%; a grid
leader accepts and resolves a ticket from the board and the resident gets the message in
the sandbox; a page out of scope is refused; a roster upload with one bad row shows that
row and writes nothing; the same flows at a phone-size viewport.

Set ``GRIDCAST_SCREENSHOTS=docs/screenshots`` to write a screenshot of each page.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import web
from argon2 import PasswordHasher
from sqlalchemy import func
from sqlmodel import select

from core.config import parse_settings
from gridcast.runtime import build_sandbox, prepare_database
from models.auth import Credential
from models.db import make_engine, session_scope
from models.org import OrgUnit, Person
from orgtree.binding import topic_for
from orgtree.roster import write_roster
from sandbox.sandbox import Sandbox
from tests.factories import small_town
from web.app import create_app
from web.keys import HUB

CHROMIUM = os.environ.get("GRIDCAST_CHROMIUM", "/usr/bin/chromium")
if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
    pytest.skip(
        f"browser tests skipped: no Chromium at {CHROMIUM} "
        "(apt-get install chromium; .ci/run installs it)",
        allow_module_level=True,
    )
playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
expect = playwright_api.expect

ROSTER = small_town()
TOWN = ROSTER.town
ROW = ROSTER.rows[0]
VILLAGE_A = ROW.village
VILLAGE_B = next(r.village for r in ROSTER.rows if r.village != VILLAGE_A)
CHIEF = ROW.station_chief
ADMIN = ROSTER.rows[1].unit_leader
PASSWORD = "console-test-密码-2026"
PHONE_VIEWPORT = {"width": 390, "height": 844}
SHOTS = os.environ.get("GRIDCAST_SCREENSHOTS")

T = TypeVar("T")


class ConsoleServer:
    """The whole application with the sandbox on a real port, in a thread with its own
    event loop; :meth:`call` runs a function on that loop (the sandbox is not
    thread-safe)."""

    def __init__(self, data_dir: Path) -> None:
        roster = write_roster(ROSTER, data_dir / "roster.csv")
        self.settings = parse_settings(
            {
                "data_dir": str(data_dir),
                "web": {"port": 0},
                "town": {"roster": str(roster)},
                "bots": {"sandbox_accounts": 2, "rate_per_s": 8, "burst": 2},
                "sandbox": {"residents_per_unit": 1},
                "admins": [ADMIN.phone],
            }
        )
        prepare_database(self.settings)
        self.engine = make_engine(self.settings.database_url)
        hasher = PasswordHasher()
        with session_scope(self.engine) as session:
            for phone in (CHIEF.phone, ADMIN.phone):
                person = session.exec(select(Person).where(Person.phone == phone)).one()
                assert person.id is not None
                session.add(
                    Credential(
                        person_id=person.id,
                        password_hash=hasher.hash(PASSWORD),
                        updated_at=datetime.now(UTC),
                    )
                )
        self.url = ""
        self.sandbox: Sandbox | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True)

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self.sandbox = await build_sandbox(self.settings)
        app = create_app(self.settings, sandbox=self.sandbox)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=2)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        assert await app[HUB].wait_rooms(30)
        host, port = runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        self._ready.set()
        await self._stop.wait()
        await runner.cleanup()

    def call(self, fn: Callable[[Sandbox], T]) -> T:
        assert self._loop is not None and self.sandbox is not None
        sandbox = self.sandbox
        future: Future[T] = Future()

        def run() -> None:
            try:
                future.set_result(fn(sandbox))
            except Exception as exc:
                future.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return future.result(10)

    def __enter__(self) -> ConsoleServer:
        self._thread.start()
        assert self._ready.wait(90), "the server did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        self.engine.dispose()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleServer]:
    with ConsoleServer(tmp_path_factory.mktemp("console")) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as playwright:
        path = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
        browser = playwright.chromium.launch(executable_path=path, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser: Any, server: ConsoleServer, phone: bool = False) -> Any:
    context = browser.new_context(
        base_url=server.url,
        viewport=PHONE_VIEWPORT if phone else {"width": 1280, "height": 900},
        locale="zh-CN",
    )
    context.set_default_timeout(10_000)
    return context.new_page()


def shot(page: Any, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def sign_in_with_password(page: Any, phone: str) -> None:
    page.goto("/")
    page.get_by_label("手机号").fill(phone)
    page.get_by_text("用密码登录").click()
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录", exact=True).click()
    page.wait_for_url(re.compile(r"/console/$"))


def codes_sent(server: ConsoleServer, contact: str) -> list[str]:
    def read(sandbox: Sandbox) -> list[str]:
        found = []
        for account in sandbox.account_ids:
            for message in sandbox.private_transcript(account, contact):
                if message.sender_is_bot:
                    found += re.findall(r"验证码是 (\d{6})", message.text)
        return found

    return server.call(read)


def wait_for(check: Callable[[], T], within_s: float = 10.0) -> T:
    deadline = time.monotonic() + within_s
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, "not reached in time"
        time.sleep(0.05)


def sign_in_with_code(page: Any, server: ConsoleServer, phone: str, contact: str) -> None:
    before = len(codes_sent(server, contact))
    page.goto("/console/tickets")  # not signed in: the sign-in page, then back here
    page.wait_for_url(re.compile(r"/console/signin\?next="))
    page.get_by_label("手机号").fill(phone)
    page.get_by_role("button", name="获取微信验证码").click()
    codes = wait_for(lambda: codes_sent(server, contact)[before:] or None)
    page.get_by_label("验证码").fill(codes[-1])
    page.get_by_role("button", name="登录", exact=True).click()
    page.wait_for_url(re.compile(r"/console/tickets$"))


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
def test_grid_leader_signs_in_with_the_wechat_code_and_resolves_a_ticket_from_the_board(
    server: ConsoleServer, browser: Any, phone: bool
) -> None:
    # one person per run: a phone gets at most one code a minute
    row = ROW if not phone else next(r for r in ROSTER.rows if r.grid != ROW.grid)
    leader = row.grid_leader
    unit_topic = topic_for(TOWN, row.path)

    def resident(sandbox: Sandbox) -> str:
        members = sandbox.room_members(unit_topic)
        return next(m.contact_id for m in members if m.contact_id.startswith("resident-"))

    sender = server.call(resident)
    problem = "3栋楼道的灯坏了一个星期了" if not phone else "楼下垃圾桶满了没人清理"
    posted = server.call(lambda s: s.post_message(unit_topic, sender, problem))

    def ticket_code() -> str | None:
        lines = server.call(lambda s: s.transcript(unit_topic, since_seq=posted.seq))
        for line in lines:
            found = re.search(r"T\d{8}-\d{4}", line.text) if line.sender_is_bot else None
            if found:
                return found.group(0)
        return None

    code = wait_for(ticket_code)
    page = new_page(browser, server, phone)
    contact = leader.wechat_id or f"tel-{leader.phone}"
    sign_in_with_code(page, server, leader.phone, contact)
    if phone:
        page.get_by_text("☰ 菜单").click()
        assert page.get_by_role("link", name="工单").is_visible()
    page.get_by_label("搜索").fill(code)
    page.get_by_role("button", name="筛选").click()
    shot(page, "tickets" + ("-phone" if phone else ""))
    page.get_by_role("link", name=code).click()
    page.wait_for_url(re.compile(code))
    page.get_by_role("button", name="接单（签收）").click()
    expect(page.locator("#ticket-state")).to_contain_text("签收")
    page.get_by_label("办结说明").fill("已更换灯泡，楼道恢复照明")
    page.get_by_role("button", name="办结", exact=True).click()
    expect(page.locator("#ticket-state")).to_contain_text("办结")
    shot(page, "ticket" + ("-phone" if phone else ""))

    def told_resident() -> bool:
        lines = server.call(lambda s: s.transcript(unit_topic, since_seq=posted.seq))
        return any(
            line.sender_is_bot and code in line.text and "办结" in line.text for line in lines
        )

    assert wait_for(told_resident)
    page.context.close()


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
def test_station_chief_composes_a_village_notice_and_watches_reach_climb_to_100(
    server: ConsoleServer, browser: Any, phone: bool
) -> None:
    page = new_page(browser, server, phone)
    sign_in_with_password(page, CHIEF.phone)
    shot(page, "overview" + ("-phone" if phone else ""))
    page.goto("/console/notices/new")
    page.get_by_label("标题").fill("停水通知")
    page.get_by_label("正文").fill("明天上午8点至12点停水，请提前储水。")
    page.get_by_label("搜索村、网格或单元").fill(VILLAGE_A)
    page.locator(f'li[data-path="{TOWN}/{VILLAGE_A}"] input').check()
    page.get_by_role("button", name="预估送达（不发送）").click()
    plan = page.locator("#plan")
    plan.wait_for(state="visible")
    assert "秒" in page.locator("#plan-predicted").inner_text()
    assert "秒" in page.locator("#plan-lower").inner_text()
    assert int(page.locator("#plan-groups").inner_text().split()[0]) > 1
    shot(page, "notice-plan" + ("-phone" if phone else ""))
    page.get_by_role("link", name="查看计划详情").click()
    page.wait_for_url(re.compile(r"/console/notices/N\d+$"))
    assert page.locator("#c-pct").inner_text() == "0.0%"
    page.evaluate("window.__same_page = true")
    page.get_by_role("button", name="确认发送").click()
    expect(page.locator("#c-pct")).to_have_text("100.0%", timeout=20_000)
    assert page.evaluate("window.__same_page") is True  # updated live, not reloaded
    assert page.locator("#villages tbody tr").count() == 1
    shot(page, "notice-live" + ("-phone" if phone else ""))
    page.context.close()


def fits_the_screen(page: Any) -> None:
    """Nothing on the page is wider than the viewport (no sideways scrolling)."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], width


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
def test_a_page_out_of_scope_is_refused(server: ConsoleServer, browser: Any, phone: bool) -> None:
    page = new_page(browser, server, phone)
    sign_in_with_password(page, CHIEF.phone)
    page.goto(f"/console/org?path={VILLAGE_A}")
    assert page.get_by_role("heading", name=VILLAGE_A).is_visible()
    shot(page, "org" + ("-phone" if phone else ""))
    if phone:
        fits_the_screen(page)
    response = page.goto(f"/console/org?path={VILLAGE_B}")
    assert response is not None and response.status == 403
    assert page.get_by_role("heading", name="无权访问").is_visible()
    assert "不在您负责的范围内" in page.locator(".reason").inner_text()
    if phone:
        fits_the_screen(page)
    response = page.goto("/console/system/tokens")
    assert response is not None and response.status == 403
    page.context.close()


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
def test_a_roster_with_one_bad_row_shows_that_row_and_writes_nothing(
    server: ConsoleServer, browser: Any, tmp_path: Path, phone: bool
) -> None:
    file = write_roster(ROSTER, tmp_path / "花名册.csv")
    lines = file.read_text(encoding="utf-8-sig").splitlines()
    lines[3] = lines[3].replace(ROSTER.rows[2].unit_leader.phone, "1380000")
    file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    file.with_name("花名册.people.csv").unlink(missing_ok=True)

    def counts() -> tuple[int, int]:
        with session_scope(server.engine) as session:
            units = session.exec(select(func.count()).select_from(OrgUnit)).one()
            people = session.exec(select(func.count()).select_from(Person)).one()
            return units, people

    before = counts()
    page = new_page(browser, server, phone)
    sign_in_with_password(page, ADMIN.phone)
    if not phone:
        shot(page, "overview-admin")
    page.goto("/console/org/roster")
    page.get_by_label("花名册文件").set_input_files(str(file))
    page.get_by_role("button", name="试运行检查").click()
    problems = page.locator("table.problems tbody tr")
    problems.first.wait_for()
    assert problems.count() == 1
    assert "第4行" in problems.first.inner_text()
    assert "1380000" in problems.first.inner_text()
    shot(page, "roster" + ("-phone" if phone else ""))
    if phone:
        fits_the_screen(page)
    assert counts() == before
    for name, url in (
        ("system", "/console/system"),
        ("tokens", "/console/system/tokens"),
        ("audit", "/console/system/audit"),
        ("notices", "/console/notices"),
    ):
        response = page.goto(url)
        assert response is not None and response.ok, url
        if not phone:
            shot(page, name)
    page.context.close()
