"""The vocabulary of homepbx: SQLAlchemy 2 models for the provisioning state.

Migrations under migrations/ are written by hand and never import this module; a unit test
checks that the migrated schema and these models agree.
"""

from __future__ import annotations

import enum
from datetime import datetime, timezone
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    DateTime,
    Enum,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class Role(str, enum.Enum):
    agent = "agent"
    supervisor = "supervisor"


class Employment(str, enum.Enum):
    employee = "employee"
    independent = "independent"  # auto-entrepreneur, invoices homepbx's operator
    umbrella = "umbrella"  # umbrella-company ("portage salarial") contractor


class BillingUnit(str, enum.Enum):
    minute = "minute"
    call = "call"


class Strategy(str, enum.Enum):
    ringall = "ringall"
    leastrecent = "leastrecent"
    fewestcalls = "fewestcalls"
    random = "random"
    rrmemory = "rrmemory"
    linear = "linear"
    wrandom = "wrandom"


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    # Stored as plain strings with a CHECK constraint: portable across SQLite and PostgreSQL
    # and free of PostgreSQL enum-type migrations.
    return Enum(cls, name=name, native_enum=False, validate_strings=True, length=16)


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)
    description: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    agents: Mapped[list[Agent]] = relationship(back_populates="team")


class Agent(Base):
    """A home agent or a supervisor: one SIP account each (endpoint name = extension)."""

    __tablename__ = "agents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    extension: Mapped[str] = mapped_column(String(10), unique=True)
    display_name: Mapped[str] = mapped_column(String(64))
    email: Mapped[str] = mapped_column(String(254), default="")
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="RESTRICT"), index=True)
    role: Mapped[Role] = mapped_column(_enum(Role, "role"), default=Role.agent)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    employment: Mapped[Employment] = mapped_column(_enum(Employment, "employment"), default=Employment.employee)
    billing_rate: Mapped[Decimal] = mapped_column(Numeric(10, 4), default=Decimal("0"))
    billing_unit: Mapped[BillingUnit] = mapped_column(_enum(BillingUnit, "billing_unit"), default=BillingUnit.minute)
    # MD5(username:realm:password), the only form of the SIP password we keep.
    md5_cred: Mapped[str] = mapped_column(String(32))
    realm: Mapped[str] = mapped_column(String(64))
    # Supervisors: which spy modes they may use ("listen,whisper,barge").
    spy_modes: Mapped[str] = mapped_column(String(32), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    team: Mapped[Team | None] = relationship(back_populates="agents")
    memberships: Mapped[list[QueueMember]] = relationship(back_populates="agent", cascade="all, delete-orphan")
    scopes: Mapped[list[SupervisorScope]] = relationship(back_populates="supervisor", cascade="all, delete-orphan")

    @property
    def is_supervisor(self) -> bool:
        return self.role == Role.supervisor


class SupervisorScope(Base):
    """A team a supervisor may listen to, whisper to and barge in on."""

    __tablename__ = "supervisor_scopes"

    supervisor_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)

    supervisor: Mapped[Agent] = relationship(back_populates="scopes")
    team: Mapped[Team] = relationship()


class Queue(Base):
    __tablename__ = "queues"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)
    # The number callers dial (or inbound routes reach) to enter the queue.
    extension: Mapped[str] = mapped_column(String(10), unique=True)
    strategy: Mapped[Strategy] = mapped_column(_enum(Strategy, "strategy"), default=Strategy.rrmemory)
    ring_timeout: Mapped[int] = mapped_column(Integer, default=15)
    max_wait: Mapped[int] = mapped_column(Integer, default=300)
    wrapup_time: Mapped[int] = mapped_column(Integer, default=10)
    service_level: Mapped[int] = mapped_column(Integer, default=20)
    record: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    members: Mapped[list[QueueMember]] = relationship(back_populates="queue", cascade="all, delete-orphan")


class QueueMember(Base):
    __tablename__ = "queue_members"

    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id", ondelete="CASCADE"), primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True, index=True)
    penalty: Mapped[int] = mapped_column(Integer, default=0)

    queue: Mapped[Queue] = relationship(back_populates="members")
    agent: Mapped[Agent] = relationship(back_populates="memberships")


class Node(Base):
    """An Asterisk server homepbx drives."""

    __tablename__ = "nodes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)
    ami_host: Mapped[str] = mapped_column(String(255), default="127.0.0.1")
    ami_port: Mapped[int] = mapped_column(Integer, default=5038)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class AuditEntry(Base):
    """One administrative or supervision action: who did what to whom, when."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(128), default="")
    details: Mapped[str] = mapped_column(Text, default="")


__all__ = [
    "Agent",
    "AuditEntry",
    "Base",
    "BillingUnit",
    "Employment",
    "Node",
    "Queue",
    "QueueMember",
    "Role",
    "Strategy",
    "SupervisorScope",
    "Team",
    "utcnow",
]
