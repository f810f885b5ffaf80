"""Agents' encryption: which transport an agent may use, and the PBX certificate TLS needs.

Agents use TLS signalling with SRTP media unless the sysadmin opted the site or the agent into
clear text (`sip.agent_transport`, `agent add|update --transport udp`), and a site can forbid
clear text altogether (`sip.allow_clear_text = false`). Both PBXs render from these answers.
The certificate is checked the way a TLS server will load it, before anything is written, so a
bad file is one sentence from `homepbx apply` rather than a PBX that silently stops listening.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import names, sip_options
from .config import Settings
from .errors import InvalidInput
from .models import Agent


def is_clear(transport: str) -> bool:
    """True for a transport that carries SIP and RTP unencrypted."""
    return transport in sip_options.CLEAR_TRANSPORTS


def agent_transport(settings: Settings, requested: str | None, extension: str = "") -> str:
    """The transport a new or updated agent gets: `requested`, or the site's default.

    Clear text on a site that forbids it is refused, naming the setting that forbids it.
    """
    transport = sip_options.agent_transport(settings) if requested is None else names.transport(requested)
    if is_clear(transport) and not settings.sip.allow_clear_text:
        who = f"Agent {extension}" if extension else "An agent"
        raise InvalidInput(
            f"{who} cannot use {transport}: this site forbids clear-text SIP and RTP "
            "(sip.allow_clear_text = false); agents connect over TLS with SRTP.", field="transport")
    return transport


def transports(session: Session) -> dict[str, str]:
    """Each enabled account's transport, by extension (what the PBX will render)."""
    rows = session.execute(select(Agent.extension, Agent.transport).where(Agent.enabled.is_(True)))
    return {ext: transport for ext, transport in rows}


def check_site(settings: Settings, transports: dict[str, str]) -> tuple[str, str]:
    """Check the agents' transports (extension -> transport) against the site; return (cert, key).

    Raises InvalidInput when a clear-text agent is on a site that forbids it (the setting
    changed after they were added), when TLS agents exist but no certificate is set, or when
    the certificate or key cannot be used.
    """
    cert, key = sip_options.tls_files(settings)
    sip_options.agent_transport(settings)
    sip_options.tls_method(settings)
    sip_options.tls_ciphers(settings)
    clear = sorted(ext for ext, t in transports.items() if is_clear(t))
    if clear and not settings.sip.allow_clear_text:
        raise InvalidInput(
            f"{_who(clear)} clear text ({transports[clear[0]]}) but sip.allow_clear_text is false: move "
            f"{'them' if len(clear) > 1 else 'it'} to TLS with `homepbx agent update EXT --transport tls`, "
            "or allow clear text.", field="sip.allow_clear_text")
    tls = sorted(ext for ext, t in transports.items() if t == "tls")
    if not cert:
        if tls:
            raise InvalidInput(
                f"{_who(tls)} TLS, but sip.tls_cert_file and sip.tls_key_file are not set: give the PBX a "
                f"certificate for {settings.sip.public_address or settings.sip.domain} (PEM files), or opt "
                "agents into clear text with `homepbx agent update EXT --transport udp`.",
                field="sip.tls_cert_file")
        return "", ""
    usable(settings.host_path(cert), settings.host_path(key))
    return cert, key


def usable(cert: Path, key: Path) -> None:
    """Load the certificate and key as a TLS server would; InvalidInput says what is wrong."""
    for path, what in ((cert, "certificate"), (key, "key")):
        if not path.is_file():
            raise InvalidInput(f"The TLS {what} file {path} does not exist.", field=f"sip.tls_{what[:4]}_file")
        if not os.access(path, os.R_OK):
            raise InvalidInput(f"The TLS {what} file {path} cannot be read.", field=f"sip.tls_{what[:4]}_file")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(str(cert), str(key))
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise InvalidInput(f"The TLS key {key} does not match the certificate {cert}.",
                               field="sip.tls_key_file") from None
        raise InvalidInput(f"The TLS certificate {cert} or its key {key} is not a PEM certificate and key "
                           f"({exc.reason or exc}).", field="sip.tls_cert_file") from None
    except OSError as exc:
        raise InvalidInput(f"The TLS certificate {cert} or its key {key} cannot be read: {exc.strerror}.",
                           field="sip.tls_cert_file") from None


def _who(extensions: Sequence[str]) -> str:
    shown = ", ".join(extensions[:5]) + (f" and {len(extensions) - 5} more" if len(extensions) > 5 else "")
    return f"Agent {shown} uses" if len(extensions) == 1 else f"Agents {shown} use"
