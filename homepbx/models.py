"""The vocabulary of homepbx: SQLAlchemy 2 models for the provisioning state.

Migrations under migrations/ are written by hand and never import this module; a unit test
checks that the migrated schema and these models agree.
"""

from __future__ import annotations

import enum
from datetime import datetime, timezone
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
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
    # Outbound calls by the team's agents (migration 0009): the widest class of numbers they may
    # call (none | national | mobile | international: each includes the ones before), whether
    # premium-rate and short numbers are allowed, and the E.164 number presented ('' = the trunk's).
    outbound: Mapped[str] = mapped_column(String(16), default="none", server_default="none")
    outbound_premium: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    caller_id: Mapped[str] = mapped_column(String(16), default="", server_default="")

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
    # How the softphone reaches the PBX: "tls" (TLS signalling + SRTP media, mandatory) or a
    # clear-text "udp"/"tcp" the sysadmin opted this agent into (homepbx.names.TRANSPORTS).
    transport: Mapped[str] = mapped_column(String(8), default="tls", server_default="tls")
    # Supervisors: which spy modes they may use ("listen,whisper,barge").
    spy_modes: Mapped[str] = mapped_column(String(32), default="")
    # Supervisors: argon2id hash of their wallboard password (`homepbx supervisor web-password`), or None.
    web_password_hash: Mapped[str | None] = mapped_column(String(128), nullable=True, default=None)
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
    # Where a caller goes when the maximum wait is reached or no agent is logged in (migration
    # 0009): hangup (a polite goodbye) | queue (overflow_target: another queue's name) |
    # message (overflow_target: a sound file name, then goodbye).
    overflow: Mapped[str] = mapped_column(String(16), default="hangup", server_default="hangup")
    overflow_target: Mapped[str] = mapped_column(String(80), default="", server_default="")

    members: Mapped[list[QueueMember]] = relationship(back_populates="queue", cascade="all, delete-orphan")


class QueueMember(Base):
    __tablename__ = "queue_members"

    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id", ondelete="CASCADE"), primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True, index=True)
    penalty: Mapped[int] = mapped_column(Integer, default=0)

    queue: Mapped[Queue] = relationship(back_populates="members")
    agent: Mapped[Agent] = relationship(back_populates="memberships")


# --- The carrier side (issue 11, migration 0009) ---------------------------------------------------


class Trunk(Base):
    """A SIP carrier: one we register to (mode register) or one that sends from known addresses (ip)."""

    __tablename__ = "trunks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)
    mode: Mapped[str] = mapped_column(String(16))  # register | ip
    host: Mapped[str] = mapped_column(String(253))
    port: Mapped[int] = mapped_column(Integer, default=5060)
    transport: Mapped[str] = mapped_column(String(8), default="udp")
    # Register mode: the account at the carrier; the secret is kept as the digest credential
    # MD5(username:realm:secret), the realm being the carrier's (what it challenges with).
    username: Mapped[str] = mapped_column(String(64), default="")
    realm: Mapped[str] = mapped_column(String(253), default="")
    md5_cred: Mapped[str] = mapped_column(String(32), default="")
    # Addresses the carrier sends from (comma list of IPs/CIDRs), PJSIP identify.
    match: Mapped[str] = mapped_column(Text, default="")
    outbound_proxy: Mapped[str] = mapped_column(String(260), default="")
    codecs: Mapped[str] = mapped_column(String(80), default="alaw,ulaw")
    max_channels: Mapped[int] = mapped_column(Integer, default=0)  # 0: no limit
    caller_id: Mapped[str] = mapped_column(String(16), default="")  # E.164 presented by default
    # Agents' outbound calls leave through the outbound trunks, by name order (the next on failure).
    outbound: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Schedule(Base):
    """Opening hours: a weekly schedule in a time zone, public holidays and one-off closures."""

    __tablename__ = "schedules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)
    timezone: Mapped[str] = mapped_column(String(64))
    # Canonical weekly spec: "mon-fri 09:00-12:30,13:30-18:00; sat 09:00-12:00".
    weekly: Mapped[str] = mapped_column(Text)
    holidays: Mapped[str] = mapped_column(String(8), default="")  # country code ('' none)
    closures: Mapped[str] = mapped_column(Text, default="")  # comma list of ISO dates
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Number(Base):
    """A public number (DID, E.164), the trunk it arrives on, and where its callers go."""

    __tablename__ = "numbers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    e164: Mapped[str] = mapped_column(String(16), unique=True)
    trunk_id: Mapped[int] = mapped_column(ForeignKey("trunks.id", ondelete="RESTRICT"), index=True)
    route: Mapped[str] = mapped_column(String(16))  # queue | agent | closed
    target: Mapped[str] = mapped_column(String(40), default="")  # queue name or agent extension
    schedule_id: Mapped[int | None] = mapped_column(ForeignKey("schedules.id", ondelete="RESTRICT"), index=True,
                                                    nullable=True)
    # Outside the schedule (and for route closed): this sound file, or this queue.
    closed_sound: Mapped[str] = mapped_column(String(80), default="")
    closed_queue: Mapped[str] = mapped_column(String(40), default="")
    label: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    trunk: Mapped[Trunk] = relationship()
    schedule: Mapped[Schedule | None] = relationship()


