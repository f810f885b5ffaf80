"""The FreeSWITCH template environment: XML with autoescape on, built once per process."""

from __future__ import annotations

import re
from functools import lru_cache

import jinja2
from markupsafe import Markup, escape

from ... import names
from ...resources import data_dir

# FreeSWITCH's pre-processor reads each file line by line before any XML parsing: it expands
# `$${var}`, and silently drops every line that mentions X-PRE-PROCESS without a `<` right
# before it. XML escaping hides neither, so values write `$` and the dash of that word as
# character references, which the XML parser turns back into the same text afterwards.
_PREPROCESSOR_WORD = re.compile(r"x-pre-process", re.IGNORECASE)


def finalize(value: object) -> Markup:
    """Every `{{ ... }}`: refuse line breaks and control characters, escape for XML and for the pre-processor.

    Values are validated on the way in (`homepbx.names`, the options module); the refusal is the
    last line of defence for one that skipped validation (ValueError). What `names` accepts
    (`&`, `'`, even the word X-PRE-PROCESS) is neutralised here and reads back unchanged.
    """
    if type(value) is int:
        return Markup(str(value))
    if isinstance(value, Markup):
        # A macro's output: template text whose own values already passed here one by one.
        return value
    text = str(escape(names.conf_safe(value))).replace("$", "&#36;")
    text = _PREPROCESSOR_WORD.sub(lambda m: m.group(0).replace("-", "&#45;"), text)
    return Markup(text)


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The template environment: `freeswitch/<path>.j2` and `dialplans/<name>.j2`."""
    loader = jinja2.PrefixLoader(
        {
            "freeswitch": jinja2.FileSystemLoader(str(data_dir("config_templates") / "freeswitch")),
            "dialplans": jinja2.FileSystemLoader(str(data_dir("dialplans") / "freeswitch")),
        }
    )
    return jinja2.Environment(
        loader=loader,
        undefined=jinja2.StrictUndefined,
        # Every template is XML: a display name such as `Tom & Jerry's` comes out as entities.
        autoescape=True,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=finalize,
        # Templates ship with the package and never change under a running process.
        auto_reload=False,
    )


def config_templates() -> tuple[tuple[str, str], ...]:
    """(output path relative to the conf dir, template name) for every `config_templates/freeswitch/**/*.xml.j2`."""
    env = environment()
    found = env.list_templates(filter_func=lambda n: n.startswith("freeswitch/") and n.endswith(".xml.j2"))
    return tuple((n.removeprefix("freeswitch/").removesuffix(".j2"), n) for n in sorted(found))
