"""What every command shares: settings, a database transaction, output as a table or JSON."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import click
from sqlalchemy.exc import IntegrityError
from sqlalchemy.exc import OperationalError as SAOperationalError
from sqlalchemy.orm import Session

from .. import config, db
from ..config import Settings
from ..errors import InvalidInput, OperationalError


class AppContext:
    """Per-invocation state, created by the top-level group."""

    def __init__(self, config_path: str | None) -> None:
        self.config_path = config_path
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = config.load(self.config_path)
        return self._settings

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction for the whole command: any error leaves the database as it was."""
        url = self.settings.database.url
        db.ensure_current(url)
        try:
            with db.session_scope(url) as session:
                yield session
        except SAOperationalError as exc:
            raise OperationalError(f"The database failed: {exc.orig}".rstrip(".") + ".") from None
        except IntegrityError:
            # Checks run first, so this is a concurrent command that got there before us.
            raise InvalidInput("Another change to the same records was made at the same time: nothing was changed, try again.") from None


pass_app = click.make_pass_decorator(AppContext)

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


def emit(rows: Sequence[dict[str, Any]], columns: Sequence[str], as_json: bool, title: str | None = None) -> None:
    """Print rows as a table (humans) or a JSON list (scripts)."""
    if as_json:
        click.echo(json.dumps(list(rows), ensure_ascii=False, indent=2, default=str))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    for col in columns:
        table.add_column(col.replace("_", " "))
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
    Console(soft_wrap=True).print(table)


def emit_one(row: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(row, ensure_ascii=False, indent=2, default=str))
        return
    width = max(len(k) for k in row)
    for key, value in row.items():
        click.echo(f"{key.replace('_', ' '):<{width}}  {'' if value is None else value}")


def hint_apply() -> None:
    click.echo("Run `homepbx apply` to push the change to Asterisk.", err=True)