class AuditEntry(Base):
    """One administrative or supervision action: who did what to whom, when."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ux_audit_log_source_key", "source_key", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(128), default="")
    details: Mapped[str] = mapped_column(Text, default="")
    # Entries read from Asterisk (feature-code spies): what makes them unique, so that however
    # many times (or collectors) read the same event, one entry is written. NULL for the rest.
    source_key: Mapped[str | None] = mapped_column(String(128), nullable=True, default=None)



# --- Call records, agent and queue events, recordings (issue 5) -------------------------------
# Every time is naive UTC. Natural unique keys make ingestion idempotent: the collector may
# replay Asterisk's own files over what it already saw live, and nothing is added twice.


class CallRecord(Base):
    """One call, however many channels it had: all CEL events sharing a linkedid."""

    __tablename__ = "call_records"
    __table_args__ = (Index("ix_call_records_agent_started_at", "agent", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    linkedid: Mapped[str] = mapped_column(String(64), unique=True)
    started_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime)
    ended_at: Mapped[datetime] = mapped_column(DateTime)
    caller: Mapped[str] = mapped_column(String(80), default="")
    caller_name: Mapped[str] = mapped_column(String(80), default="")
    called: Mapped[str] = mapped_column(String(80), default="")
    queue: Mapped[str] = mapped_column(String(40), default="")
    # Extension of the first agent who talked with the caller, and of the last (after transfers).
    agent: Mapped[str] = mapped_column(String(10), default="")
    last_agent: Mapped[str] = mapped_column(String(10), default="")
    # answered | abandoned | timeout | no_agents | no_answer | busy | failed
    disposition: Mapped[str] = mapped_column(String(16))
    hangup_side: Mapped[str] = mapped_column(String(8), default="")  # caller | agent | system
    wait_s: Mapped[float] = mapped_column(Float, default=0.0)
    ring_s: Mapped[float] = mapped_column(Float, default=0.0)
    talk_s: Mapped[float] = mapped_column(Float, default=0.0)
    hold_s: Mapped[float] = mapped_column(Float, default=0.0)
    transfers: Mapped[int] = mapped_column(Integer, default=0)
    recording: Mapped[str] = mapped_column(String(255), default="")
    # False when the call was closed by age, without Asterisk's LINKEDID_END.
    complete: Mapped[bool] = mapped_column(Boolean, default=True)
    # inbound (from a trunk) | outbound (to a trunk) | internal; the public number called
    # (inbound) or dialled (outbound), E.164; the trunk's name (migration 0009).
    direction: Mapped[str] = mapped_column(String(8), default="internal", server_default="internal")
    number: Mapped[str] = mapped_column(String(32), default="", server_default="")
    trunk: Mapped[str] = mapped_column(String(40), default="", server_default="")

    legs: Mapped[list[CallLeg]] = relationship(
        primaryjoin="CallRecord.linkedid == foreign(CallLeg.linkedid)", viewonly=True
    )


class CallLeg(Base):
    """One channel of a call: the caller, each agent phone that rang, transfer targets."""

    __tablename__ = "call_legs"
    __table_args__ = (
        UniqueConstraint("linkedid", "uniqueid", name="uq_call_legs_linkedid_uniqueid"),
        # Covering index of the agents and billing reports (migrations 0003, 0004).
        Index("ix_call_legs_report", "role", "started_at", "agent", "first_ring", "first_talk", "talk_s", "hold_s",
              "linkedid"),
        # The few legs that are not an agent's first in their call: the reports' correction for
        # calls that began before the period (migration 0004).
        Index("ix_call_legs_repeat", "role", "started_at", "agent", "linkedid", "talk_s", "first_talk",
              sqlite_where=text("first_ring = 0"), postgresql_where=text("first_ring = false")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    linkedid: Mapped[str] = mapped_column(ForeignKey("call_records.linkedid", ondelete="CASCADE"))
    uniqueid: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(128), default="")
    role: Mapped[str] = mapped_column(String(8))  # caller | agent
    agent: Mapped[str] = mapped_column(String(10), default="")
    started_at: Mapped[datetime] = mapped_column(DateTime)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime)
    ring_s: Mapped[float] = mapped_column(Float, default=0.0)
    talk_s: Mapped[float] = mapped_column(Float, default=0.0)
    hold_s: Mapped[float] = mapped_column(Float, default=0.0)
    hangup_cause: Mapped[int | None] = mapped_column(Integer)
    # Set by the records engine, which stores all legs of a call together (migration 0004): this
    # is the agent's first leg in the call (by start), resp. the first one in which the agent
    # talked. The reports count calls per agent as sums of these instead of COUNT(DISTINCT).
    first_ring: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    first_talk: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class CallLegQuality(Base):
    """The line quality of one agent leg (migration 0011): RTCP figures the PBX reported at its
    hang-up and the estimated MOS (homepbx.records.quality). A table of its own, not columns of
    call_legs: only legs that reported it have a row, so calls without it cost nothing more."""

    __tablename__ = "call_leg_quality"
    __table_args__ = (
        UniqueConstraint("linkedid", "uniqueid", name="uq_call_leg_quality_linkedid_uniqueid"),
        Index("ix_call_leg_quality_at", "at", "agent"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    linkedid: Mapped[str] = mapped_column(ForeignKey("call_records.linkedid", ondelete="CASCADE"))
    uniqueid: Mapped[str] = mapped_column(String(64))
    agent: Mapped[str] = mapped_column(String(10))
    # When the leg ended (the figures are the whole leg's).
    at: Mapped[datetime] = mapped_column(DateTime)
    # Percent of the phone's packets lost on the way in, of the PBX's on the way out (None: the
    # phone sent no receiver report); the worse jitter of the two ways; the round trip.
    loss_from_pct: Mapped[float] = mapped_column(Float)
    loss_to_pct: Mapped[float | None] = mapped_column(Float)
    jitter_ms: Mapped[float] = mapped_column(Float)
    rtt_ms: Mapped[float | None] = mapped_column(Float)
    mos: Mapped[float] = mapped_column(Float)


class QueueEvent(Base):
    """A caller's passage through a queue (queue_log's ENTERQUEUE, CONNECT, ABANDON, ...)."""

    __tablename__ = "queue_events"
    __table_args__ = (
        UniqueConstraint("callid", "queue", "event", "at", name="uq_queue_events_key"),
        # Covering index of the queues report (migration 0003).
        Index("ix_queue_events_report", "event", "queue", "at", "wait_s"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    linkedid: Mapped[str] = mapped_column(ForeignKey("call_records.linkedid", ondelete="CASCADE"), index=True)
    callid: Mapped[str] = mapped_column(String(64))  # the caller channel's uniqueid
    queue: Mapped[str] = mapped_column(String(40))
    event: Mapped[str] = mapped_column(String(24))
    at: Mapped[datetime] = mapped_column(DateTime)
    agent: Mapped[str] = mapped_column(String(10), default="")
    wait_s: Mapped[float | None] = mapped_column(Float)
    talk_s: Mapped[float | None] = mapped_column(Float)


class AgentEvent(Base):
    """An agent's state change: login, logout, pause (with reason), unpause, wrapup."""

    __tablename__ = "agent_events"
    __table_args__ = (
        UniqueConstraint("agent", "queue", "event", "at", name="uq_agent_events_key"),
        Index("ix_agent_events_at", "at"),
        # The agents report's login/pause replay, without the wrap-ups (migration 0006).
        Index("ix_agent_events_state", "at", "agent", "event", "queue", "reason",
              sqlite_where=text("event <> 'wrapup'"), postgresql_where=text("event <> 'wrapup'")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Whole seconds: queue_log has no finer time, and the key must match whichever source wins.
    at: Mapped[datetime] = mapped_column(DateTime)
    agent: Mapped[str] = mapped_column(String(10))
    queue: Mapped[str] = mapped_column(String(40), default="")
    event: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(40), default="")
    linkedid: Mapped[str] = mapped_column(String(64), default="")


class Recording(Base):
    """A recording file (MixMonitor), linked to its call by linkedid; also used by supervision."""

    __tablename__ = "recordings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # As Asterisk sees it (Settings.host_path translates it for this host).
    path: Mapped[str] = mapped_column(String(255), unique=True)
    linkedid: Mapped[str] = mapped_column(String(64), default="", index=True)
    agent: Mapped[str] = mapped_column(String(10), default="")
    started_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime)
    # JSON list of [start, end] ISO-8601 UTC pairs (PCI pauses); end is null while paused.
    paused: Mapped[str] = mapped_column(Text, default="[]")


