"""The lab: a real Asterisk 22 and baresip softphones in a cached Debian sid chroot.

`LabPBX` builds and runs it (what `homepbx lab up|down|status|logs|shell` wraps),
`Softphone` drives a baresip, `tones` tells which party heard which tone.
"""

from .chroot import Chroot
from .pbx import LabPBX, LabStatus
from .softphone import PhoneConfig, Softphone

__all__ = ["Chroot", "LabPBX", "LabStatus", "PhoneConfig", "Softphone"]
