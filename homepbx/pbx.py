"""The seam between homepbx's neutral core and a PBX: what the services may ask of one.

Only extensions, queue names, file paths and homepbx's own call ids cross it: no channel names,
MixMonitor ids, UUIDs or application options. Each backend package (`homepbx.asterisk`,
`homepbx.freeswitch`) provides a `backend.py` with a `BACKEND` object of type `Backend`;
`homepbx.backends` picks the site's one by name, so nothing neutral imports a backend.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from .config import Settings

# The supervisor's spy modes, in the order the CLI, the codes and the permissions list them.
SPY_MODES: tuple[str, ...] = ("listen", "whisper", "barge")



# --- vocabulary ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class LiveCall:
    """One call in progress, as the PBX reports it."""

    call_id: str  # the id the call's record will carry (Asterisk's linkedid, FreeSWITCH's call uuid)
    caller: str
    caller_name: str
    agents: tuple[str, ...]
    queue: str
    state: str  # talking | waiting (in a queue, not yet with an agent) | ringing | connected
    seconds: int

    @property
    def agent(self) -> str:
        return ",".join(self.agents)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["agents"] = list(self.agents)
        return data


@dataclass(frozen=True)
class Target:
    """Where a transfer sends the caller."""

    exten: str
    label: str  # "agent 4302" / "queue support"
    agent: str = ""  # the target agent's extension, '' for a queue
    max_wait: int = 0  # a queue's waiting limit in seconds (0: none)


@dataclass(frozen=True)
class ActiveRecording:
    """The recording running on an agent's call."""

    path: str  # as the PBX sees it
    call_id: str
    seconds: int  # age of the recorded call, for an index row the dialplan started
    muted: bool = False


@dataclass(frozen=True)
class AgentCall:
    """An agent's answered call: its id, age, and its recording if one runs."""

    agent: str
    call_id: str
    seconds: int
    recording: ActiveRecording | None = None


@dataclass(frozen=True)
class SpyPlan:
    """An authorised spy request: who, on whom, how; nothing has reached the PBX yet."""

    supervisor: str
    agent: str
    mode: str
    # In-call switching between the modes (DTMF), given only to holders of every mode.
    mode_switch: bool = False


@dataclass(frozen=True)
class SpyResult:
    """A spy the PBX confirmed started."""

    plan: SpyPlan
    call_id: str
    seconds: float = field(default=0.0, compare=False)
    # Backend detail for the audit entry and logs (channel names...): never read above the seam.
    detail: Mapping[str, str] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class QueueTarget:
    queue: str
    penalty: int


@dataclass(frozen=True)
class Membership:
    """One queue an agent is logged in to, as the PBX reports it."""

    queue: str
    agent: str
    paused: bool
    reason: str
    in_call: bool
    device: str
    calls_taken: int
    penalty: int


@dataclass(frozen=True)
class AgentStatus:
    """An agent's state across queues."""

    agent: str
    memberships: tuple[Membership, ...]

    @property
    def queues(self) -> tuple[str, ...]:
        return tuple(m.queue for m in self.memberships)

    @property
    def logged_in(self) -> bool:
        return bool(self.memberships)

    @property
    def paused(self) -> bool:
        """Paused in every queue it is logged in to."""
        return self.logged_in and all(m.paused for m in self.memberships)

    @property
    def reason(self) -> str:
        return next((m.reason for m in self.memberships if m.paused and m.reason), "")

    @property
    def state(self) -> str:
        """logged out | paused | partly paused | on call | available."""
        if not self.logged_in:
            return "logged out"
        if self.paused:
            return "paused"
        if any(m.paused for m in self.memberships):
            return "partly paused"
        if any(m.in_call for m in self.memberships):
            return "on call"
        return "available"

    def row(self) -> dict[str, object]:
        return {
            "agent": self.agent,
            "state": self.state,
            "reason": self.reason,
            "queues": ",".join(self.queues),
            "paused_in": ",".join(m.queue for m in self.memberships if m.paused),
            "device": self.memberships[0].device if self.memberships else "",
            "calls_taken": sum(m.calls_taken for m in self.memberships),
        }


