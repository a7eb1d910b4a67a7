"""Regenerate the README's console blocks from the commands they show (`make readme`).

Each console block sits between markers naming it:

    <!-- console:plan-prod -->
    ```console
    $ make plan PROFILE=prod
    ...what the command printed...
    ```
    <!-- /console -->

and BLOCKS below says how it is made: the commands, run here in-process through the real CLI
(`generator.cli.main`; a `make` step echoes its recipe line from the Makefile as make does, then
runs that command), and which lines of a long output are shown (the rest is elided as `...`).
A block whose commands need Modal, the Hub, a GPU or minutes of time names why in `skip` and is
left as it was run by hand; `--check` (tests/test_readme.py) fails on a block that is out of
date, a console block without markers, or a marker this file does not know.

    python scripts/readme_console.py           # rewrite README.md
    python scripts/readme_console.py --check   # exit 1 and say which block is stale
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import shlex
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
sys.path.insert(0, str(REPO))

MARKER = re.compile(
    r"<!-- console:(?P<name>[a-z0-9-]+) -->\n```console\n(?P<body>.*?)```\n<!-- /console -->",
    re.S,
)
FENCE = re.compile(r"^ *```console$", re.M)
# What changes with every commit, not with the code: a commit sha in a diff's label.
_VOLATILE = re.compile(r"\b(HEAD|HEAD~\d+) \([0-9a-f]{12}\)")


@dataclass(frozen=True)
class Step:
    """One `$ ...` line and how to produce what follows it."""

    shown: str
    run: Callable[[], str] | None = None  # None: the shown command is the runner (CLI or make)
    select: Callable[[list[str]], list[str]] | None = None
    append: tuple[str, str] | None = None  # (file, text): what the shown command appends


@dataclass(frozen=True)
class Block:
    steps: list[Step] = field(default_factory=list)
    skip: str = ""  # why it is not regenerated here (left as run by hand)


# --- Running a command ------------------------------------------------------------------------


def _cli(argv: list[str], prog: str = "python -m generator") -> str:
    """`python -m generator ARGV` in this process; stdout and stderr as a terminal shows them."""
    from generator.cli import main

    out = io.StringIO()
    argv0, sys.argv[0] = sys.argv[0], prog  # the CLI names itself by how it was called
    with contextlib.ExitStack() as stack:
        stack.callback(setattr, sys, "argv", [argv0, *sys.argv[1:]])
        stack.enter_context(contextlib.redirect_stdout(out))
        stack.enter_context(contextlib.redirect_stderr(out))
        try:
            main(argv)
        except SystemExit:  # argparse
            pass
    return out.getvalue()


def _recipe(target: str) -> list[str]:
    """The Makefile's command lines for `target`, as make echoes them (`@` lines are silent)."""
    lines = (REPO / "Makefile").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{target}:"))
    out = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        if not line.startswith("\t@"):
            out.append(line[1:].replace("$(PY)", ".venv/bin/python").replace("$$", "$"))
    return out


def _expand(word: str, env: dict[str, str]) -> list[str]:
    """The shell words of one recipe word: "$NAME" and ${NAME:+...} as sh expands them."""
    match = re.fullmatch(r"\$\{(\w+):\+(.*)\}", word)
    if match:
        return (
            [w for part in shlex.split(match[2]) for w in _expand(part, env)]
            if env.get(match[1])
            else []
        )
    return [re.sub(r"\$(\w+)", lambda m: env.get(m[1], ""), word)]


def _make(shown: str) -> str:
    """`make TARGET VAR=value ...`: the echoed recipe line, then that command's output."""
    words = shlex.split(shown)[1:]
    target = words[0]
    env = {"PROFILE": "prod", "FORMAT": "text", "AGAINST": "HEAD"}
    env.update(w.split("=", 1) for w in words[1:] if "=" in w)
    out = ""
    for line in _recipe(target):
        out += line + "\n"
        argv = [
            w
            for word in re.findall(r'\$\{[^}]*\}|"[^"]*"|\S+', line)
            for w in _expand(word.strip('"'), env)
        ]
        assert argv[:3] == [".venv/bin/python", "-m", "generator"], line
        out += _cli(argv[3:])
    return out


def _command(shown: str) -> str:
    words = shlex.split(shown)
    if words[0] == "make":
        return _make(shown)
    if words[0] == "cat":
        return (REPO / words[1]).read_text()
    if words[0] == ".venv/bin/modal-sglang":
        return _cli(words[1:], prog="modal-sglang")
    if words[:3] == [".venv/bin/python", "-m", "generator"]:
        return _cli(words[3:])
    raise ValueError(f"no runner for {shown!r}: give the step a `run`")


def _normalized(text: str) -> str:
    return text.replace(str(REPO) + "/", "").replace(str(REPO), ".")


