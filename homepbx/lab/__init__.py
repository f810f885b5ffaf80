"""The lab's backend-neutral parts: the cached Debian sid chroot, baresip softphones, tone detection.

Each backend runs its own PBX in a lab root (`homepbx.asterisk.lab`, `homepbx.freeswitch.lab`).
"""

from .chroot import Chroot
from .softphone import PhoneConfig, Softphone

__all__ = ["Chroot", "PhoneConfig", "Softphone"]
