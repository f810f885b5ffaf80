"""The Asterisk lab: a real Asterisk 22 in the cached Debian sid chroot."""

from .pbx import LabPBX, LabStatus

__all__ = ["LabPBX", "LabStatus"]
