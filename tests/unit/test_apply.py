"""apply (neutral, given Asterisk's file policy): atomic writes, foreign files, force, dry run,
change detection, modes, nested names; Asterisk's reload table."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import pytest

from homepbx import apply as ap
from homepbx.asterisk import config_target
from homepbx.asterisk.config_target import CONFIG, reload_commands
from homepbx.asterisk.render import HEADER
from homepbx.config import AsteriskSettings, Settings
from homepbx.errors import InvalidInput, OperationalError
from homepbx.pbx import FilePolicy


def policy_for(directory: Path) -> FilePolicy:
    """Asterisk's file policy for a site whose config dir is `directory`."""
    return CONFIG.file_policy(Settings(asterisk=AsteriskSettings(config_dir=str(directory))))


FILES = {
    "pjsip.conf": HEADER + "[transport-udp]\ntype = transport\n",
    "manager.conf": HEADER + "[homepbx]\nsecret = hunter2-hunter2\n",
    "queues.conf": HEADER + "[general]\n",
}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_first_apply_writes_everything_with_modes(tmp_path: Path) -> None:
    result = ap.apply(policy_for(tmp_path), FILES)
    assert result.changed == ["manager.conf", "pjsip.conf", "queues.conf"]
    for name, text in FILES.items():
        assert (tmp_path / name).read_text() == text
    assert mode(tmp_path / "manager.conf") == 0o640
    assert mode(tmp_path / "pjsip.conf") == 0o640
    assert mode(tmp_path / "queues.conf") == 0o644
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temp files left behind"


def test_second_apply_changes_nothing(tmp_path: Path) -> None:
    s = policy_for(tmp_path)
    ap.apply(s, FILES)
    before = {p.name: p.stat().st_ino for p in tmp_path.iterdir()}
    result = ap.apply(s, FILES)
    assert result.changed == []
    assert {c.status for c in result.changes} == {"unchanged"}
    assert {p.name: p.stat().st_ino for p in tmp_path.iterdir()} == before
    assert reload_commands(result.changed) == []


def test_changed_file_is_replaced_atomically(tmp_path: Path) -> None:
    s = policy_for(tmp_path)
    ap.apply(s, FILES)
    inode = (tmp_path / "queues.conf").stat().st_ino
    new = dict(FILES, **{"queues.conf": HEADER + "[general]\nautofill = yes\n"})
    result = ap.apply(s, new)
    assert result.changed == ["queues.conf"]
    # A new inode: the file was renamed over, never truncated in place.
    assert (tmp_path / "queues.conf").stat().st_ino != inode
    assert reload_commands(result.changed) == ["module reload app_queue.so"]


def test_wrong_mode_is_fixed_without_reload(tmp_path: Path) -> None:
    s = policy_for(tmp_path)
    ap.apply(s, FILES)
    os.chmod(tmp_path / "manager.conf", 0o644)
    [change] = [c for c in ap.plan(s, FILES) if c.name == "manager.conf"]
    assert change.status == "mode"
    result = ap.apply(s, FILES)
    assert result.changed == []
    assert mode(tmp_path / "manager.conf") == 0o640


def test_foreign_file_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    (tmp_path / "queues.conf").write_text("; my own queues\n[support]\n")
    with pytest.raises(ap.ForeignFiles) as err:
        ap.apply(policy_for(tmp_path), FILES)
    assert "queues.conf" in str(err.value) and err.value.exit_code == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["queues.conf"]
    assert (tmp_path / "queues.conf").read_text() == "; my own queues\n[support]\n"


def test_marker_must_be_in_the_header(tmp_path: Path) -> None:
    (tmp_path / "queues.conf").write_text("[a]\n\n\n\n" + HEADER)
    assert [c.status for c in ap.plan(policy_for(tmp_path), FILES) if c.name == "queues.conf"] == ["foreign"]


def test_force_replaces_foreign_file_and_keeps_a_copy(tmp_path: Path) -> None:
    (tmp_path / "queues.conf").write_text("; mine\n")
    result = ap.apply(policy_for(tmp_path), FILES, force=True)
    assert "queues.conf" in result.changed
    assert (tmp_path / "queues.conf").read_text() == FILES["queues.conf"]
    assert (tmp_path / "queues.conf.homepbx-orig").read_text() == "; mine\n"
    assert result.backups == [tmp_path / "queues.conf.homepbx-orig"]


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    result = ap.apply(policy_for(tmp_path), FILES, dry_run=True)
    assert result.dry_run and result.changed == sorted(FILES)
    assert list(tmp_path.iterdir()) == []


