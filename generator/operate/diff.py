"""`diff`: what a change to a profile does, before it is deployed.

Compared with (`--against`):
- a git ref (default HEAD): the same profile as committed there, its `extends` chain and lock
  file read at that commit too (profile/at_ref.py);
- `deployed`: the last deploy record (deploys/<profile>/history.json and the app it deployed);
- another profile, by name or path.

A pretend render: nothing is written. Three parts: the merged settings field by field, the
plan's figures and findings (memory, KV pool, full-context sequences, cost, cold start), and the
rendered apps as a unified diff. Both sides are sized by this checkout's catalogs and rules, so
the plan part shows what the profile change does, not what a newer generator changed.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.errors import UserError
from generator.operate import deploy
from generator.operate.plan import DEFAULT_UTILIZATION
from generator.operate.plan import build as build_plan
from generator.operate.report import emit_line
from generator.pipeline import Loaded, load, render_app
from generator.profile import at_ref
from generator.profile.checkpoint import LOCK_FILE, LOCK_RESTORE
from generator.profile.committed import committed_exists, read_committed
from generator.profile.load import profile_root, resolve_profile_path

MISSING = object()
DEFAULT_AGAINST = "HEAD"


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}; lists are leaf values (they replace whole when merged)."""
    if isinstance(data, dict) and data:
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: data}


def settings_changes(old: dict, new: dict) -> list[tuple[str, Any, Any]]:
    a, b = flatten(old), flatten(new)

    def filled(key: str, side: dict) -> bool:  # an empty mapping on one side, keys on the other
        return any(k.startswith(key + ".") for k in side)

    return [
        (key, a.get(key, MISSING), b.get(key, MISSING))
        for key in sorted(a.keys() | b.keys())
        if a.get(key, MISSING) != b.get(key, MISSING)
        and not (a.get(key) == {} and filled(key, b))
        and not (b.get(key) == {} and filled(key, a))
    ]


def _show(value: Any) -> str:
    return "(unset)" if value is MISSING else json.dumps(value)


@dataclass(frozen=True)
class Side:
    """One side of a diff: a label, the merged settings, the rendered app, the plan if known."""

    label: str
    settings: dict
    app: str
    plan: dict | None
    plan_note: str = ""  # why there is no plan


# The plan's figures a diff compares: (label, key, how the value is shown).
PLAN_ROWS: list[tuple[str, str, Any]] = [
    ("GPU", "gpu", str),
    ("weights per GPU", "weights_gib_per_gpu", lambda g: f"{g:.2f} GiB"),
    ("KV pool per GPU", "kv_pool_gib_per_gpu", lambda g: f"{g:.2f} GiB"),
    ("KV pool", "kv_pool_tokens", lambda t: f"{t:,} tokens"),
    ("context length", "context_tokens", lambda t: f"{t:,} tokens"),
    ("full-context sequences at once", "max_full_context_sequences", str),
    ("max_running_requests", "max_running_requests", str),
    (
        "running requests fit at full context",
        "running_requests_fit",
        lambda f: "yes" if f else "no",
    ),
    ("TPOT floor", "tpot_floor_ms", lambda ms: f"{ms:.3f} ms"),
    ("per replica-hour", "cost_per_replica_hour_usd", lambda c: f"${c:,.2f}"),
    ("idle floor per month", "idle_cost_per_month_usd", lambda c: f"${c:,.2f}"),
    (
        f"month at utilization {DEFAULT_UTILIZATION}",
        "cost_per_month_at_utilization_usd",
        lambda c: f"${c:,.2f}",
    ),
    ("cold start (cache warm)", "cold_start_seconds", lambda s: f"{s:,} s"),
]


def plan_of(loaded: Loaded) -> dict:
    return build_plan(loaded.profile, loaded.deployment, loaded.warnings, DEFAULT_UTILIZATION)


def _finding(f: dict) -> str:
    return f"{f['severity']}: [{f['rule'] or 'profile'}] {f['message']}"


def plan_changes(old: dict, new: dict) -> list[str]:
    """The plan's changed figures and the findings that appear or go, as indented lines."""
    width = max(len(label) for label, _, _ in PLAN_ROWS)
    out = [
        f"  {label.ljust(width)}  {show(old[key])} -> {show(new[key])}"
        for label, key, show in PLAN_ROWS
        if old[key] != new[key]
    ]
    before = {_finding(f) for f in old["findings"]}
    after = {_finding(f) for f in new["findings"]}
    out += [f"  - {f}" for f in sorted(before - after)]
    out += [f"  + {f}" for f in sorted(after - before)]
    return out


def _side(loaded: Loaded, label: str) -> Side:
    _, app = render_app(loaded)
    return Side(label, loaded.profile.data, app, plan_of(loaded))


def _with_prefix_replaced(exc: UserError, old: Path, new: str) -> UserError:
    """The same error with a temporary copy's folder shown as `new` (REF:folder)."""
    text = str(exc).replace(str(old.resolve()), new).replace(str(old), new)
    return type(exc)(text)