@contextlib.contextmanager
def _restored(block: Block) -> Iterator[None]:
    """The files a block's steps append to are put back byte for byte when it ends."""
    paths = {step.append[0] for step in block.steps if step.append}
    saved = {path: (REPO / path).read_bytes() for path in paths}
    try:
        yield
    finally:
        for path, data in saved.items():
            (REPO / path).write_bytes(data)


def _run(step: Step) -> str:
    if step.append:
        path, text = step.append
        with open(REPO / path, "a", encoding="utf-8") as f:
            f.write(text)
        return ""
    return step.run() if step.run else _command(step.shown)


def render(block: Block) -> str:
    out = []
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        with _restored(block):
            for step in block.steps:
                text = _run(step)
                lines = _normalized(text).rstrip("\n").split("\n") if text.strip() else []
                out.append(f"$ {step.shown}")
                out += step.select(lines) if step.select else lines
    finally:
        os.chdir(cwd)
    return "\n".join(out) + "\n"


# --- Choosing lines of a long output ----------------------------------------------------------


def head(n: int) -> Callable[[list[str]], list[str]]:
    return lambda lines: lines[:n] + (["..."] if len(lines) > n else [])


def sections(*titles: str, lead: int = 0) -> Callable[[list[str]], list[str]]:
    """The first `lead` lines, then the sections (blank-line separated) whose first line
    starts with one of `titles`, with `...` where lines were left out."""

    def pick(lines: list[str]) -> list[str]:
        groups, current = [], []
        for line in lines[lead:]:
            if line == "":
                groups.append(current)
                current = []
            else:
                current.append(line)
        groups.append(current)
        out = lines[:lead]
        for group in filter(None, groups):
            if group[0].startswith(titles):
                if out and out[-1] != "...":
                    out.append("") if out[-1] != "" else None
                out += group
            elif out[-1:] != ["..."]:
                out.append("...")
        while out and out[-1] in ("", "..."):
            out.pop()
        return out + (["..."] if len(out) < len(lines) else [])

    return pick


def until(prefix: str, lead: int = 2) -> Callable[[list[str]], list[str]]:
    """The first `lead` lines, then from the first section down to the line starting `prefix`."""

    def pick(lines: list[str]) -> list[str]:
        body = lines[lead:]
        first = next(i for i, line in enumerate(body) if line)
        last = next(i for i, line in enumerate(body) if line.lstrip().startswith(prefix))
        return lines[:lead] + body[first : last + 1] + ["..."]

    return pick


def only(*prefixes: str) -> Callable[[list[str]], list[str]]:
    """The first line and the lines starting (indent aside) with one of `prefixes`, `...` for
    each run of lines left out."""

    def pick(lines: list[str]) -> list[str]:
        out = lines[:1]
        for line in lines[1:]:
            if line.lstrip().startswith(prefixes):
                out.append(line)
            elif out[-1] != "...":
                out.append("...")
        return out

    return pick


def jq_keys(argv: list[str], keys: list[str]) -> Callable[[], str]:
    """`modal-sglang plan ... --json | jq '{a, b}'`: those keys, as jq prints them."""

    def run() -> str:
        plan = json.loads(_cli(argv))
        return json.dumps({k: plan[k] for k in keys}, indent=2) + "\n"

    return run


# --- The blocks -------------------------------------------------------------------------------

NEEDS_MODAL = "needs Modal credentials, the Hub and 8x B200: shown as a user types it"
PLAN_KEYS = [
    "checkpoint_bytes",
    "checkpoint_source",
    "weights_gib_per_gpu",
    "kv_bytes_per_token",
    "kv_layers",
    "kv_pool_tokens",
    "max_full_context_sequences",
]
NO_EAGLE_KEYS = ["kv_bytes_per_token", "kv_layers", "kv_pool_tokens", "max_full_context_sequences"]
DIFF_EDIT = "serving:\n  max_concurrency: 40\nsglang:\n  mem_fraction_static: 0.85\n"

