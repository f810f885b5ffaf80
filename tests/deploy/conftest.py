"""The deploy tests run the Ansible playbook (ansible/) against a booted Debian sid container.

They need root, systemd-nspawn (Debian's systemd-container), debootstrap and the `deploy` extra
(ansible, ansible-lint); the container root is cached in HOMEPBX_TEST_DEPLOY_CACHE
(default /var/lib/homepbx/deploy-target-cache). Marked `lab`: `make unit` leaves them out.
"""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.lab)
