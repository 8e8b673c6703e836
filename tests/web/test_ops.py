"""Running it like a service: metrics after a scripted notice and ticket, CAP warnings
in (alert, update, cancel, exercise, bad XML), and JSON log lines carrying their codes."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import Engine
from sqlmodel import select

from bot.hub import BotHub
from broadcast.engine import Broadcaster
from core.config import Settings
from core.logs import configure_logging
from core.metrics import REGISTRY
from core.policy import MONITOR_ROLE
from models.auth import AuditEntry
from models.broadcast import Notice, NoticeKind, NoticeStatus
from models.cap import CapMessage
from models.db import session_scope
from models.tickets import TicketCreate
from tests.broadcast.harness import ROSTER, send
from tests.factories import api_token, bearer
from tickets.one_stop import create_ticket
from web.app import create_app
from web.keys import BROADCASTER, HUB

SAMPLES = Path(__file__).with_name("cap_samples")
VILLAGE = ROSTER.rows[0].village
UNIT_PATH = "/".join(ROSTER.rows[0].path)


@pytest.fixture
async def client(
    settings: Settings, engine: Engine, system: tuple[BotHub, Broadcaster]
) -> AsyncIterator[TestClient]:
    hub, broadcaster = system
    app = create_app(settings, run_bots=False)
    app[HUB], app[BROADCASTER] = hub, broadcaster
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the Prometheus text format (0 when absent)."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        sample_name, _, label_text = head.partition("{")
        if sample_name != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', label_text))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(value)
    return 0.0


def sends(account: str) -> float:
    return (
        REGISTRY.get_sample_value(
            "gridcast_account_sends_total", {"account": account, "outcome": "sent"}
        )
        or 0.0
    )


async def test_metrics_after_a_notice_and_a_ticket(
    client: TestClient, engine: Engine, settings: Settings, system: tuple[BotHub, Broadcaster]
) -> None:
    _hub, broadcaster = system
    before = sum(sends(a) for a in ("bot1", "bot2", "bot3"))
    code = await send(broadcaster, levels=("unit",))
    with session_scope(engine) as session:
        notice = session.exec(select(Notice).where(Notice.code == code)).one()
        assert notice.status is NoticeStatus.DONE
        create_ticket(
            session=session,
            settings=settings,
            ticket_in=TicketCreate(
                unit_path=UNIT_PATH,
                text="楼下垃圾好几天没人清运了",
                reporter_name="王阿姨",
                category="sanitation",
            ),
            now=notice.created_at,
        )
    units = len(ROSTER.rows)

    anonymous = await client.get("/metrics")
    assert anonymous.status == 401
    monitor = api_token(engine, role=MONITOR_ROLE, name="prometheus")
    response = await client.get("/metrics", headers=bearer(monitor))
    assert response.status == 200 and response.content_type == "text/plain"
    text = await response.text()
    assert metric(text, "gridcast_deliveries", state="sent") == units
    assert metric(text, "gridcast_notice_reach_seconds_count") == 1
    assert metric(text, "gridcast_notice_reach_seconds_bucket", le="180.0") == 1
    assert metric(text, "gridcast_tickets", state="dispatched", level="grid") == 1
    assert (
        metric(text, "gridcast_intake_messages_total", decision="ticket", category="sanitation")
        == 1
    )
    assert metric(text, "gridcast_tickets_overdue") == 0
    assert sum(sends(a) for a in ("bot1", "bot2", "bot3")) - before == units
    per_account = sum(
        metric(text, "gridcast_account_deliveries", account=a, state="sent")
        for a in ("bot1", "bot2", "bot3")
    )
    assert per_account == units
    assert metric(text, "gridcast_account_state", account="bot1", state="online") == 1
    # The monitor token reads metrics and nothing else.
    refused = await client.get("/api/org/stats", headers=bearer(monitor))
    assert refused.status == 200  # signed-in only
    refused = await client.get("/api/bot/status", headers=bearer(monitor))
    assert refused.status == 403


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_text(encoding="utf-8").replace("{VILLAGE}", VILLAGE).encode()


async def post_cap(client: TestClient, token: str, data: bytes) -> tuple[int, object]:
    response = await client.post(
        "/api/cap",
        data=data,
        headers={**bearer(token), "Content-Type": "application/xml"},
    )
    return response.status, await response.json()


async def test_cap_alert_update_cancel_and_refusals(
    client: TestClient, engine: Engine, system: tuple[BotHub, Broadcaster]
) -> None:
    _hub, broadcaster = system
    token = api_token(engine, role="town_official", name="气象台")

    # A red typhoon warning for the whole town goes out at once (rule: Extreme -> send).
    status, body = await post_cap(client, token, sample("typhoon_alert.xml"))
    assert status == 200, body
    assert isinstance(body, dict) and body["outcome"] == "sent"
    (typhoon,) = body["notices"]
    assert typhoon["scope"] == "" and typhoon["status"] == "sending"
    async with asyncio.timeout(20):
        await broadcaster.wait(typhoon["code"])
    # The same message again changes nothing.
    status, again = await post_cap(client, token, sample("typhoon_alert.xml"))
    assert status == 200 and isinstance(again, dict) and again["duplicate"] is True

    # A yellow rainstorm warning for one village waits for an official's #确认.
    status, body = await post_cap(client, token, sample("rainstorm_alert.xml"))
    assert status == 200 and isinstance(body, dict) and body["outcome"] == "drafted", body
    (rain,) = body["notices"]
    assert rain["scope"] == VILLAGE and rain["status"] == "pending"

    # Its update replaces the draft (nothing was sent yet).
    status, body = await post_cap(client, token, sample("rainstorm_update.xml"))
    assert status == 200 and isinstance(body, dict) and body["outcome"] == "corrected", body
    (replaced,) = body["notices"]
    assert replaced["code"] != rain["code"] and replaced["status"] == "pending"

    # Cancelling the typhoon warning recalls the sent notice.
    status, body = await post_cap(client, token, sample("typhoon_cancel.xml"))
    assert status == 200 and isinstance(body, dict) and body["outcome"] == "recalled", body
    (recall,) = body["notices"]
    assert recall["kind"] == "retraction"
    async with asyncio.timeout(20):
        await broadcaster.wait(recall["code"])

    # An exercise is recorded, not sent; bad XML and a schema violation are refused.
    status, body = await post_cap(client, token, sample("flood_exercise.xml"))
    assert status == 200 and isinstance(body, dict) and body["outcome"] == "ignored"
    status, body = await post_cap(client, token, b"<alert><oops")
    assert status == 400 and isinstance(body, dict) and body["message"] == "不是有效的 XML"
    status, body = await post_cap(client, token, sample("bad_schema.xml"))
    assert status == 400 and isinstance(body, dict) and body["problems"], body
    entity = b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><alert>&x;</alert>'
    status, body = await post_cap(client, token, entity)
    assert status == 400
    # A grid leader may not send a town-wide warning.
    village_token = api_token(
        engine, role="grid_leader", scope=ROSTER.rows[0].path[:2], name="网格长"
    )
    status, body = await post_cap(
        client,
        village_token,
        sample("typhoon_alert.xml").replace(b"20260730080000", b"20260730090000"),
    )
    assert status == 403, body
    # A station chief's token may warn its village, but signs as itself, not as the
    # town's emergency office (cap.issuer), which only town-wide callers sign as.
    chief = api_token(engine, role="station_chief", scope=ROSTER.rows[0].path[:1], name="村站")
    status, body = await post_cap(
        client,
        chief,
        sample("rainstorm_alert.xml").replace(b"20260731090000", b"20260731100000"),
    )
    assert status == 200 and isinstance(body, dict), body
    (chief_rain,) = body["notices"]

    with session_scope(engine) as session:
        kinds = {n.code: n for n in session.exec(select(Notice))}
        assert kinds[chief_rain["code"]].issuer_name == "村站"
        assert kinds[typhoon["code"]].issuer_name == "镇应急管理办公室"
        assert kinds[rain["code"]].status is NoticeStatus.CANCELLED
        assert kinds[recall["code"]].kind is NoticeKind.RETRACTION
        assert kinds[recall["code"]].parent_id == kinds[typhoon["code"]].id
        outcomes = [m.outcome for m in session.exec(select(CapMessage).order_by(CapMessage.id))]
        assert outcomes == ["sent", "drafted", "corrected", "recalled", "ignored", "drafted"]
        actions = [e.action for e in session.exec(select(AuditEntry))]
    assert {"cap.alert", "cap.update", "cap.cancel", "cap.receive"} <= set(actions)


async def test_watched_directory_reads_and_moves_files(client: TestClient, tmp_path: Path) -> None:
    from web.cap import scan_directory

    inbox = tmp_path / "cap"
    inbox.mkdir()
    (inbox / "a.xml").write_bytes(sample("rainstorm_alert.xml"))
    (inbox / "b.xml").write_bytes(b"not xml")
    results = await scan_directory(client.app, inbox)
    assert dict(results)["a.xml"] == "drafted"
    assert dict(results)["b.xml"].startswith("refused")
    assert (inbox / "done" / "a.xml").exists() and (inbox / "rejected" / "b.xml").exists()
    assert "XML" in (inbox / "rejected" / "b.xml.reason.txt").read_text(encoding="utf-8")


async def test_json_logs_carry_request_id_and_codes(settings: Settings, engine: Engine) -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    configure_logging(fmt="json", stream=stream)
    try:
        app = create_app(settings, run_bots=False)
        async with TestClient(TestServer(app)) as test_client:
            response = await test_client.get(
                "/api/notices/N0042",
                headers={**bearer(api_token(engine)), "X-Request-Id": "req-12345678"},
            )
            assert response.headers["X-Request-Id"] == "req-12345678"
        logging.getLogger("gridcast.test").info("ticket T20261130-0012 escalated to N0042's scope")
        logging.getLogger("apscheduler.executors.default").info(
            'Running job "x" (scheduled at ...)'
        )
    finally:
        root.handlers[:], _ = saved[0], root.setLevel(saved[1])
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    about = next(line for line in lines if line["logger"] == "gridcast.test")
    assert about["ticket"] == "T20261130-0012" and about["notice"] == "N0042"
    assert about["level"] == "info" and "timestamp" in about
    assert not any(line["logger"].startswith("apscheduler") for line in lines)


def test_example_alerts_and_dashboard_use_real_metric_names() -> None:
    import yaml

    from core.metrics import SNAPSHOT

    docs = Path(__file__).parents[2] / "docs" / "ops"
    rules = yaml.safe_load((docs / "prometheus-alerts.yml").read_text(encoding="utf-8"))
    names = {r["alert"] for g in rules["groups"] for r in g["rules"]}
    assert {
        "GridcastBotAccountLoggedOut",
        "GridcastNoticeReachOver180s",
        "GridcastTicketsOverdue",
    } <= names
    dashboard = json.loads((docs / "grafana-dashboard.json").read_text(encoding="utf-8"))
    text = json.dumps(rules) + json.dumps(dashboard)
    known = {m.name for m in REGISTRY.collect()} | {m.name for m in SNAPSHOT.collect()}
    samples = {s.name for m in REGISTRY.collect() for s in m.samples}
    used = set(re.findall(r"gridcast_[a-z_]+", text))
    suffixes = ("_total", "_bucket", "_count", "_sum")
    unknown = {
        u
        for u in used
        if u not in known | samples and not any(u.removesuffix(x) in known for x in suffixes)
    }
    assert not unknown, unknown
