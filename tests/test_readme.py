"""The README's console blocks are what the commands print today (scripts/readme_console.py
reruns each through the real CLI, in-process: a few seconds), and the quickstart fits a screen."""

from __future__ import annotations

import importlib.util
import re
import sys

from generator import REPO_ROOT

README = REPO_ROOT / "README.md"


def _script():
    spec = importlib.util.spec_from_file_location(
        "readme_console", REPO_ROOT / "scripts" / "readme_console.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["readme_console"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_every_console_block_is_current_or_says_why_it_is_not_run():
    script = _script()
    text = README.read_text(encoding="utf-8")
    _, problems = script.regenerate(text, check=True)
    assert problems == [], "\n".join(problems) + "\n(run `make readme`)"
    names = [m["name"] for m in script.MARKER.finditer(text)]
    assert len(names) == len(set(names)), "a block name is used twice"
    assert set(names) == set(script.BLOCKS), "BLOCKS and the README's markers differ"
    for name in names:
        block = script.BLOCKS[name]
        assert bool(block.skip) != bool(block.steps), name  # run here, or a reason why not


def test_a_stale_block_is_caught():
    script = _script()
    text = README.read_text(encoding="utf-8").replace("full-context sequences at once", "x", 1)
    _, problems = script.regenerate(text, check=True, only={"quickstart-plan"})
    assert problems == ["console:quickstart-plan: out of date (run `make readme`)"]
    unmarked = "\n```console\n$ echo hi\nhi\n```\n"
    _, problems = script.regenerate(
        README.read_text(encoding="utf-8") + unmarked, check=True, only=set()
    )
    assert problems == ["1 console block(s) without <!-- console:NAME --> markers"]


def test_the_quickstart_fits_one_screen_and_the_contents_follow_it():
    text = README.read_text(encoding="utf-8")
    quickstart = text.split("\n## Quickstart\n")[1].split("\n## ")[0]
    assert len(quickstart.splitlines()) <= 55
    assert text.index("## Quickstart") < text.index("## Contents") < text.index("## Set up")
    anchors = re.findall(r"\]\(#([a-z0-9-]+)\)", text.split("## Contents")[1].split("\n## ")[0])
    headings = {
        re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-")
        for h in re.findall(r"^#+ (.+)$", text, re.M)
    }
    assert anchors and set(anchors) <= headings, set(anchors) - headings