def test_missing_directory_is_an_operational_error(tmp_path: Path) -> None:
    with pytest.raises(OperationalError):
        ap.apply(policy_for(tmp_path / "nope"), FILES)


def test_lab_root_prefix_is_honoured(tmp_path: Path) -> None:
    (tmp_path / "etc/asterisk").mkdir(parents=True)
    s = CONFIG.file_policy(Settings(asterisk=AsteriskSettings(config_dir="/etc/asterisk", root=str(tmp_path))))
    ap.apply(s, FILES)
    assert (tmp_path / "etc/asterisk/pjsip.conf").exists()


def test_diff_masks_secrets(tmp_path: Path) -> None:
    s = policy_for(tmp_path)
    [change] = [c for c in ap.plan(s, FILES) if c.name == "manager.conf"]
    diff = ap.unified_diff(change, s.redact)
    assert "+secret = ********" in diff and "hunter2" not in diff
    assert "hunter2" not in ap.apply(s, FILES, dry_run=True).diff()
    ap.apply(s, FILES)
    assert all(ap.unified_diff(c, s.redact) == "" for c in ap.plan(s, FILES))
    assert ap.apply(s, FILES).diff() == ""


def test_failed_write_leaves_old_file_and_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = policy_for(tmp_path)
    ap.apply(s, FILES)

    def boom(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ap.os, "fsync", boom)
    with pytest.raises(OperationalError, match="No space"):
        ap.apply(s, dict(FILES, **{"queues.conf": HEADER + "[x]\n"}))
    assert (tmp_path / "queues.conf").read_text() == FILES["queues.conf"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_reload_sends_commands_in_order_manager_last() -> None:
    sent: list[str] = []

    class Client:
        async def command(self, cmd: str) -> list[str]:
            sent.append(cmd)
            return ["ok"]

    changed = ["manager.conf", "extensions.conf", "pjsip.conf", "cel_custom.conf", "logger.conf"]
    out = asyncio.run(config_target.reload(Client(), changed))  # type: ignore[arg-type]
    assert sent == [
        "logger reload",
        "module reload res_pjsip.so",
        "dialplan reload",
        "module reload cel_custom.so",
        "manager reload",
    ]
    assert out == sent
    assert asyncio.run(config_target.reload(Client(), [])) == []  # type: ignore[arg-type]


def test_every_rendered_file_has_a_reload_command() -> None:
    from homepbx.asterisk.render.environment import config_templates

    names = [n for n, _ in config_templates()]
    assert len(reload_commands(names)) == len(names)


def test_nested_names_are_written_with_their_folders(tmp_path: Path) -> None:
    s = policy_for(tmp_path)
    files = dict(FILES, **{"autoload_configs/sofia.conf.xml": "<!-- " + HEADER + " -->\n<configuration/>\n"})
    result = ap.apply(s, files)
    assert "autoload_configs/sofia.conf.xml" in result.changed
    written = tmp_path / "autoload_configs" / "sofia.conf.xml"
    assert written.read_text() == files["autoload_configs/sofia.conf.xml"] and mode(written) == 0o644
    assert ap.apply(s, files).changed == []
    assert not [p for p in (tmp_path / "autoload_configs").iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("name", ["", "/etc/passwd", "../x.conf", "a/../../x.conf", "a/./b.conf", ".hidden",
                                  "a/.hidden", "a//b.conf", "a/", "a\\b.conf"])
def test_names_that_could_leave_the_directory_are_refused(tmp_path: Path, name: str) -> None:
    (tmp_path / "conf").mkdir()
    with pytest.raises(InvalidInput, match="Refusing"):
        ap.apply(policy_for(tmp_path / "conf"), {name: HEADER})
    assert list((tmp_path / "conf").iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["conf"]


def test_a_linked_folder_leading_out_is_refused(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "conf" / "sub").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(InvalidInput, match="leads out"):
        ap.apply(policy_for(tmp_path / "conf"), {"sub/x.conf": HEADER})
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_asterisk_policy_creates_the_folders_asterisk_writes_into(tmp_path: Path) -> None:
    (tmp_path / "etc/asterisk").mkdir(parents=True)
    s = CONFIG.file_policy(Settings(asterisk=AsteriskSettings(config_dir="/etc/asterisk", root=str(tmp_path))))
    assert s.secret_files == {"manager.conf", "pjsip.conf"}
    assert ap.apply(s, FILES, dry_run=True).changed and not (tmp_path / "var").exists()
    ap.apply(s, FILES)
    for folder in ("var/log/asterisk/cel-custom", "var/log/asterisk/cdr-custom", "var/spool/asterisk/monitor/homepbx"):
        assert (tmp_path / folder).is_dir()