class CallSupervision(Base):
    """A supervisor listening to, whispering to or barging into a call (migration 0009).

    Attached to the spied call by its linkedid, never a call record of its own. Written by the
    records store, keyed by the supervisor channel's id (`key`): live and backfill, restarts and
    several collectors write it once. `linkedid` is '' while the spied call is unknown.
    """

    __tablename__ = "call_supervisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    # No foreign key: a session may be stored before the call it spied on is finished.
    linkedid: Mapped[str] = mapped_column(String(64), default="", index=True)
    supervisor: Mapped[str] = mapped_column(String(80))
    agent: Mapped[str] = mapped_column(String(10), default="")
    # The first mode; `modes` every mode the session was in, in order, comma-separated.
    mode: Mapped[str] = mapped_column(String(8))
    modes: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    ended_at: Mapped[datetime] = mapped_column(DateTime)
    # JSON list of [ISO-8601 UTC time, mode]: the mode switches after the first mode.
    switches: Mapped[str] = mapped_column(Text, default="[]")
    origin: Mapped[str] = mapped_column(String(16), default="")  # command | feature code
    # The supervisor channel's own call id (stored as a failed call before migration 0009).
    spy_call: Mapped[str] = mapped_column(String(64), default="", index=True)
    # The spied channel as the PBX named it (opaque; '' when only the agent was known).
    channel: Mapped[str] = mapped_column(String(128), default="")