@dataclass(frozen=True)
class QueueSnapshot:
    """The PBX's queues and members at one moment."""

    queues: frozenset[str]
    members: tuple[Membership, ...]

    def of(self, extension: str) -> AgentStatus:
        return AgentStatus(extension, tuple(sorted((m for m in self.members if m.agent == extension),
                                                   key=lambda m: m.queue)))


# --- the interfaces -----------------------------------------------------------------------------

class Control(Protocol):
    """Live control of one PBX node. Every method names agents by extension.

    Errors: homepbx.errors.InvalidInput (e.g. the agent has no call: exit 2) or
    OperationalError (the PBX is unreachable or refused: exit 1), each one plain sentence.
    """

    async def reload(self, changed: Sequence[str], texts: Mapping[str, tuple[str | None, str]]) -> list[str]:
        """Make the PBX read the changed files (names as rendered); return what was sent.

        `texts` gives each changed file's (old text or None, new text), for a PBX that must
        work out what changed inside a file (FreeSWITCH's queues).
        """
        ...

    async def live_calls(self, agents: set[str], queues: Mapping[str, str]) -> list[LiveCall]:
        """Every call in progress; `agents` are the site's extensions, `queues` extension -> name."""
        ...

    async def agent_call(self, agent: str) -> AgentCall:
        """The agent's answered call with someone on the line; InvalidInput if there is none."""
        ...

    async def transfer(self, agent: str, target: Target, *, attended: bool) -> None:
        """Transfer the agent's caller to `target`; a running recording follows the caller."""
        ...

    async def hangup(self, agent: str) -> int:
        """End the agent's call for everyone on it; return how many parties were hung up."""
        ...

    async def spy(self, plan: SpyPlan, ring_timeout: float) -> SpyResult:
        """Ring the supervisor's softphone and spy on the agent's call; return once it started."""
        ...

    async def start_recording(self, agent: str, path: str) -> None:
        """Record both parties of the agent's call into `path` (as the PBX sees it)."""
        ...

    async def stop_recording(self, agent: str) -> ActiveRecording:
        """Stop the recording of the agent's call."""
        ...

    async def mute_recording(self, agent: str, muted: bool) -> ActiveRecording:
        """Pause (silence, both directions) or resume the recording of the agent's call."""
        ...

    async def queue_status(self, agent: str | None = None) -> QueueSnapshot:
        """The PBX's queues and their members (one agent's memberships only if given)."""
        ...

    async def queue_login(self, agent: str, targets: Sequence[QueueTarget]) -> AgentStatus:
        """Add the agent to each target queue it is not in; return the PBX's state after."""
        ...

    async def queue_logout(self, agent: str, targets: Sequence[QueueTarget]) -> AgentStatus:
        """Remove the agent from each target queue it is in; return the PBX's state after."""
        ...

    async def queue_pause(self, agent: str, paused: bool, reason: str = "") -> AgentStatus:
        """Pause (with a reason) or unpause the agent in all its queues; return the state after."""
        ...

    async def trunk_status(self) -> Sequence[TrunkStatus]:
        """Each trunk's registration and reachability as the PBX reports them, by trunk name."""
        ...


@dataclass(frozen=True)
class TrunkStatus:
    """One trunk as the PBX sees it (issue 11): names are homepbx's trunk names."""

    trunk: str
    registration: str  # registered | unregistered | rejected | failed | "" (an address-matched trunk)
    reachable: str  # reachable | unreachable | unknown (qualify)
    rtt_ms: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class FilePolicy:
    """How `apply` treats the files of one PBX."""

    config_dir: Path  # on this host
    secret_files: frozenset[str]  # written 0640; their secrets are masked in diffs
    # Hides the secrets of a file's text before it is shown in a diff.
    redact: Callable[[str, str], str]
    # Directories the PBX writes into at run time, created by apply (on this host).
    runtime_dirs: tuple[Path, ...] = ()


class ConfigTarget(Protocol):
    """Rendering and file handling for one PBX."""

    def render(self, session: Session, settings: Settings) -> dict[str, str]:
        """Each managed file (path relative to the config dir) -> its text; same rows, same bytes."""
        ...

    def file_policy(self, settings: Settings) -> FilePolicy:
        """Where the files go, which hold secrets, what apply must create."""
        ...


