"""Rendering: literals that no profile string can break, and a golden file of the default profile."""

from __future__ import annotations

import ast
import difflib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import BASE_PROFILE, load_modal_app

from generator import PROFILES_DIR, REPO_ROOT
from generator.errors import UserError
from generator.pipeline import load, render_app, render_preflight, render_to_file
from generator.render.emit import python_literal

HOSTILE = [
    "quote \" and ' both",
    "triple \"\"\" and '''",
    "back\\slash \\",
    "new\nline\r\n and \x00 nul",
    "{{ jinja }} {% if x %} {# c #}",
    '"); import os; os.system("echo pwned"); ("',
    "# not a comment\n__import__('os')",
    "\u2028 line separator, tab\t, emoji \U0001f600",
]

GOLDEN = Path(__file__).parent / "golden"
SHIPPED = sorted(p.stem for p in PROFILES_DIR.glob("*.yaml"))


@pytest.mark.parametrize("value", HOSTILE)
def test_python_literal_round_trips(value):
    assert ast.literal_eval(python_literal(value)) == value


def _module_shape(source: str) -> list[str]:
    return [type(node).__name__ for node in ast.parse(source).body]


def test_hostile_strings_cannot_break_the_app(profile_tree, tmp_path):
    # Control characters are refused at validation (tests/test_hostile_round3.py); the emitters
    # hold them too (test_python_literal_round_trips).
    passable = [value for value in HOSTILE if value.isprintable()]
    env = {f"HOSTILE_{i}": value for i, value in enumerate(passable)}
    profile = {
        "extends": str(BASE_PROFILE),
        "description": "\n".join(passable),
        "env": env,
        "sglang": {"env": env},
    }
    root = profile_tree({"hostile.yaml": yaml.safe_dump(profile)})
    output, source = render_app(load(root / "hostile.yaml"), tmp_path / "app.py")
    output.write_text(source)
    tree = ast.parse(source)
    constants = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)}
    assert set(passable) <= constants
    _, reference = render_app(load("scale-to-zero"), tmp_path / "app.py")
    assert _module_shape(source) == _module_shape(reference)  # no statement was injected
    module = load_modal_app(output)
    assert module.app.name == "glm51-sglang"
    check = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--isolated", "--check", str(output)],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout


def test_template_output_is_already_formatted(tmp_path):
    """The template itself is laid out as ruff would: the formatter is a safety net, not a crutch."""
    from generator.pipeline import template_context
    from generator.render.emit import render_template

    loaded = load("prod")
    raw = render_template("modal_app.py.j2", template_context(loaded, tmp_path / "x.py"))
    _, formatted = render_app(loaded, tmp_path / "x.py")
    diff = "".join(difflib.unified_diff(raw.splitlines(True), formatted.splitlines(True)))
    assert raw == formatted, diff


@pytest.mark.parametrize("render", [render_app, render_preflight], ids=["app", "preflight"])
@pytest.mark.parametrize("name", SHIPPED)
def test_golden_files(name, render, monkeypatch):
    """Every shipped profile's app and preflight, byte for byte: a refactor that changes a rendered
    file fails here. Refresh with UPDATE_GOLDEN=1 after reading the diff."""
    monkeypatch.chdir(REPO_ROOT)
    path, source = render(load(name))
    golden = GOLDEN / f"{name}.{path.name}"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(source)
    expected = golden.read_text()
    diff = "".join(
        difflib.unified_diff(expected.splitlines(True), source.splitlines(True), "golden", "now")
    )
    assert source == expected, f"{golden.name} changed (UPDATE_GOLDEN=1 to accept):\n{diff}"


def test_write_is_atomic_on_error(tmp_path, monkeypatch):
    target = tmp_path / "app.py"
    target.write_text("old")

    def boom(*_args, **_kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(UserError, match="cannot write: disk full"):
        render_to_file(load("prod"), target)
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.py"]


def test_written_files_are_readable_like_any_other(tmp_path):
    """Atomic writes go through mkstemp (mode 0600); the result must honour the umask instead."""
    old = os.umask(0o022)
    try:
        path = render_to_file(load("prod"), tmp_path / "app.py")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644
    assert path.with_name("preflight.py").stat().st_mode & 0o777 == 0o644
