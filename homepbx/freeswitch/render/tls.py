"""sofia's TLS files: agent.pem (private key + certificate) and cafile.pem, from sip.tls_*_file.

sofia takes one folder (tls-cert-dir), not file names: it reads the key and the certificate
from agent.pem and loads cafile.pem as the certificates it trusts, which OpenSSL also uses to
send the chain's intermediates. So `homepbx apply` writes both from the administrator's PEM
files (already checked by homepbx.sip_tls), agent.pem as a secret file. OpenSSL skips any text
outside the PEM blocks, so the files carry homepbx's header like the XML.
"""

from __future__ import annotations

from ...apply import MANAGED_MARKER
from ...config import Settings
from ...errors import OperationalError
from .options import TLS_CHAIN, TLS_KEY_AND_CERT, Options

PEM_HEADER = (f"# {MANAGED_MARKER}: changes are overwritten by `homepbx apply`.\n"
              "# Written from sip.tls_key_file and sip.tls_cert_file for sofia's tls-cert-dir.\n")


def _read(settings: Settings, pbx_path: str) -> str:
    path = settings.host_path(pbx_path)
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise OperationalError(f"Cannot read the TLS file {path}: {getattr(exc, 'strerror', None) or exc}.") from None
    return text if text.endswith("\n") else text + "\n"


def tls_files(settings: Settings, options: Options) -> dict[str, str]:
    """agent.pem and cafile.pem (paths relative to the conf dir), or nothing without a certificate."""
    if not options.tls:
        return {}
    cert = _read(settings, settings.sip.tls_cert_file)
    key = _read(settings, settings.sip.tls_key_file)
    return {TLS_KEY_AND_CERT: PEM_HEADER + key + cert, TLS_CHAIN: PEM_HEADER + cert}
