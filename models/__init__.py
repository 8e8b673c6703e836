"""SQLModel tables and the database session. All state lives in the database."""

from __future__ import annotations

from models.auth import (
    ApiToken,
    AuditEntry,
    ChatBinding,
    Credential,
    RevokedSession,
    SignInCode,
)
from models.broadcast import Delivery, DeliveryState, Notice, NoticeAttempt, Receipt
from models.cap import CapMessage
from models.chat import BotAccount, ChatGroup, GroupMembership, UnboundRoom, UnreachableContact
from models.cluster import AccountLease, ClusterJobRun, ClusterWorker
from models.enums import AccountStatus, Level, Role, UnitKind
from models.households import HouseholdConfirmation, HouseholdVisitRequest
from models.org import Department, HouseholdContact, OrgUnit, Person, RoleAssignment
from models.rhythm import (
    CadenceRun,
    CallBack,
    ConsultationItem,
    Task,
    TaskAssignment,
    TaskChecklistItem,
    TaskEvent,
)
from models.shops import ShopFollowUp, ShopSubject
from models.tickets import (
    IntakeMessage,
    Ticket,
    TicketCodeSequence,
    TicketEvent,
    TicketOutbox,
    TicketReporter,
)

__all__ = [
    "AccountLease",
    "AccountStatus",
    "ApiToken",
    "AuditEntry",
    "BotAccount",
    "CadenceRun",
    "CallBack",
    "CapMessage",
    "ChatBinding",
    "ChatGroup",
    "ClusterJobRun",
    "ClusterWorker",
    "ConsultationItem",
    "Credential",
    "Delivery",
    "DeliveryState",
    "Department",
    "GroupMembership",
    "HouseholdConfirmation",
    "HouseholdContact",
    "HouseholdVisitRequest",
    "IntakeMessage",
    "Level",
    "Notice",
    "NoticeAttempt",
    "OrgUnit",
    "Person",
    "Receipt",
    "RevokedSession",
    "Role",
    "RoleAssignment",
    "ShopFollowUp",
    "ShopSubject",
    "SignInCode",
    "Task",
    "TaskAssignment",
    "TaskChecklistItem",
    "TaskEvent",
    "Ticket",
    "TicketCodeSequence",
    "TicketEvent",
    "TicketOutbox",
    "TicketReporter",
    "UnboundRoom",
    "UnitKind",
    "UnreachableContact",
]
