"""The rules of the staff's actions: 派单, 接单, 报到, 办结, 上报, 吹哨, 改派, 退单, 延期,
备注, and the system's 追加反映人 when the same problem is reported again.

Each rule checks, in order, the actor's role, the ticket's state and the actor's
scope, and returns the :class:`~tickets.lifecycle.checks.Outcome`.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from models.enums import ActorRole, TicketLevel, TicketState, Urgency
from tickets.lifecycle.actions import (
    Accept,
    AddReporter,
    Dispatch,
    Escalate,
    Extend,
    Reassign,
    Remark,
    Report,
    Resolve,
    Return,
    Whistle,
)
from tickets.lifecycle.checks import (
    Outcome,
    holder_level,
    ladder_notices,
    new_window,
    note_text,
    require_role,
    require_scope,
    require_state,
    require_system,
    to_reporters,
)
from tickets.lifecycle.scope import (
    holder_label,
    holder_recipient,
    is_handler,
    is_supervisor,
    level_recipient,
)
from tickets.lifecycle.states import (
    AWAITING_ACCEPTANCE,
    HANDLER_ROLES,
    LEADER_ROLES,
    LEVEL_ZH,
    OPEN_STATES,
    POST_LEVEL,
    RANK,
    ROLE_ZH,
    STAFF_ROLES,
    WORKING,
    level_above,
)
from tickets.lifecycle.values import Actor, Notification, Recipient, Rules, TicketView, refuse

__all__ = [
    "accept",
    "add_reporter",
    "dispatch",
    "escalate",
    "extend",
    "reassign",
    "remark",
    "report",
    "resolve",
    "return_ticket",
    "whistle",
]


def dispatch(ticket: TicketView, action: Dispatch, actor: Actor, now: datetime) -> Outcome:
    if actor.role not in (ActorRole.SYSTEM, ActorRole.TOWN_OFFICIAL):
        refuse(f"抱歉，只有镇综治中心可以派单。您无权处理工单{ticket.code}。")
    require_state(ticket, frozenset({TicketState.RECEIVED}), "派单", "如需换人，请用「改派」。")
    level = holder_level(action.to_name, action.to_role)
    new = new_window(
        ticket,
        now,
        state=TicketState.DISPATCHED,
        level=level,
        assignee=(action.to_person_id, action.to_name, action.to_role),
    )
    urgent = "【紧急】" if ticket.urgency is Urgency.URGENT else ""
    return Outcome(
        new,
        note=f"派给{ROLE_ZH[action.to_role]}{action.to_name}",
        notifications=[
            Notification(
                Recipient.person(action.to_person_id),
                f"{urgent}新工单{ticket.code}请您处理，签收请回复「接单 {ticket.code}」。",
            )
        ],
        reply=f"工单{ticket.code}已派给{action.to_name}。",
    )


def accept(
    ticket: TicketView, action: Accept, actor: Actor, now: datetime, rules: Rules
) -> Outcome:
    if actor.role is ActorRole.DEPARTMENT_LIAISON:
        refuse(f"部门接手工单请回复「报到 {ticket.code}」。")
    require_role(actor, STAFF_ROLES, ticket, "只有负责该工单的网格工作人员可以接单")
    require_state(ticket, AWAITING_ACCEPTANCE, "接单")
    if ticket.level is TicketLevel.DEPARTMENT:
        refuse(f"工单{ticket.code}已吹哨呼叫{holder_label(ticket)}，等待部门报到，不能接单。")
    if not is_handler(actor, ticket):
        hint = ""
        if is_supervisor(actor, ticket):
            hint = f"如需由您接手，请先「改派 {ticket.code} @您自己」。"
        refuse(f"工单{ticket.code}目前由{holder_label(ticket)}负责，不在您的负责范围内。{hint}")
    note = note_text(action.note, "接单说明", rules, required=False)
    new = replace(
        ticket,
        state=TicketState.ACCEPTED,
        assignee_id=actor.person_id,
        assignee_name=actor.name,
        assignee_role=actor.role,
        accepted_at=now,
    )
    who = f"{ROLE_ZH[actor.role]}{actor.name}".strip()
    return Outcome(
        new,
        note=note,
        notifications=to_reporters(ticket, f"您反映的问题（工单{ticket.code}）已由{who}签收处理。"),
        reply=f"已接单：工单{ticket.code}。处理完成后请回复「办结 {ticket.code} 处理结果」。",
    )


def report(
    ticket: TicketView, action: Report, actor: Actor, now: datetime, rules: Rules
) -> Outcome:
    require_role(actor, {ActorRole.DEPARTMENT_LIAISON}, ticket, "只有被呼叫部门的联络员可以报到")
    if ticket.level is not TicketLevel.DEPARTMENT and ticket.state in OPEN_STATES:
        refuse(f"工单{ticket.code}没有吹哨呼叫部门，无需报到。")
    require_state(ticket, frozenset({TicketState.DISPATCHED, TicketState.REOPENED}), "报到")
    if not is_handler(actor, ticket):
        refuse(f"工单{ticket.code}呼叫的是{holder_label(ticket)}，不是贵单位，无需报到。")
    note = note_text(action.note, "报到说明", rules, required=False)
    new = replace(
        ticket,
        state=TicketState.IN_PROGRESS,
        assignee_id=actor.person_id,
        assignee_name=actor.name,
        assignee_role=actor.role,
        accepted_at=now,
    )
    dept = holder_label(ticket)
    caller = ticket.whistled_from or TicketLevel.TOWN
    return Outcome(
        new,
        note=note,
        notifications=[
            Notification(
                level_recipient(ticket, caller),
                f"{dept}已报到，接手工单{ticket.code}（联络员{actor.name}）。",
            ),
            *to_reporters(ticket, f"您反映的问题（工单{ticket.code}）已由{dept}接手处理。"),
        ],
        reply=f"已报到：{dept}接手工单{ticket.code}。处理完成后请回复「办结 {ticket.code} 处理结果」。",
    )


def resolve(
    ticket: TicketView, action: Resolve, actor: Actor, now: datetime, rules: Rules
) -> Outcome:
    require_role(actor, HANDLER_ROLES, ticket, "只有工单承办人可以办结")
    require_state(
        ticket,
        WORKING,
        "办结",
        f"请先回复「接单 {ticket.code}」。" if ticket.state in AWAITING_ACCEPTANCE else "",
    )
    require_scope(is_handler(actor, ticket), ticket)
    note = note_text(action.note, "处理结果（如：办结 T… 已疏通下水道）", rules)
    new = replace(
        ticket,
        state=TicketState.RESOLVED,
        resolved_at=now,
        resolved_level=ticket.level,
        ratings=(),
    )
    notifications = to_reporters(
        ticket,
        f"您反映的问题（工单{ticket.code}）已办结：{note}。"
        f"请回复「满意 {ticket.code}」「基本满意 {ticket.code}」或「不满意 {ticket.code}」评价。",
    )
    if ticket.level is TicketLevel.DEPARTMENT:
        caller = ticket.whistled_from or TicketLevel.TOWN
        notifications.append(
            Notification(
                level_recipient(ticket, caller),
                f"{holder_label(ticket)}已办结工单{ticket.code}：{note}",
            )
        )
    return Outcome(
        new,
        note=note,
        notifications=notifications,
        reply=f"已办结：工单{ticket.code}，已请反映人评价。",
    )


def escalate(
    ticket: TicketView, action: Escalate, actor: Actor, now: datetime, rules: Rules
) -> Outcome:
    require_role(actor, LEADER_ROLES, ticket, "只有网格长及以上人员可以上报工单")
    require_state(ticket, OPEN_STATES, "上报")
    target = level_above(ticket.level)
    if ticket.level is TicketLevel.DEPARTMENT:
        refuse(f"工单{ticket.code}已由{holder_label(ticket)}承办，不能再上报。")
    if target is None:
        refuse(f"工单{ticket.code}已在镇级处理，不能再上报；如需部门协同，请用「吹哨」。")
    require_scope(is_handler(actor, ticket) or is_supervisor(actor, ticket), ticket)
    reason = note_text(action.reason, "上报原因（如：上报 T… 涉及多个网格）", rules)
    new = new_window(ticket, now, state=TicketState.DISPATCHED, level=target)
    return Outcome(
        new,
        note=reason,
        notifications=ladder_notices(ticket, new, f"上报原因：{reason}", "上报"),
        reply=f"已上报：工单{ticket.code}转{LEVEL_ZH[target]}级处理。",
    )


def whistle(
    ticket: TicketView, action: Whistle, actor: Actor, now: datetime, rules: Rules
) -> Outcome:
    require_role(actor, LEADER_ROLES, ticket, "只有网格长及以上人员可以吹哨")
    require_state(ticket, OPEN_STATES, "吹哨")
    if ticket.level is TicketLevel.DEPARTMENT:
        if ticket.department_code == action.department_code:
            refuse(f"工单{ticket.code}已呼叫{holder_label(ticket)}，无需重复吹哨。")
        require_scope(is_supervisor(actor, ticket), ticket)
    else:
        require_scope(is_handler(actor, ticket) or is_supervisor(actor, ticket), ticket)
    note = note_text(action.note, "吹哨说明", rules, required=False)
    caller = ticket.whistled_from if ticket.level is TicketLevel.DEPARTMENT else ticket.level
    new = new_window(
        ticket,
        now,
        state=TicketState.DISPATCHED,
        level=TicketLevel.DEPARTMENT,
        department=(action.department_code, action.department_name),
        whistled_from=caller,
    )
    why = f"：{note}" if note else ""
    notifications = [
        Notification(
            Recipient.department(action.department_code),
            f"【吹哨】{LEVEL_ZH[caller or TicketLevel.TOWN]}对工单{ticket.code}吹哨，"
            f"呼叫{action.department_name}协同处理{why}。请联络员回复「报到 {ticket.code}」。",
        ),
        *to_reporters(
            ticket, f"您反映的问题（工单{ticket.code}）已呼叫{action.department_name}协同处理。"
        ),
    ]
    if ticket.level is TicketLevel.DEPARTMENT:
        notifications.append(
            Notification(
                holder_recipient(ticket),
                f"工单{ticket.code}已改由{action.department_name}承办。",
            )
        )
    return Outcome(
        new,
        note=f"呼叫{action.department_name}{why}",
        notifications=notifications,
        reply=f"已吹哨：工单{ticket.code}呼叫{action.department_name}，等待部门报到。",
    )


def reassign(
    ticket: TicketView, action: Reassign, actor: Actor, now: datetime, rules: Rules
) -> Outcome:
    require_role(actor, LEADER_ROLES, ticket, "只有网格长及以上人员可以改派工单")
    require_state(ticket, OPEN_STATES, "改派")
    if ticket.level is TicketLevel.DEPARTMENT:
        require_scope(is_supervisor(actor, ticket), ticket)
    else:
        require_scope(is_handler(actor, ticket) or is_supervisor(actor, ticket), ticket)
    level = holder_level(action.to_name, action.to_role)
    post = POST_LEVEL[actor.role]
    if RANK[level] > RANK[post]:
        refuse(
            f"{ROLE_ZH[actor.role]}只能改派给{LEVEL_ZH[post]}级及以下人员；"
            f"如需上级处理，请用「上报 {ticket.code} 原因」。"
        )
    if action.to_person_id == ticket.assignee_id and ticket.level is not TicketLevel.DEPARTMENT:
        refuse(f"工单{ticket.code}已由{action.to_name}负责，无需改派。")
    note = note_text(action.note, "改派说明", rules, required=False)
    moved = replace(
        ticket,
        grid_id=action.to_grid_id or ticket.grid_id,
        village_id=action.to_village_id or ticket.village_id,
    )
    new = new_window(
        moved,
        now,
        state=TicketState.DISPATCHED,
        level=level,
        assignee=(action.to_person_id, action.to_name, action.to_role),
    )
    notifications = [
        Notification(
            Recipient.person(action.to_person_id),
            f"工单{ticket.code}改派给您处理，签收请回复「接单 {ticket.code}」。",
        )
    ]
    if not is_handler(actor, ticket):
        notifications.append(
            Notification(holder_recipient(ticket), f"工单{ticket.code}已改派给{action.to_name}。")
        )
    return Outcome(
        new,
        note=f"改派给{ROLE_ZH[action.to_role]}{action.to_name}" + (f"：{note}" if note else ""),
        notifications=notifications,
        reply=f"已改派：工单{ticket.code}交由{action.to_name}处理。",
    )


def return_ticket(
    ticket: TicketView, action: Return, actor: Actor, now: datetime, rules: Rules
) -> Outcome:
    require_role(actor, HANDLER_ROLES, ticket, "只有工单承办人可以退单")
    require_state(
        ticket,
        AWAITING_ACCEPTANCE,
        "退单",
        f"已签收的工单如需他人处理，请用「上报 {ticket.code} 原因」或请上级改派。",
    )
    require_scope(is_handler(actor, ticket), ticket)
    reason = note_text(action.reason, "退单原因（如：退单 T… 不属于本网格）", rules)
    # Back to whoever routes the ticket: the level above, the town at the top, or
    # for a department the level that blew the whistle.
    if ticket.level is TicketLevel.DEPARTMENT:
        target = ticket.whistled_from or TicketLevel.TOWN
    else:
        target = level_above(ticket.level) or TicketLevel.TOWN
    new = new_window(ticket, now, state=TicketState.RETURNED, level=target)
    return Outcome(
        new,
        note=reason,
        notifications=[
            Notification(
                level_recipient(new, target),
                f"工单{ticket.code}被{holder_label(ticket)}退单（{reason}），请重新派单："
                f"「改派 {ticket.code} @某人」，或自行「接单 {ticket.code}」。",
            )
        ],
        reply=f"已退单：工单{ticket.code}退回{LEVEL_ZH[target]}级重新派单。",
    )


def extend(ticket: TicketView, action: Extend, actor: Actor, rules: Rules) -> Outcome:
    require_role(actor, HANDLER_ROLES, ticket, "只有工单承办人或其上级可以延期")
    require_state(
        ticket,
        WORKING,
        "延期",
        f"请先回复「接单 {ticket.code}」。" if ticket.state in AWAITING_ACCEPTANCE else "",
    )
    require_scope(is_handler(actor, ticket) or is_supervisor(actor, ticket), ticket)
    if not 1 <= action.days <= rules.max_extension_days:
        refuse(f"每次延期为1到{rules.max_extension_days}天，{action.days}天不行。")
    if ticket.extension_count >= rules.max_extensions:
        refuse(
            f"工单{ticket.code}已延期{ticket.extension_count}次，最多只能延期"
            f"{rules.max_extensions}次；如确实无法办结，请「上报」或「吹哨」。"
        )
    reason = note_text(action.reason, "延期原因（如：延期 T… 3天 等待材料）", rules)
    new = replace(
        ticket,
        state=TicketState.IN_PROGRESS,
        extension_count=ticket.extension_count + 1,
        extended_days=ticket.extended_days + action.days,
    )
    return Outcome(
        new,
        note=f"延期{action.days}天：{reason}",
        notifications=to_reporters(
            ticket,
            f"您反映的问题（工单{ticket.code}）办理时限延长{action.days}天，原因：{reason}。",
        ),
        reply=f"已延期：工单{ticket.code}延长{action.days}天"
        f"（第{new.extension_count}次，最多{rules.max_extensions}次）。",
    )


def remark(ticket: TicketView, action: Remark, actor: Actor, rules: Rules) -> Outcome:
    require_role(actor, HANDLER_ROLES, ticket, "只有工单承办人或其上级可以备注")
    if ticket.state is TicketState.CLOSED:
        refuse(f"工单{ticket.code}已关闭，不能再备注。")
    handler = is_handler(actor, ticket)
    require_scope(handler or is_supervisor(actor, ticket), ticket)
    note = note_text(action.note, "备注内容", rules)
    state = (
        TicketState.IN_PROGRESS
        if handler and ticket.state is TicketState.ACCEPTED
        else ticket.state
    )
    notifications = []
    if not handler:
        notifications.append(
            Notification(
                holder_recipient(ticket),
                f"{ROLE_ZH[actor.role]}{actor.name}对工单{ticket.code}备注：{note}",
            )
        )
    return Outcome(
        replace(ticket, state=state),
        note=note,
        notifications=notifications,
        reply=f"已备注：工单{ticket.code}。",
    )


def add_reporter(ticket: TicketView, action: AddReporter, actor: Actor) -> Outcome:
    require_system(actor, ticket, "追加反映人")
    require_state(ticket, OPEN_STATES, "追加反映人", "请新建工单。")
    if action.person_id in ticket.reporter_ids:
        refuse(f"您已反映过这个问题（工单{ticket.code}），我们正在处理。")
    new = replace(ticket, reporter_ids=(*ticket.reporter_ids, action.person_id))
    return Outcome(new, note=f"追加反映人{action.person_id}")
