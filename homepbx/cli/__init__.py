"""The `homepbx` command: `homepbx <noun> <verb>`.

Sub-command modules are imported only when used, so `homepbx --help` stays fast.
"""

from __future__ import annotations

import time

# When Python has started and reached homepbx (before click): the bench's in-process breakdown.
STARTED = time.monotonic()

import importlib  # noqa: E402
import sys  # noqa: E402

import click  # noqa: E402

# name -> (module, attribute, one-line help shown by `homepbx --help`)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "init": ("homepbx.cli.site", "init", "Create the settings file and the database."),
    "db": ("homepbx.cli.site", "db", "Database schema: upgrade, status."),
    "agent": ("homepbx.cli.agents", "agent", "Home agents and supervisors: add, list, import, ..."),
    "team": ("homepbx.cli.teams", "team", "Teams of agents."),
    "queue": ("homepbx.cli.queues", "queue", "Call queues and their members."),
    "supervisor": ("homepbx.cli.supervisors", "supervisor", "Supervisors' scopes (which teams they may listen to) and web passwords."),
    "render": ("homepbx.cli.site", "render", "Render the PBX configuration into a folder."),
    "apply": ("homepbx.cli.site", "apply", "Write the PBX configuration and reload the PBX."),
    "lab": ("homepbx.cli.lab", "lab", "A local lab PBX (Asterisk 22 or FreeSWITCH 1.10) with softphones (needs root)."),
    "collect": ("homepbx.cli.records", "collect", "Collect call records and agent events from the PBX (a daemon)."),
    "report": ("homepbx.cli.records", "report", "Reports: agents, queues, calls, billing, supervisors (--csv, --json)."),
    "purge": ("homepbx.cli.records", "purge", "Delete call records and recordings older than a cutoff (GDPR)."),
    "spy": ("homepbx.cli.spy", "spy", "Supervise a live call: listen, whisper to the agent, barge in."),
    "call": ("homepbx.cli.calls", "call", "Calls in progress: list, transfer, hang up."),
    "record": ("homepbx.cli.record", "record", "Call recordings: start, stop, pause, resume, list."),
    "quickstart": ("homepbx.cli.lab", "quickstart", "Start the lab, provision a demo site and print softphone settings."),
    "web": ("homepbx.cli.web", "web", "Serve the supervisors' live wallboard (listen, whisper, barge in one click)."),
    "trunk": ("homepbx.cli.trunks", "trunk", "SIP carriers (trunks): add, list, show, update, remove, status."),
    "number": ("homepbx.cli.numbers", "number", "Public numbers (DIDs) and where their callers go."),
    "hours": ("homepbx.cli.hours", "hours", "Opening hours: weekly schedule, holidays, closures."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attr, _ = COMMANDS[cmd_name]
        try:
            return getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError):
            return None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(dir_okay=False), envvar="HOMEPBX_CONFIG",
              help="Settings file (default /etc/homepbx/homepbx.toml).")
@click.version_option(package_name="homepbx")
@click.pass_context
def homepbx(ctx: click.Context, config_path: str | None) -> None:
    """homepbx: provision and run a call centre of home agents on Asterisk 22 or FreeSWITCH 1.10."""
    from .common import AppContext

    ctx.obj = AppContext(config_path)


def main(argv: list[str] | None = None) -> None:
    """Entry point: expected errors become one plain sentence and an exit code, no traceback."""
    from ..errors import HomepbxError

    try:
        homepbx.main(args=argv, prog_name="homepbx", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except HomepbxError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except OSError as exc:
        # Files the user pointed us at (settings, CSV, output folders): say which and why.
        where = f" ({exc.filename})" if exc.filename else ""
        click.echo(f"Error: {exc.strerror or exc}{where}.", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    sys.exit(0)
