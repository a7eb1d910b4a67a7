"""The emitters every rendered value goes through, and the Jinja2 environment that enforces them.

Generated code is an attack surface: profile values, file names and paths all reach it. Every
value a template prints goes through one of three emitters (`py`, `comment`, `doc`), each of which
returns `Emitted` text that cannot leave its context; the environment refuses anything else.
"""

from __future__ import annotations

import math
import subprocess
import sys
from typing import Any

from generator import TEMPLATES_DIR


class Emitted(str):
    """Text an emitter made safe for the place it is printed; the templates print nothing else."""


class UnsafeTemplateValue(TypeError):
    """A template printed a value that did not go through an emitter: a bug in a template."""


def python_literal(value: Any) -> Emitted:
    """A Python literal for a profile value: no profile string can break out of it."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"no Python literal for {value!r}")
    if value is None or isinstance(value, bool | int | float):
        return Emitted(repr(value))
    if isinstance(value, str):
        # The quote ruff format would choose, so the rendered file is already formatted.
        quote = "'" if value.count('"') > value.count("'") else '"'
        chars = [
            "\\" + c if c in (quote, "\\") else c if c.isprintable() else repr(c)[1:-1]
            for c in value
        ]
        return Emitted(quote + "".join(chars) + quote)
    raise TypeError(f"no Python literal for {type(value).__name__}")


def comment_text(value: Any) -> Emitted:
    """Text safe inside a `#` comment: one line of printable characters (no line or paragraph
    separators, no bidirectional controls), so it can neither end the comment nor hide code."""
    return Emitted("".join(c if c.isprintable() else " " for c in str(value)))


def docstring_text(value: Any) -> Emitted:
    """Text safe inside a triple-quoted docstring: a comment-safe line whose backslashes and
    quotes are escaped, so no escape sequence and no closing quote can come out of it."""
    return Emitted(comment_text(value).replace("\\", "\\\\").replace('"', '\\"'))


def code(*parts: Emitted) -> Emitted:
    """Emitted pieces joined with ", " (a list's items): still emitted, nothing added."""
    if not all(isinstance(p, Emitted) for p in parts):
        raise UnsafeTemplateValue("code() joins emitted pieces only")
    return Emitted(", ".join(parts))


def _only_emitted(value: Any) -> Emitted:
    if isinstance(value, Emitted):
        return value
    raise UnsafeTemplateValue(
        f"a template printed {value!r} without an emitter (| py, | comment or | doc)"
    )


def _environment():
    import jinja2  # only rendering needs it; `validate` stays light

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
        finalize=_only_emitted,
    )
    env.filters["py"] = python_literal
    env.filters["comment"] = comment_text
    env.filters["doc"] = docstring_text
    return env


def render_template(name: str, context: dict[str, Any]) -> str:
    return _environment().get_template(name).render(context)


def format_python(source: str) -> str:
    """Format with ruff (pinned), so long profile values still give a formatted file."""
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--isolated", "-"],
        input=source,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"rendered app is not valid Python: {result.stderr.strip()}")
    return result.stdout
