"""Chat handlers for notices: issuing (#通知 ... then #确认), corrections, status,
and the receipts (收到) that acknowledge them."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlmodel import Session

from bot.audit import chat_principal, record_chat
from bot.dispatcher import Context, Router, reply_in_place
from broadcast import actions, compose, receipts, service
from broadcast.chasing import Chaser
from broadcast.engine import Broadcaster, NoticeRequest
from core.messaging import Reply
from core.policy import ISSUER_ROLES, Permission, decide
from models.auth import AuditOutcome
from models.broadcast import NoticePriority, NoticeStatus
from models.db import run_in_session
from models.enums import Role

log = logging.getLogger(__name__)


def notices_router(
    broadcaster: Broadcaster, *, town: str, deadline_s: float, chaser: Chaser | None = None
) -> Router:
    router = Router("notices")
    engine = broadcaster.engine

    async def refuse(context: Context, reason: str) -> Sequence[Reply]:
        now = context.now
        sender = context.sender
        await run_in_session(
            engine,
            lambda s: service.log_refusal(
                s,
                contact_id=sender.contact_id,
                name=sender.name,
                text=context.text,
                reason=reason,
                now=now,
            ),
        )
        log.info("notice refused for %s (%s): %s", sender.name, sender.contact_id, reason)
        await audit(context, "notice.refused", outcome=AuditOutcome.REFUSED, message=reason)
        return [reply_in_place(context.message, reason)]

    async def audit(
        context: Context,
        action: str,
        *,
        outcome: AuditOutcome = AuditOutcome.OK,
        target: str = "",
        message: str = "",
    ) -> None:
        await run_in_session(
            engine,
            lambda s: record_chat(
                s, context, action, outcome=outcome, target=target, message=message
            ),
        )

    @router.message()
    async def notice_command(context: Context) -> Sequence[Reply] | None:
        command = compose.parse_command(context.text)
        if command is None:
            return None
        if isinstance(command, compose.NoticeInvalid):
            return [reply_in_place(context.message, str(command))]
        sender = context.sender
        principal = chat_principal(context)
        if principal is None or not principal.holds(*ISSUER_ROLES):
            return await refuse(
                context, "抱歉，只有镇干部、村网格站站长和网格长可以发布或管理通知。"
            )
        if isinstance(command, compose.IssueCommand):
            try:
                own = [path for _role, path in sender.roles if path]
                scope = await run_in_session(
                    engine,
                    lambda s: service.scope_unit(s, command.scope, town=town, relative_to=own),
                )
            except LookupError as exc:
                return [reply_in_place(context.message, f"{exc}。{compose.ISSUE_USAGE}")]
            decision = decide(principal, Permission.ISSUE_NOTICE, scope=scope.town_path)
            if not decision:
                return await refuse(context, decision.reason)
            prepared = await broadcaster.prepare(
                NoticeRequest(
                    title=command.title,
                    body=command.body,
                    scope=scope.path,
                    levels=command.levels,
                    priority=NoticePriority.URGENT if command.urgent else NoticePriority.NORMAL,
                    deadline_s=deadline_s,
                    issuer_name=sender.name,
                    issuer_person_id=sender.person_id,
                    channel="chat",
                )
            )
            text = f"{prepared.summary_zh()}\n确认发送请回复：#确认 {prepared.code}\n放弃请回复：#取消 {prepared.code}"
            await audit(
                context,
                "notice.create",
                target=prepared.code,
                message=f"发布通知 {prepared.code}「{command.title}」到 {prepared.groups} 个群，待确认",
            )
            return [reply_in_place(context.message, text)]
        return await code_command(context, command)

    async def code_command(context: Context, command: compose.CodeCommand) -> Sequence[Reply]:
        sender = context.sender
        try:
            notice = await run_in_session(engine, lambda s: service.notice_by_code(s, command.code))
        except service.NoticeNotFound as exc:
            return [reply_in_place(context.message, f"{exc}，请核对通知编号（例如 N0042）。")]
        if command.verb != "status":
            decision = decide(
                chat_principal(context),
                Permission.MANAGE_NOTICE,
                issuer_person_id=notice.issuer_person_id,
            )
            if not decision:
                return await refuse(context, f"抱歉，{decision.reason}（通知 {notice.code}）。")
        try:
            if command.verb == "confirm":
                await broadcaster.confirm(notice.code)
                await audit(
                    context, "notice.confirm", target=notice.code, message=f"确认发送 {notice.code}"
                )
                return [
                    reply_in_place(
                        context.message,
                        f"通知 {notice.code} 开始发送，发送“#通知状态 {notice.code}”查看进度。",
                    )
                ]
            if command.verb == "cancel":
                await broadcaster.cancel(notice.code)
                await audit(
                    context, "notice.cancel", target=notice.code, message=f"取消 {notice.code}"
                )
                return [reply_in_place(context.message, f"通知 {notice.code} 已取消，没有发出。")]
            if command.verb == "status":
                report = await run_in_session(engine, lambda s: service.reach_report(s, notice))
                return [reply_in_place(context.message, status_text(report))]
            if command.verb == "chase":
                if chaser is None:
                    return [reply_in_place(context.message, "本系统没有开启催办。")]
                reminded = await chaser.chase_now(notice.code)
                await audit(
                    context,
                    "notice.chase",
                    target=notice.code,
                    message=f"催办 {notice.code}：{reminded} 个群",
                )
                text = (
                    f"已催办：通知 {notice.code} 未确认的 {reminded} 个群正在收到提醒。"
                    if reminded
                    else f"通知 {notice.code} 没有需要催办的群（都已确认，或不需要确认）。"
                )
                return [reply_in_place(context.message, text)]
            if command.verb == "retract":
                recalled = await actions.recall(
                    broadcaster,
                    notice.code,
                    issuer_name=sender.name,
                    issuer_person_id=sender.person_id,
                    channel="chat",
                    reason=command.text,
                )
                child = f"（{recalled.retraction.code}）" if recalled.retraction else ""
                await audit(
                    context,
                    "notice.recall",
                    target=notice.code,
                    message=f"撤回 {notice.code}{child}"
                    + (f"，原因：{command.text.strip()}" if command.text.strip() else ""),
                )
                return [reply_in_place(context.message, recalled.summary_zh())]
            prepared = await actions.correct(
                broadcaster,
                notice.code,
                command.text,
                issuer_name=sender.name,
                issuer_person_id=sender.person_id,
                channel="chat",
            )
        except compose.NoticeInvalid as exc:
            return [reply_in_place(context.message, str(exc))]
        await audit(
            context,
            "notice.correct",
            target=notice.code,
            message=f"更正 {notice.code}（{prepared.code}）",
        )
        waits = notice.status is NoticeStatus.SENDING
        text = (
            f"更正 {prepared.code} 将在通知 {notice.code} 发送完毕后，发往收到它的群（最多 {prepared.groups} 个）。"
            if waits
            else f"更正 {prepared.code} 正在发往收到通知 {notice.code} 的 {prepared.groups} 个群。"
        )
        if notice.ack_required:
            text += f"各群对更正的“收到”单独统计，原通知 {notice.code} 不再催办。"
        return [reply_in_place(context.message, text)]

    return router


def receipts_router(
    engine_holder: Broadcaster, *, ack_words: Sequence[str], window: timedelta
) -> Router:
    router = Router("receipts")
    engine = engine_holder.engine

    @router.message()
    async def receipt(context: Context) -> Sequence[Reply] | None:
        message = context.message
        if message.room_id is None or context.group is None:
            return None
        urged = receipts.is_urged_confirmation(context.text)
        if not urged and not receipts.is_acknowledgement(context.text, ack_words):
            return None
        room_id = message.room_id

        def record(session: Session) -> receipts.ReceiptOutcome | None:
            return receipts.record_receipt(
                session,
                room_id=room_id,
                contact_id=message.sender_id,
                name=message.sender_name,
                text=context.text,
                now=context.now,
                window=window,
                urged=urged,
            )

        outcome = await run_in_session(engine, record)
        if outcome is None:
            return None
        if outcome.marks_group:  # its reminder, if still waiting, is no longer needed
            engine_holder.skip_reminders(outcome.notice_code, room_id)
        if outcome.shop_second_leader and outcome.new:
            # 双单元长: the owner must read it; the second leader confirms reaching them.
            return [reply_in_place(message, _SHOP_SECOND_LEADER.format(code=outcome.notice_code))]
        if urged and outcome.role is Role.SECOND_UNIT_LEADER:
            return [
                reply_in_place(message, f"已记录：您已督促店主阅知通知 {outcome.notice_code}。")
            ]
        if urged and not outcome.marks_group:
            return [reply_in_place(message, _URGED_NOT_YOURS)]
        return []  # a receipt needs no answer in the group

    return router


_SHOP_SECOND_LEADER = (
    "已记录您已阅通知 {code}。本商铺需店主本人回复“收到”；"
    "如您已当面或电话督促店主，请回复“已督促”。"
)
_URGED_NOT_YOURS = "“已督促”由沿街商铺的第二单元长在督促店主后回复；店主本人请回复“收到”。"


def status_text(report: dict[str, object]) -> str:
    """The reach report as the issuer reads it in chat."""
    levels = report["levels"]
    assert isinstance(levels, dict)
    lines = [
        f"通知 {report['code']}「{report['title']}」：共 {report['targeted']} 个群，已送达 {report['sent']} 个。"
    ]
    if report.get("status") == "recalled":
        lines[0] += "已撤回：未发出的不再发送，也不再催办。"
    for level in levels.values():
        lines.append(
            f"{level['name']}：送达 {level['sent']}/{level['targeted']}，失败 {level['failed']}，"
            f"无法送达 {level['unreachable']}，不确定 {level['uncertain']}，已确认 {level['acknowledged']}"
        )
    time_to = report["time_to"]
    assert isinstance(time_to, dict)
    if time_to.get("100%") is not None:
        lines.append(f"全部送达用时 {time_to['100%']} 秒（90% 用时 {time_to['90%']} 秒）。")
    silent = report["silent_units"]
    assert isinstance(silent, list)
    if silent:
        shown = "、".join(s.split("/")[-1] for s in silent[:10])
        lines.append(f"未确认单元 {len(silent)} 个：{shown}{'等' if len(silent) > 10 else ''}。")
    households = report.get("households")
    if isinstance(households, dict):
        lines.extend(household_lines(households))
    return "\n".join(lines)


MAX_HOUSEHOLD_LINES = 15


def household_lines(households: dict[str, Any]) -> list[str]:
    """每家每户: households reached and confirmed, in total and one level below the scope
    (villages; the grids of one village; the units of one grid)."""
    if not households.get("units"):
        return []

    def figures(t: dict[str, Any]) -> str:
        return (
            f"送达 {t['reached']}/{t['households']}户，单元长确认已通知 {t['confirmed']}户"
            f"（{t['confirmed_share'] * 100:.0f}%）"
        )

    lines = [f"户数：{figures(households)}。"]
    if households.get("unknown_units"):
        lines.append(f"另有 {households['unknown_units']} 个单元花名册未登记户数，未计入。")
    villages, grids = households["villages"], households["grids"]
    if len(villages) > 1:
        parts = [(v["village"], v) for v in villages]
    elif len(grids) > 1:
        parts = [(g["grid"], g) for g in grids]
    else:
        parts = [
            (
                u["path"].split("/")[-1],
                {
                    "households": u["households"] or 0,
                    "reached": (u["households"] or 0) if u["reached"] else 0,
                    "confirmed": u["confirmed"] or 0,
                    "confirmed_share": (u["confirmed"] or 0) / u["households"]
                    if u["households"]
                    else 0.0,
                },
            )
            for u in households["units"]
        ]
    for name, tally in parts[:MAX_HOUSEHOLD_LINES]:
        lines.append(f"  {name}：{figures(tally)}")
    if len(parts) > MAX_HOUSEHOLD_LINES:
        lines.append(f"  …共 {len(parts)} 项，详见控制台。")
    return lines
