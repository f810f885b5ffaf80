"""`homepbx queue ...`."""

from __future__ import annotations

import click

from .. import carrier, provisioning
from ..models import Strategy
from .common import AppContext, emit, hint_apply, json_option, pass_app


@click.group()
def queue() -> None:
    """Call queues and their members."""


@queue.command("add")
@click.argument("name")
@click.option("--extension", required=True, help="The number callers dial to reach the queue.")
@click.option("--strategy", type=click.Choice([s.value for s in Strategy]), default="rrmemory", show_default=True)
@click.option("--ring-timeout", type=int, default=15, show_default=True, help="Seconds to ring an agent.")
@click.option("--max-wait", type=int, default=300, show_default=True, help="Seconds a caller may wait (0: no limit).")
@click.option("--wrapup", "wrapup_time", type=int, default=10, show_default=True, help="Seconds of wrap-up after a call.")
@click.option("--service-level", type=int, default=20, show_default=True, help="Answer-within threshold, seconds.")
@click.option("--record/--no-record", default=False, show_default=True, help="Record every call of this queue.")
@pass_app
def add(app: AppContext, name: str, extension: str, strategy: str, ring_timeout: int, max_wait: int,
        wrapup_time: int, service_level: int, record: bool) -> None:
    """Add a queue."""
    with app.session() as session:
        provisioning.add_queue(session, name, extension, strategy, ring_timeout, max_wait, wrapup_time,
                               service_level, record)
    click.echo(f"Queue {name} added on extension {extension}.")
    hint_apply()


@queue.command("list")
@json_option
@pass_app
def list_(app: AppContext, as_json: bool) -> None:
    """List queues."""
    with app.session() as session:
        rows = [
            {
                "name": q.name, "extension": q.extension, "strategy": q.strategy.value,
                "ring_timeout": q.ring_timeout, "max_wait": q.max_wait, "wrapup": q.wrapup_time,
                "service_level": q.service_level, "record": q.record, "members": n,
                "overflow": q.overflow, "overflow_target": q.overflow_target,
            }
            for q, n in provisioning.list_queues(session)
        ]
    emit(rows, ["name", "extension", "strategy", "members", "service_level", "wrapup", "record"], as_json)


@queue.command("remove")
@click.argument("name")
@pass_app
def remove(app: AppContext, name: str) -> None:
    """Remove a queue."""
    with app.session() as session:
        provisioning.remove_queue(session, name)
    click.echo(f"Queue {name} removed.")
    hint_apply()


@queue.command("overflow")
@click.argument("name")
@click.option("--to", "action", required=True,
              help="hangup (with a goodbye), another queue, or a message then goodbye.")
@click.option("--target", default="", help="The queue's name, or the message's sound file.")
@pass_app
def overflow(app: AppContext, name: str, action: str, target: str) -> None:
    """Where callers go at the maximum wait or when no agent is logged in."""
    with app.session() as session:
        carrier.set_overflow(session, name, action, target)
    click.echo(f"Queue {name} overflows to {action}{' ' + target if target else ''}.")
    hint_apply()


@queue.group()
def member() -> None:
    """Agents who take a queue's calls."""


@member.command("add")
@click.argument("queue_name")
@click.argument("extensions", nargs=-1, required=True)
@click.option("--penalty", type=int, default=0, show_default=True, help="Lower penalties ring first.")
@pass_app
def member_add(app: AppContext, queue_name: str, extensions: tuple[str, ...], penalty: int) -> None:
    """Make agents members of QUEUE_NAME."""
    with app.session() as session:
        provisioning.add_members(session, queue_name, extensions, penalty)
    click.echo(f"{len(extensions)} member(s) of queue {queue_name} set.")
    hint_apply()


@member.command("remove")
@click.argument("queue_name")
@click.argument("extensions", nargs=-1, required=True)
@pass_app
def member_remove(app: AppContext, queue_name: str, extensions: tuple[str, ...]) -> None:
    """Take agents out of QUEUE_NAME."""
    with app.session() as session:
        provisioning.remove_members(session, queue_name, extensions)
    click.echo(f"{len(extensions)} member(s) removed from queue {queue_name}.")
    hint_apply()


@member.command("list")
@click.argument("queue_name")
@json_option
@pass_app
def member_list(app: AppContext, queue_name: str, as_json: bool) -> None:
    """List a queue's members."""
    with app.session() as session:
        q = provisioning.get_queue(session, queue_name)
        rows = [
            {"extension": m.agent.extension, "display_name": m.agent.display_name, "penalty": m.penalty}
            for m in sorted(q.members, key=lambda m: m.agent.extension)
        ]
    emit(rows, ["extension", "display_name", "penalty"], as_json)
