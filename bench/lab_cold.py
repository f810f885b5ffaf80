"""Time a cold lab: build the chroot from nothing, then the first and a warm `up`.

Needs root. Uses its own lab root and address, and removes the chroot afterwards.
Usage: python bench/lab_cold.py [--address 127.0.0.9]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from homepbx.config import LabSettings, Settings
from homepbx.lab import chroot as chroot_module
from homepbx.asterisk.lab.pbx import LabPBX


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--address", default="127.0.0.9")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="homepbx-lab-cold-", dir="/var/tmp"))
    pbx = LabPBX(Settings(lab=LabSettings(root=str(root), address=args.address)))
    try:
        started = time.monotonic()
        built = pbx.chroot.ensure()
        t = time.monotonic()
        pbx.up(timeout=120)
        first_up = time.monotonic() - t
        pbx.down()
        t = time.monotonic()
        pbx.up(timeout=120)
        warm_up = time.monotonic() - t
        print(f"cold build: {built:.1f} s; first up: {first_up:.1f} s; warm up: {warm_up:.1f} s; "
              f"cold total: {built + first_up:.1f} s (wall {time.monotonic() - started:.1f} s)")
    finally:
        pbx.down()
        chroot_module.unmount_under(root)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
