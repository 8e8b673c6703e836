"""The embedded deployment: which bot account sits in which group, and the
simulated WeChat world built from the org tree.

With real WeChat the memberships are whatever the accounts were invited to, and
the bot discovers them (``gridcast plan accounts`` says which invitations turn them
into the design). For the sandbox, gridcast decides them here with the membership
design: every group has ``accounts_per_room`` accounts and any two accounts share
about the same number of groups.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import Session, col, select

from broadcast.membership import design_memberships
from core.config import BotAccountSettings, Settings
from models.enums import Level, Role
from models.org import OrgUnit, Person, RoleAssignment
from orgtree import names
from orgtree.binding import topic_for
from orgtree.directory import contact_id_of
from sandbox.risk import SandboxRiskSettings
from sandbox.world import AccountSpec, MemberSpec, RoomSpec, WorldSpec

ROOM_CAP = 500
"""WeChat's group size limit."""


@dataclass(frozen=True, slots=True)
class GroupSlot:
    """An org unit's group as the deployment sees it."""

    path: tuple[str, ...]
    level: Level


def assign_accounts(
    groups: Sequence[GroupSlot], account_ids: Sequence[str], per_room: int, *, seed: int = 0
) -> dict[tuple[str, ...], tuple[str, ...]]:
    """Every group gets ``min(per_room, len(accounts))`` accounts, by the membership design
    (:func:`broadcast.membership.design_memberships`): any two accounts share about the same
    number of groups, so a lost account's groups can move to every other account."""
    design = design_memberships([g.path for g in groups], account_ids, per_room, seed=seed)
    return {g.path: design.members[g.path] for g in groups}


def _resident_name(rng: random.Random) -> str:
    surnames = [s for s, _ in names.SURNAMES]
    weights = [w for _, w in names.SURNAMES]
    surname = rng.choices(surnames, weights)[0]
    if rng.random() < 0.5:
        given = rng.choice(names.GIVEN_MALE_FIRST) + rng.choice(names.GIVEN_MALE_SECOND)
    else:
        given = rng.choice(names.GIVEN_FEMALE_FIRST) + rng.choice(names.GIVEN_FEMALE_SECOND)
    return surname + given


def build_world_spec(session: Session, settings: Settings) -> WorldSpec:
    """One room per org unit, with its leaders, the roles at it and simulated residents."""
    town = settings.town.name
    units = list(session.exec(select(OrgUnit).order_by(col(OrgUnit.id))))
    children: dict[int, list[OrgUnit]] = defaultdict(list)
    for unit in units:
        if unit.parent_id is not None:
            children[unit.parent_id].append(unit)
    holders: dict[int, list[tuple[Role, Person]]] = defaultdict(list)
    for assignment, person in session.exec(
        select(RoleAssignment, Person)
        .join(Person, col(Person.id) == col(RoleAssignment.person_id))
        .order_by(col(RoleAssignment.id))
    ):
        holders[assignment.org_unit_id].append((Role(assignment.role), person))

    accounts = settings.account_settings()
    slots = [GroupSlot(u.town_path, u.level) for u in units]
    memberships = assign_accounts(
        slots, [a.id for a in accounts], settings.bots.accounts_per_room, seed=settings.sandbox.seed
    )
    rng = random.Random(settings.sandbox.seed)
    rooms: list[RoomSpec] = []
    for unit, slot in zip(units, slots, strict=True):
        assert unit.id is not None
        people: list[Person] = [person for _role, person in holders[unit.id]]
        leader_roles = {
            Role.UNIT_LEADER,
            Role.SECOND_UNIT_LEADER,
            Role.GRID_LEADER,
            Role.STATION_CHIEF,
        }
        if unit.parent_id is not None:  # the leader one level up sits in every group below
            for role, person in holders[unit.parent_id]:
                if role in leader_roles:
                    people.append(person)
        for child in children[unit.id]:  # and the leaders one level down sit in this one
            assert child.id is not None
            for role, person in holders[child.id]:
                if role in leader_roles:
                    people.append(person)
        members = {contact_id_of(p): MemberSpec(contact_id_of(p), p.name) for p in reversed(people)}
        members = dict(reversed(list(members.items())))  # first mention wins, order kept
        if unit.level is Level.UNIT:
            for i in range(settings.sandbox.residents_per_unit):
                cid = f"resident-{unit.id}-{i + 1}"
                members[cid] = MemberSpec(cid, _resident_name(rng))
        rooms.append(
            RoomSpec(
                topic=topic_for(town, slot.path),
                members=list(members.values())[: ROOM_CAP - len(memberships[slot.path])],
                bot_account_ids=memberships[slot.path],
                room_id=f"{unit.id}@chatroom",
                org_unit=unit.path,
            )
        )
    enforce = settings.sandbox.enforce_rate_limits
    return WorldSpec(accounts=[_account_spec(a, enforce) for a in accounts], rooms=rooms)


def _account_spec(account: BotAccountSettings, enforce_rate_limits: bool) -> AccountSpec:
    return AccountSpec(
        account_id=account.id,
        name=account.name or account.id,
        rate_per_s=account.rate_per_s if enforce_rate_limits else 0,
        burst=account.burst,
        token=account.token.get_secret_value() or None,
    )


def risk_settings(settings: Settings) -> SandboxRiskSettings:
    """The sandbox's risk-control model from config.yaml."""
    sandbox = settings.sandbox
    return SandboxRiskSettings(
        seed=sandbox.seed,
        rate_per_s=settings.bots.rate_per_s if sandbox.enforce_rate_limits else 0,
        burst=settings.bots.burst,
        cooldown_s=sandbox.throttle_cooldown.total_seconds(),
        send_latency_s=sandbox.send_latency.total_seconds(),
        failure_probability=sandbox.failure_rate,
    )
