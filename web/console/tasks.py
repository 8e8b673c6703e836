"""任务: tasks to grids (任务下达) in the console — the list within the person's scopes,
one task's completion per village and grid with its export, and assigning a task.

Assigning is the chat's ``#任务``: each scope is checked with the policy's ASSIGN_TASK (a
town official anywhere, a station chief in their own village), :func:`rhythm.tasks.assign_task`
creates it, the grid leaders' private messages go through the bots (or the outbox when
this process runs none), and the audit entry is ``task.assign``.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time
from typing import Any

from aiohttp import web
from sqlmodel import Session

from broadcast.service import scope_unit
from core.clock import TOWN_TZ, format_local_time, utcnow
from core.messaging import Reply
from core.policy import Permission, Principal, decide
from models.auth import AuditOutcome
from models.db import run_in_session
from models.org import PATH_SEP, OrgPath, Person, town_relative
from models.rhythm import Task, TaskState
from orgtree.directory import contact_id_of
from rhythm.tasks import AssignmentRow, TaskError, assign_task, report_file, task_lines, task_status
from tickets.outbox import queue_replies
from web.console.base import CONSOLE, page, principal_required, routes, widest_scope
from web.console.scopes import picker_places, ticket_scopes
from web.endpoints import ApiError, guarded, json_response
from web.keys import DESK, ENGINE, SETTINGS
from web.security import audit, authorize

TASK_CODE = r"{code:R\d{4,6}}"
DEFAULT_DUE = time(18, 0)
"""A task due on a day is due at the end of its working day (as in chat)."""
MAX_SCOPES = 50


async def _scopes(request: web.Request) -> list[OrgPath] | None:
    """Where the person sees tasks (their grids' share): ``None`` the whole town."""
    principal = principal_required(request)
    scopes = ticket_scopes(principal)
    if scopes == []:
        await authorize(request, Permission.VIEW_TICKETS, scope=())
    return scopes


@routes.get(CONSOLE + "tasks")
@guarded(Permission.VIEW_TICKETS)
async def task_list(request: web.Request) -> web.StreamResponse:
    """The latest tasks with a grid in the person's scopes: code, title, deadline, issuer,
    and those grids by state (领取, 进行中, 完成, 退回), late ones marked."""
    scopes = await _scopes(request)
    principal = principal_required(request)
    town = request.app[SETTINGS].town.name
    now = utcnow()
    lines = await run_in_session(
        request.app[ENGINE], lambda s: task_lines(s, town=town, scopes=scopes, now=now)
    )
    return await page(
        request,
        "tasks.html",
        {
            "title": "任务",
            "lines": lines,
            "states": list(TaskState),
            "now": now,
            "can_assign": widest_scope(principal, Permission.ASSIGN_TASK) is not None,
        },
    )


def _visible(principal: Principal, rows: list[AssignmentRow]) -> list[AssignmentRow]:
    return [r for r in rows if decide(principal, Permission.VIEW_TICKETS, scope=r.place)]


async def _task(request: web.Request) -> tuple[Task, list[AssignmentRow], Principal]:
    """The task and its grids the person may see (a refusal when none)."""
    code = request.match_info["code"].upper()
    try:
        task, rows = await run_in_session(request.app[ENGINE], lambda s: task_status(s, code))
    except TaskError as exc:
        raise ApiError(404, exc.message) from None
    principal = principal_required(request)
    shown = _visible(principal, rows)
    if not shown:
        first = tuple(task.scope[0].split(PATH_SEP)) if task.scope else ()
        await authorize(request, Permission.VIEW_TICKETS, scope=first, target=code)
    return task, shown, principal


@routes.get(CONSOLE + "tasks/" + TASK_CODE)
@guarded(Permission.VIEW_TICKETS)
async def task_page(request: web.Request) -> web.StreamResponse:
    """One task: completion per village and grid (leader, state, progress, checklist
    units, note), and its report as CSV or XLSX."""
    task, rows, _principal = await _task(request)
    villages: dict[str, list[int]] = {}
    for row in rows:
        done_total = villages.setdefault(row.village, [0, 0])
        done_total[0] += row.state is TaskState.DONE
        done_total[1] += 1
    now = utcnow()
    open_late = task.deadline < now
    return await page(
        request,
        "task.html",
        {
            "title": f"任务 {task.code}",
            "task": task,
            "rows": rows,
            "villages": villages,
            "done": sum(1 for r in rows if r.state is TaskState.DONE),
            "late": open_late,
            "closed_states": (TaskState.DONE, TaskState.RETURNED),
            "scope_label": "、".join(task.scope),
        },
    )


@routes.get(CONSOLE + "tasks/" + TASK_CODE + "/export.{kind:csv|xlsx}")
@guarded(Permission.VIEW_TICKETS)
async def task_export(request: web.Request) -> web.StreamResponse:
    """The task's report per grid (the grids the person may see), as ``gridcast task
    export`` writes it."""
    task, rows, _principal = await _task(request)
    kind = request.match_info["kind"]
    body = await asyncio.to_thread(report_file, task, rows, kind)
    await audit(request, "task.export", target=task.code, message=f"导出任务报表（{kind}）")
    content_type = (
        "text/csv"
        if kind == "csv"
        else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    return web.Response(
        body=body,
        content_type=content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{task.code}.{kind}"',
            "Cache-Control": "no-store",
        },
    )


@routes.get(CONSOLE + "tasks/new")
@guarded(Permission.ASSIGN_TASK)
async def task_form(request: web.Request) -> web.StreamResponse:
    """Title, the scopes (villages, grids; units typed), deadline, description, checklist."""
    principal = principal_required(request)
    root = widest_scope(principal, Permission.ASSIGN_TASK)
    if root is None:
        await authorize(request, Permission.ASSIGN_TASK, scope=())
        root = ()
    town = request.app[SETTINGS].town.name
    places = await run_in_session(request.app[ENGINE], lambda s: picker_places(s, town, root or ()))
    today = utcnow().astimezone(TOWN_TZ).date()
    return await page(
        request,
        "task_new.html",
        {
            "title": "下达任务",
            "places": [p for p in places if p["depth"] > 0],  # not the town: list its villages
            "today": today.isoformat(),
        },
    )


def _deadline(day_text: str, time_text: str, now: datetime) -> tuple[datetime | None, str]:
    """The deadline from the form's day and time (town time), or the problem with them."""
    try:
        day = date.fromisoformat(day_text.strip()[:10])
    except ValueError:
        return None, f"完成期限「{day_text[:20]}」应写成 2026-12-05 这样的日期"
    at = DEFAULT_DUE
    if time_text.strip():
        try:
            at = time.fromisoformat(time_text.strip()[:5])
        except ValueError:
            return None, f"时间「{time_text[:10]}」应写成 18:00 这样"
    deadline = datetime.combine(day, at, tzinfo=TOWN_TZ).astimezone(UTC)
    if deadline <= now:
        return None, "完成期限必须在现在之后"
    return deadline, ""


async def _form(request: web.Request) -> dict[str, Any]:
    if request.content_type == "application/json":
        try:
            data = await request.json()
        except ValueError:
            raise ApiError(400, "请求内容不是有效的 JSON") from None
        if not isinstance(data, dict):
            raise ApiError(400, "请求内容应是一个对象")
        scopes = data.get("scope", [])
        return {**data, "scope": scopes if isinstance(scopes, list) else [scopes]}
    form = await request.post()
    return {
        **{k: v for k, v in form.items() if isinstance(v, str)},
        "scope": [v for v in form.getall("scope", []) if isinstance(v, str)],
    }


@routes.post(CONSOLE + "tasks")
@guarded(Permission.ASSIGN_TASK)
async def task_assign(request: web.Request) -> web.StreamResponse:
    """Assign a task as the signed-in person: each scope is checked (ASSIGN_TASK), the
    grid leaders get it privately, ``task.assign`` is audited. Nothing is written when
    anything is wrong."""
    principal = principal_required(request)
    form = await _form(request)
    settings = request.app[SETTINGS]
    town = settings.town.name
    written = [str(s).strip() for s in form.get("scope", []) if str(s).strip()]
    written += [
        s.strip()
        for s in str(form.get("scope_text", "")).replace("，", "、").replace(",", "、").split("、")
        if s.strip()
    ]
    written = list(dict.fromkeys(written))
    if not written:
        raise ApiError(400, "请选择或填写任务范围（村、网格或单元）")
    if len(written) > MAX_SCOPES:
        raise ApiError(400, f"范围最多 {MAX_SCOPES} 个")
    own = [post.scope for post in principal.posts if post.scope]

    def resolve(session: Session) -> list[tuple[str, OrgPath | None]]:
        found: list[tuple[str, OrgPath | None]] = []
        for text in written:
            cleaned = text[len(town) + 1 :] if text.startswith(town + PATH_SEP) else text
            try:
                unit = scope_unit(session, cleaned[:200], town=town, relative_to=own)
            except LookupError:
                found.append((text, None))
            else:
                found.append((text, town_relative(unit.path)))
        return found

    resolved = await run_in_session(request.app[ENGINE], resolve)
    unknown = [text for text, path in resolved if path is None]
    if unknown:
        raise ApiError(
            400,
            "找不到范围："
            + "、".join(f"「{u[:40]}」" for u in unknown)
            + "（写法：村、村/网格 或 村/网格/单元）",
        )
    paths = [path for _text, path in resolved if path is not None]
    for path in paths:
        if not path:
            raise ApiError(400, "任务请下达到村、网格或单元，全镇请选择各村")
        await authorize(request, Permission.ASSIGN_TASK, scope=path, target="/".join(path))
    title = str(form.get("title", "")).strip()
    body = str(form.get("body", "")).strip()
    problems = []
    if not title or len(title) > 60:
        problems.append("任务名称请写在 1 到 60 字之间")
    if len(body) > 2000:
        problems.append("说明最多 2000 字")
    now = utcnow()
    deadline, problem = _deadline(str(form.get("deadline", "")), str(form.get("time", "")), now)
    if problem:
        problems.append(problem)
    if problems or deadline is None:
        raise ApiError(400, "；".join(problems), problems=problems)
    checklist = str(form.get("checklist", "")) in ("1", "on", "true", "True")
    desk = request.app.get(DESK)
    person_id = principal.person_id

    def work(session: Session) -> tuple[str, list[Reply], list[AssignmentRow]]:
        person = session.get(Person, person_id) if person_id is not None else None
        task, replies = assign_task(
            session,
            settings,
            title=title,
            scope=[PATH_SEP.join((town, *p)) for p in paths],
            deadline=deadline,
            now=now,
            issuer_name=person.name if person else principal.name,
            issuer_contact_id=contact_id_of(person) if person else None,
            issuer_person_id=person_id,
            body=body,
            checklist=checklist,
        )
        if desk is None:  # no bot in this process: the running system's timer job sends them
            queue_replies(session=session, replies=replies, now=now)
        return task.code, replies, task_status(session, task.code)[1]

    try:
        code, replies, grids = await run_in_session(request.app[ENGINE], work)
    except TaskError as exc:
        await audit(
            request,
            "task.assign",
            outcome=AuditOutcome.REFUSED,
            target="、".join(written)[:200],
            message=exc.message,
        )
        raise ApiError(400, exc.message) from None
    scope = paths[0] if len(paths) == 1 else ()
    if desk is not None:
        for message in replies:
            try:
                await desk.send(message)
            except Exception as exc:  # the task stands; the grid leader was not told
                await audit(
                    request,
                    "task.assign",
                    outcome=AuditOutcome.FAILED,
                    target=code,
                    scope=scope,
                    message=f"任务消息未能发送：{exc}",
                )
    await audit(request, "task.assign", target=code, scope=scope, message=title[:200])
    without = [row.grid for row in grids if not row.leader]
    text = (
        f"任务 {code}「{title}」已下达到 {len(grids) - len(without)} 位网格长，"
        f"期限 {format_local_time(deadline)}。"
    )
    if without:
        text += f"以下网格没有网格长，请另行安排：{'、'.join(without)}。"
    return json_response({"message": text, "code": code, "redirect": f"{CONSOLE}tasks/{code}"})
