"""The one Jinja2 environment: built once per process, templates compiled once."""

from __future__ import annotations

from functools import lru_cache

import jinja2

from ... import names
from ...resources import data_dir


def finalize(value: object) -> str:
    """Every `{{ ... }}` goes through `names.conf_safe`: no value can end a line.

    Printable ASCII (and integers) cannot hold a line break or a control character, so for
    them conf_safe's answer is known without its per-character Unicode lookups, which would
    otherwise be most of the render time for 10,000 agents. A unit test checks that both
    paths agree on arbitrary text.
    """
    if type(value) is str and value.isascii() and value.isprintable():
        return value
    if type(value) is int:
        return str(value)
    return names.conf_safe(value)


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The template environment: `asterisk/<file>.j2` and `dialplans/<context>.j2`."""
    loader = jinja2.PrefixLoader(
        {
            "asterisk": jinja2.FileSystemLoader(str(data_dir("config_templates") / "asterisk")),
            "dialplans": jinja2.FileSystemLoader(str(data_dir("dialplans") / "asterisk")),
        }
    )
    return jinja2.Environment(
        loader=loader,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=finalize,
        # Templates ship with the package and never change under a running process.
        auto_reload=False,
    )


def config_templates() -> tuple[tuple[str, str], ...]:
    """(output file name, template name) for every `config_templates/asterisk/*.conf.j2`."""
    env = environment()
    found = env.list_templates(filter_func=lambda n: n.startswith("asterisk/") and n.endswith(".conf.j2"))
    return tuple((n.removeprefix("asterisk/").removesuffix(".j2"), n) for n in sorted(found))