@contextlib.contextmanager
def _deployed_profile(path: Path, settings: dict) -> Iterator[Path]:
    """The deployed settings as a profile file beside a copy of today's lock file."""
    folder = Path(tempfile.mkdtemp(prefix="modal-sglang-deployed-"))
    try:
        (folder / ".git").mkdir()
        lock, root = path.parent / LOCK_FILE, profile_root(path)
        if committed_exists(lock, root):  # inside the repository, no link, bounded
            (folder / LOCK_FILE).write_bytes(read_committed(lock, root, LOCK_RESTORE))
        target = folder / path.name
        target.write_text(json.dumps(settings), encoding="utf-8")  # JSON is YAML
        yield target
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def deployed_side(loaded: Loaded) -> Side:
    name = loaded.profile.name
    history = deploy.live_records(deploy.read_history(name, loaded.deployment.app_name))
    if not history:
        raise UserError(f"no deploy record for {name} in {deploy.DEPLOYS_DIR}: deploy it first")
    last = history[-1]
    label = f"deployed {last['tag']} ({last['time']})"
    old_file = deploy.DEPLOYS_DIR / name / last["tag"] / "modal_app.py"
    root = deploy.DEPLOYS_DIR.parent
    app = (
        read_committed(old_file, root, deploy.HISTORY_RESTORE).decode("utf-8", "replace")
        if committed_exists(old_file, root)
        else ""
    )
    plan, note = None, ""
    try:
        with _deployed_profile(loaded.profile.path, last["settings"]) as path:
            plan = plan_of(load(path))
    except UserError as exc:
        first = str(exc).splitlines()[0].rpartition(": ")[2]
        note = f"the deployed settings no longer load as a profile ({first})"
    return Side(label, last["settings"], app, plan, note)


def _looks_like_path(against: str) -> bool:
    """A profile file, not a ref: `origin/main` is a ref, `profiles/x.yaml` a path."""
    return against.endswith((".yaml", ".yml"))


def other_side(loaded: Loaded, against: str) -> Side:
    """`against` as a git ref of this profile, else as another profile."""
    path = loaded.profile.path
    if not _looks_like_path(against) and at_ref.is_ref(against, path.parent):
        with at_ref.checkout(path, against) as (copy, commit, folder):
            label = f"{against} ({commit[:12]})"
            try:
                old = load(copy)
            except UserError as exc:
                raise _with_prefix_replaced(
                    UserError(f"the profile as committed at {label} does not load: {exc}"),
                    copy.parent,
                    f"{against}:{folder.rstrip('/')}" if folder else f"{against}:.",
                ) from None
            return _side(old, label)
    if against == DEFAULT_AGAINST and not at_ref.in_repository(path.parent):
        raise UserError(
            f"{path.name} is not in a git repository, so there is no committed version to "
            "compare with; use --against deployed (the last deploy) or --against PROFILE"
        )
    try:
        resolve_profile_path(against)
    except UserError:
        raise UserError(
            f"--against {against[:100]!r}: neither a git ref of {path.name}'s repository nor a "
            "profile; use a branch, tag or commit (HEAD, main, HEAD~1), a profile name or path, "
            "or `deployed`"
        ) from None
    other = load(against)
    return _side(other, f"profile {other.profile.name}")


def diff_lines(loaded: Loaded, against: str = DEFAULT_AGAINST) -> list[str]:
    """The diff as lines (profile-derived text: print each through emit_line)."""
    name = loaded.profile.name
    old = deployed_side(loaded) if against == "deployed" else other_side(loaded, against)
    git = not old.label.startswith(("deployed ", "profile "))
    new = _side(loaded, f"{name} (working tree)" if git else f"profile {name}")

    out = [f"settings: {old.label} -> {new.label}"]
    changes = settings_changes(old.settings, new.settings)
    if not changes:
        out.append("  no changes")
    width = max((len(key) for key, _, _ in changes), default=0)
    out += [f"  {key.ljust(width)}  {_show(a)} -> {_show(b)}" for key, a, b in changes]

    out += ["", f"plan: {old.label} -> {new.label}"]
    if old.plan is None:
        out.append(f"  not compared: {old.plan_note}")
    else:
        out += plan_changes(old.plan, new.plan) or ["  no changes"]

    out.append("")
    app = difflib.unified_diff(
        old.app.splitlines(True), new.app.splitlines(True), old.label, new.label
    )
    lines = [line.rstrip("\n") for line in app]
    out += lines or ["rendered app: no changes"]
    return out


def diff(ref: str, against: str = DEFAULT_AGAINST) -> int:
    for line in diff_lines(load(ref), against):  # committed text: one printable line each
        print(emit_line(line, "text"))
    return 0


def deploy_preview_lines(loaded: Loaded) -> list[str]:
    """What `deploy --dry-run` shows before the modal commands: every warning, then the diff
    against what is live (the last deploy record), else against the committed profile."""
    warnings = [w for w in loaded.warnings if w.severity != "error"]
    out = [f"warnings: {len(warnings) or 'none'}"]
    out += [f"  - {w}" for w in warnings]
    silenced = loaded.profile.data.get("silence") or {}
    if silenced:
        out.append(f"  (silenced with a reason in the profile: {', '.join(sorted(silenced))})")
    out.append("")
    try:  # a history of another app name (renamed since) is told, not a failed dry run
        history = deploy.live_records(
            deploy.read_history(loaded.profile.name, loaded.deployment.app_name)
        )
        out += diff_lines(loaded, "deployed" if history else DEFAULT_AGAINST)
    except UserError as exc:  # e.g. a profile not committed yet: the dry run goes on
        out.append(f"diff: not shown ({str(exc).splitlines()[0]})")
    out.append("")
    return out
