"""Personal data for admins (the console's 个人信息 page): export and erase a person."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import Field
from sqlmodel import Session

from core.policy import Permission
from core.privacy import mask_phone
from models.db import run_in_session
from tickets.personal_data import PersonNotFound, erase_person, export_person
from web.endpoints import Api, ApiError, Strict
from web.keys import ENGINE
from web.security import audit

api = Api()


class PersonIn(Strict):
    who: str = Field(
        min_length=3, max_length=128, description="11-digit phone or WeChat contact id"
    )


class EraseIn(PersonIn):
    confirm: bool = Field(description="must be true: erasure cannot be undone")


class RosterOut(Strict):
    name: str
    phone: str
    wechat_id: str | None


class ReportOut(Strict):
    code: str
    reported_as: str
    phone: str | None
    channel: str
    reported_at: str
    text: str
    state: str
    category: str
    location: str | None


class MessageOut(Strict):
    received_at: str
    room_id: str | None
    name: str
    text: str
    decision: str


class PersonExportOut(Strict):
    query: str
    roster: RosterOut | None
    contact_ids: list[str]
    tickets: list[ReportOut]
    messages: list[MessageOut]


class ErasureOut(Strict):
    reporters: int
    tickets: list[str]
    messages: int
    in_roster: bool


def _target(who: str) -> str:
    return mask_phone(who) if who.isdigit() else who[:6] + "…"


@api.endpoint(
    "POST",
    "/api/persons/export",
    permission=Permission.ADMIN,
    summary="Everything held about one person (个人信息导出); in the audit trail",
    body=PersonIn,
    response=PersonExportOut,
    errors=(400, 401, 403, 404),
    tag="privacy",
)
async def person_export(request: web.Request, *, body: PersonIn) -> Any:
    try:
        data = await run_in_session(request.app[ENGINE], lambda s: export_person(s, body.who))
    except PersonNotFound as exc:
        raise ApiError(404, str(exc)) from None
    await audit(
        request,
        "person.export",
        target=_target(body.who),
        detail={"tickets": len(data["tickets"]), "messages": len(data["messages"])},
        message="导出个人信息",
    )
    return data


@api.endpoint(
    "POST",
    "/api/persons/erase",
    permission=Permission.ADMIN,
    summary="Erase one person's identifying data from tickets and messages (statistics kept)",
    body=EraseIn,
    response=ErasureOut,
    errors=(400, 401, 403, 404),
    tag="privacy",
)
async def person_erase(request: web.Request, *, body: EraseIn) -> ErasureOut:
    if not body.confirm:
        raise ApiError(400, "删除不可恢复：请传 confirm: true")

    def erase(session: Session) -> ErasureOut:
        done = erase_person(session, body.who)
        return ErasureOut(
            reporters=done.reporters,
            tickets=done.ticket_codes,
            messages=done.messages,
            in_roster=done.in_roster,
        )

    try:
        out = await run_in_session(request.app[ENGINE], erase)
    except PersonNotFound as exc:
        raise ApiError(404, str(exc)) from None
    await audit(
        request,
        "person.erase",
        target=_target(body.who),
        detail=out.model_dump(),
        message="删除个人信息",
    )
    return out