class RecordSource(Base):
    """How far the collector has read one of Asterisk's files (backfill restarts from there)."""

    __tablename__ = "record_sources"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    inode: Mapped[int] = mapped_column(BigInteger, default=0)
    offset: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

# --- Hourly roll-ups of the records for the reports (migration 0006, homepbx.records.rollup) ------
# hour = epoch seconds // 3600 (UTC). Written by the store and rollup.rebuild with plain SQL.


class RollupAgentHour(Base):
    __tablename__ = "rollup_agent_hours"

    hour: Mapped[int] = mapped_column(Integer, primary_key=True)
    agent: Mapped[str] = mapped_column(String(10), primary_key=True)
    legs: Mapped[int] = mapped_column(Integer)
    rang: Mapped[int] = mapped_column(Integer)
    talked: Mapped[int] = mapped_column(Integer)
    talk_legs: Mapped[int] = mapped_column(Integer)
    talk_s: Mapped[float] = mapped_column(Float)
    hold_s: Mapped[float] = mapped_column(Float)
    # Wrap-up events, and their seconds weighed by the queue's wrap-up time when stored.
    wrapups: Mapped[int] = mapped_column(Integer)
    wrapup_s: Mapped[float] = mapped_column(Float)


class RollupWrapupWeight(Base):
    __tablename__ = "rollup_wrapup_weights"

    hour: Mapped[int] = mapped_column(Integer, primary_key=True)
    queue: Mapped[str] = mapped_column(String(40), primary_key=True)
    # The queue's wrap-up time its wrap-ups of the hour were weighed with (-1: with several).
    wrapup_time: Mapped[int] = mapped_column(Integer)


class RollupQueueHour(Base):
    __tablename__ = "rollup_queue_hours"

    hour: Mapped[int] = mapped_column(Integer, primary_key=True)
    queue: Mapped[str] = mapped_column(String(40), primary_key=True)
    # The service level `within` was counted at (-1: counted under several).
    threshold: Mapped[int] = mapped_column(Integer)
    entered: Mapped[int] = mapped_column(Integer)
    answered: Mapped[int] = mapped_column(Integer)
    answer_waits: Mapped[int] = mapped_column(Integer)
    answer_wait_s: Mapped[float] = mapped_column(Float)
    within: Mapped[int] = mapped_column(Integer)
    abandoned: Mapped[int] = mapped_column(Integer)
    abandon_waits: Mapped[int] = mapped_column(Integer)
    abandon_wait_s: Mapped[float] = mapped_column(Float)
    timeouts: Mapped[int] = mapped_column(Integer)


class RollupSpanHour(Base):
    __tablename__ = "rollup_span_hours"

    hour: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    span_s: Mapped[float] = mapped_column(Float)


__all__ = [
    "Agent",
    "AgentEvent",
    "CallLeg",
    "CallRecord",
    "QueueEvent",
    "Recording",
    "RecordSource",
    "AuditEntry",
    "Base",
    "BillingUnit",
    "Employment",
    "Queue",
    "QueueMember",
    "Role",
    "Strategy",
    "SupervisorScope",
    "Team",
    "Trunk",
    "Schedule",
    "Number",
    "utcnow",
]