BLOCKS: dict[str, Block] = {
    "quickstart-render": Block([Step("make render")]),
    "quickstart-plan": Block(
        [
            Step(
                "make plan",
                select=only(
                    "plan:",
                    "- weights",
                    "KV pool ",
                    "context length",
                    "full-context sequences at once",
                    "per replica-hour",
                    "total, DeepGEMM cache warm",
                ),
            )
        ]
    ),
    "quickstart-deploy": Block(skip=NEEDS_MODAL),
    "make-test": Block(skip="the whole suite takes minutes; as run on a fresh clone"),
    "help": Block([Step(".venv/bin/modal-sglang --help", select=head(3))]),
    "plan-prod": Block(
        [
            Step(
                ".venv/bin/modal-sglang plan prod",
                select=sections("Memory per GPU", "Flags beside", "Findings", lead=2),
            )
        ]
    ),
    "plan-json": Block(
        [
            Step(
                ".venv/bin/modal-sglang plan prod --json | jq '{" + ", ".join(PLAN_KEYS) + "}'",
                run=jq_keys(["plan", "prod", "--json"], PLAN_KEYS),
            ),
            Step("cat docs/examples/no-eagle.yaml"),
            Step(
                ".venv/bin/modal-sglang plan docs/examples/no-eagle.yaml --json | jq '{"
                + ", ".join(NO_EAGLE_KEYS)
                + "}'",
                run=jq_keys(["plan", "docs/examples/no-eagle.yaml", "--json"], NO_EAGLE_KEYS),
            ),
        ]
    ),
    "validate-schema": Block(
        [
            Step("cat docs/examples/staging-typos.yaml"),
            Step(".venv/bin/modal-sglang validate docs/examples/staging-typos.yaml"),
        ]
    ),
    "validate-rules": Block(
        [
            Step("cat docs/examples/staging-rules.yaml"),
            Step(".venv/bin/modal-sglang validate docs/examples/staging-rules.yaml"),
        ]
    ),
    "diff-head": Block(
        [
            Step("cat docs/examples/staging.yaml"),
            Step(
                "printf 'serving:\\n  max_concurrency: 40\\nsglang:\\n  mem_fraction_static: "
                "0.85\\n' >> docs/examples/staging.yaml",
                append=("docs/examples/staging.yaml", DIFF_EDIT),
            ),
            Step("make diff PROFILE=docs/examples/staging.yaml", select=head(40)),
            Step("git checkout docs/examples/staging.yaml", run=lambda: ""),
        ]
    ),
    "diff-profiles": Block(
        [
            Step(
                ".venv/bin/modal-sglang diff long-context --against scale-to-zero",
                select=lambda lines: (
                    lines[: lines.index("") + 1]
                    + lines[lines.index("") + 1 :][: lines[lines.index("") + 1 :].index("")]
                ),
            )
        ]
    ),
    "deploy-dry-run": Block([Step(".venv/bin/modal-sglang deploy prod --dry-run")]),
    "fallback-plan": Block(
        [
            Step(
                ".venv/bin/modal-sglang plan high-availability",
                select=sections("Per GPU type"),
            )
        ]
    ),
    "bench-validate": Block(skip="a timing: it differs on every run and machine"),
    "sglang-manifest": Block(skip="installs an SGLang release from PyPI (network)"),
    "cluster-plan": Block(
        [Step(".venv/bin/modal-sglang plan glm51-bf16-cluster", select=head(24))]
    ),
    "curl": Block(skip="needs a deployed endpoint and its API key"),
    "cold-start-plan": Block(
        [
            Step(
                ".venv/bin/modal-sglang plan prod",
                select=sections("Cold start", "Compile caches"),
            )
        ]
    ),
}


# --- README in, README out --------------------------------------------------------------------


def regenerate(text: str, check: bool, only: set[str] | None = None) -> tuple[str, list[str]]:
    """The README with every known, runnable block rewritten (or those in `only`), and what is
    wrong with it."""
    problems: list[str] = []
    marked = sum(1 for _ in MARKER.finditer(text))
    fences = len(FENCE.findall(text))
    if fences != marked:
        problems.append(f"{fences - marked} console block(s) without <!-- console:NAME --> markers")

    def replace(match: re.Match) -> str:
        name, body = match["name"], match["body"]
        block = BLOCKS.get(name)
        if block is None:
            problems.append(f"console:{name}: not in scripts/readme_console.py BLOCKS")
            return match[0]
        if block.skip or (only is not None and name not in only):
            return match[0]
        fresh = render(block)
        if _VOLATILE.sub(r"\1 (sha)", fresh) == _VOLATILE.sub(r"\1 (sha)", body):
            return match[0]  # current: a new commit's sha alone rewrites nothing
        problems.append(f"console:{name}: out of date (run `make readme`)")
        if check:
            return match[0]
        return f"<!-- console:{name} -->\n```console\n{fresh}```\n<!-- /console -->"

    return MARKER.sub(replace, text), problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if stale")
    args = parser.parse_args(argv)
    text = README.read_text(encoding="utf-8")
    new, problems = regenerate(text, args.check)
    if args.check:
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1 if problems else 0
    if new != text:
        README.write_text(new, encoding="utf-8")
    unknown = [p for p in problems if "out of date" not in p]
    for problem in unknown:
        print(problem, file=sys.stderr)
    print(f"README.md: {len(problems) - len(unknown)} block(s) rewritten")
    return 1 if unknown else 0


if __name__ == "__main__":
    sys.exit(main())