@dataclass(frozen=True)
class CollectTotals:
    """What a collector run stored, for its closing line."""

    calls: int = 0
    agent_events: int = 0


@dataclass(frozen=True)
class LabStatus:
    """What `lab status` reports."""

    root: str
    address: str
    built: bool
    running: bool
    pid: int | None
    version: str | None


class Lab(Protocol):
    """A real PBX of this backend on this machine, for trying homepbx and for the tests."""

    root: Path
    # The loopback address the PBX and the lab's softphones bind.
    address: str

    def ensure_built(self, rebuild: bool = False) -> float:
        """Make sure the lab's PBX is built (building it if the backend can); seconds spent."""
        ...

    def is_built(self) -> bool:
        ...

    def lab_settings(self) -> Settings:
        """The given settings pointed at the lab PBX (backend, paths, addresses, secrets)."""
        ...

    def up(self, wait: bool = True, timeout: float = 60.0, rebuild: bool = False) -> LabStatus:
        ...

    def down(self) -> None:
        ...

    def status(self) -> LabStatus:
        ...

    def logs(self, lines: int = 50) -> str:
        ...

    def shell(self) -> int:
        ...


class Backend(Protocol):
    """What one PBX package offers the core (`homepbx.<name>.backend.BACKEND`)."""

    name: str
    # As users read it: "Asterisk", "FreeSWITCH".
    title: str
    config: ConfigTarget

    def lab(self, settings: Settings) -> Lab:
        """The lab of `settings.lab` for this backend."""
        ...

    def collect(self, settings: Settings) -> CollectTotals:
        """Run the call-records collector until SIGTERM/SIGINT (the `homepbx collect` daemon)."""
        ...

    def control(self, settings: Settings, *, events: bool = False) -> AbstractAsyncContextManager[Control]:
        """A connected Control for the site's PBX node (`events`: it will wait for PBX events)."""
        ...

    def watch(self, settings: Settings, wrapup: Mapping[str, int] | None = None
              ) -> AbstractAsyncContextManager[AsyncIterator[LiveEvent]]:
        """The live state of agents and queues (the wallboard's one feed), until the block exits.

        Yields a `snapshot` event first and again after each reconnection (a PBX restart loses
        what happened meanwhile), then one event per change; `down` while the PBX cannot be
        reached (it keeps trying). `wrapup` gives each queue's wrap-up seconds (0: none).
        """
        ...


# --- live state (the wallboard's feed, `Backend.watch`) -----------------------------------------

# An agent's states, in the order a wallboard sorts them.
AGENT_STATES: tuple[str, ...] = ("on call", "ringing", "wrap-up", "paused", "available", "logged out")


@dataclass(frozen=True)
class AgentLive:
    """One agent's state now, as the PBX reports it."""

    agent: str  # extension
    state: str  # one of AGENT_STATES
    since: float  # epoch seconds when the state began (as near as the PBX tells)
    queue: str = ""  # ringing / on call / wrap-up: the call's queue ('' for a direct call)
    reason: str = ""  # paused: the reason given
    queues: tuple[str, ...] = ()  # the queues it is logged in to
    call_id: str = ""  # ringing / on call: homepbx's call id


@dataclass(frozen=True)
class QueueLive:
    """One queue's waiting callers now."""

    queue: str
    waiting_since: tuple[float, ...] = ()  # epoch seconds each waiting caller joined, oldest first


@dataclass(frozen=True)
class LiveEvent:
    """One step of the live feed.

    kind: snapshot (every agent and queue the PBX knows: replace all), agent (one agent's new
    state), queue (one queue's new waiting list), down (the PBX is unreachable; state unknown).
    change says what happened: login, logout, pause, unpause, ringing, answered, hangup, wrapup,
    available; join, leave, abandon.
    """

    kind: str
    at: float
    change: str = ""
    agents: tuple[AgentLive, ...] = ()
    queues: tuple[QueueLive, ...] = ()
