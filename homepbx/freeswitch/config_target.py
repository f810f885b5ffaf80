"""FreeSWITCH's configuration as `homepbx apply` handles it: `CONFIG` (a pbx.ConfigTarget) and `reload_commands`.

`CONFIG.render` is homepbx.freeswitch.render.render_site (paths relative to FreeSWITCH's conf
dir); `CONFIG.file_policy` says where they go, which hold secrets and which folders FreeSWITCH
writes into. `reload_commands` turns a change into the ESL `api` commands that apply it.

Reload choices, checked against mod_callcenter 1.10's source:
- `reloadxml` always first: the dialplan and the directory are read from the XML on every call
  and REGISTER, so nothing else is needed for them.
- `reload mod_callcenter` is never sent: it ends the calls waiting in queues. Instead the
  change to callcenter.conf.xml is diffed: `queue load|reload|unload`, `agent reload|del`,
  `tier reload|del` for exactly what changed. `queue reload` keeps waiting callers (the old
  queue is freed only once no call uses it; callers live in mod_callcenter's database), and
  agents keep their status (the XML never sets one).
- sofia: `sofia profile homepbx rescan` picks up changed parameters; a changed address or
  port (vars.xml) needs `sofia profile homepbx restart`, which drops the profile's calls,
  so homepbx leaves that to the administrator. So does a new certificate (tls/agent.pem,
  tls/cafile.pem): sofia loads it when the profile starts.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ..pbx import FilePolicy
from .render import PROFILE, render_site
from .render.options import TLS_KEY_AND_CERT

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from ..config import Settings

CALLCENTER = "autoload_configs/callcenter.conf.xml"
# The ESL password; the accounts' digest hashes; sofia's TLS private key.
SECRET_FILES = frozenset({"autoload_configs/event_socket.conf.xml", "directory/homepbx.xml", TLS_KEY_AND_CERT})

_SECRET_VALUE = re.compile(r'(?P<key>name="(?:password|a1-hash)"\s+value=")[^"]*(?=")')
# Any PEM private key block ("PRIVATE KEY", "RSA PRIVATE KEY", "ENCRYPTED PRIVATE KEY", ...).
_PRIVATE_KEY = re.compile(r"(?P<begin>-----BEGIN [A-Z ]*PRIVATE KEY-----\n).*?(?=-----END [A-Z ]*PRIVATE KEY-----)",
                          re.DOTALL)


def redact(name: str, text: str) -> str:
    """`text` with every password, a1-hash value and private key masked, for diffs."""
    text = _PRIVATE_KEY.sub(lambda m: m.group("begin") + "********\n", text)
    return _SECRET_VALUE.sub(lambda m: m.group("key") + "********", text)


def _callcenter(text: str | None) -> tuple[dict[str, str], dict[str, str], dict[tuple[str, str], str]]:
    """Queues, agents and tiers of a callcenter.conf.xml, each name -> its XML (to see changes)."""
    if not text:
        return {}, {}, {}
    root = ET.fromstring(text)
    queues = {q.get("name", ""): ET.tostring(q, encoding="unicode") for q in root.iter("queue")}
    agents = {a.get("name", ""): ET.tostring(a, encoding="unicode") for a in root.iter("agent")}
    tiers = {(t.get("queue", ""), t.get("agent", "")): ET.tostring(t, encoding="unicode") for t in root.iter("tier")}
    return queues, agents, tiers


def _callcenter_commands(before: str | None, after: str) -> list[str]:
    old_q, old_a, old_t = _callcenter(before)
    new_q, new_a, new_t = _callcenter(after)
    cmds = [f"callcenter_config queue load {q}" for q in sorted(new_q.keys() - old_q.keys())]
    cmds += [f"callcenter_config queue reload {q}" for q in sorted(new_q.keys() & old_q.keys()) if new_q[q] != old_q[q]]
    cmds += [f"callcenter_config agent reload {a}" for a in sorted(new_a) if old_a.get(a) != new_a[a]]
    cmds += [f"callcenter_config tier reload {q} {a}" for q, a in sorted(new_t) if old_t.get((q, a)) != new_t[(q, a)]]
    cmds += [f"callcenter_config tier del {q} {a}" for q, a in sorted(old_t.keys() - new_t.keys())]
    cmds += [f"callcenter_config agent del {a}" for a in sorted(old_a.keys() - new_a.keys())]
    cmds += [f"callcenter_config queue unload {q}" for q in sorted(old_q.keys() - new_q.keys())]
    return cmds


def reload_commands(
    changed: Iterable[str],
    before: Mapping[str, str | None] | None = None,
    after: Mapping[str, str] | None = None,
) -> list[str]:
    """The ESL api commands that make FreeSWITCH use the changed files, in order (may be empty).

    `before`/`after` (file -> old text, None if new / new text) are needed only when
    callcenter.conf.xml changed: the queue, agent and tier commands are computed from them.
    """
    wanted = set(changed)
    if not wanted:
        return []
    cmds = ["reloadxml"]
    if "autoload_configs/acl.conf.xml" in wanted:
        cmds.append("reloadacl")
    if wanted & {"autoload_configs/sofia.conf.xml", "vars.xml", "autoload_configs/acl.conf.xml"}:
        cmds.append(f"sofia profile {PROFILE} rescan")
    if CALLCENTER in wanted:
        if after is None or CALLCENTER not in after:
            raise ValueError(f"{CALLCENTER} changed: pass its old and new texts to compute the queue commands")
        cmds += _callcenter_commands((before or {}).get(CALLCENTER), after[CALLCENTER])
    return cmds


class FreeswitchConfig:
    """`homepbx.pbx.ConfigTarget` for FreeSWITCH."""

    def render(self, session: Session, settings: Settings) -> dict[str, str]:
        """Each managed file (e.g. "autoload_configs/sofia.conf.xml") -> its text."""
        return render_site(session, settings)

    def file_policy(self, settings: Settings) -> FilePolicy:
        """FreeSWITCH's conf dir on this host (under freeswitch.root), its secret files, and the
        folders it writes into (recordings, logs, JSON call records, its databases)."""
        fs = settings.freeswitch
        root = Path(fs.root)

        def host(path: str) -> Path:
            return root / path.lstrip("/")

        log_dir = host(fs.log_dir)
        return FilePolicy(
            config_dir=host(fs.config_dir),
            secret_files=SECRET_FILES,
            redact=redact,
            runtime_dirs=(host(fs.recordings_dir), log_dir, log_dir / "json_cdr", host(fs.db_dir)),
        )


CONFIG = FreeswitchConfig()

__all__ = ["CALLCENTER", "CONFIG", "SECRET_FILES", "FreeswitchConfig", "redact", "reload_commands"]
