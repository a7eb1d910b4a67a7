"""`diff`: what changes between two profiles, or between a profile and its last deploy.

A pretend render: nothing is written. Settings are compared field by field on the merged
profiles, then the rendered apps as a unified diff.
"""

from __future__ import annotations

import difflib
import json
from typing import Any

from generator.errors import UserError
from generator.operate import deploy
from generator.operate.report import emit_line
from generator.pipeline import load, render_app
from generator.profile.committed import committed_exists, read_committed

MISSING = object()


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
    return [
        (key, a.get(key, MISSING), b.get(key, MISSING))
        for key in sorted(a.keys() | b.keys())
        if a.get(key, MISSING) != b.get(key, MISSING)
    ]


def _show(value: Any) -> str:
    return "(unset)" if value is MISSING else json.dumps(value)


def diff(ref: str, against: str = "deployed") -> int:
    loaded = load(ref)
    _, new_app = render_app(loaded)
    name = loaded.profile.name
    if against == "deployed":
        app_name = loaded.deployment.app_name
        history = deploy.live_records(deploy.read_history(name, app_name))
        if not history:
            raise UserError(f"no deploy record for {name} in {deploy.DEPLOYS_DIR}: deploy it first")
        last = history[-1]
        old_label = f"deployed {last['tag']} ({last['time']})"
        old_settings = last["settings"]
        old_file = deploy.DEPLOYS_DIR / name / last["tag"] / "modal_app.py"
        root = deploy.DEPLOYS_DIR.parent
        old_app = (
            read_committed(old_file, root, deploy.HISTORY_RESTORE).decode("utf-8", "replace")
            if committed_exists(old_file, root)
            else ""
        )
    else:
        other = load(against)
        old_label = f"profile {other.profile.name}"
        old_settings = other.profile.data
        _, old_app = render_app(other, None)
    changes = settings_changes(old_settings, loaded.profile.data)
    out = [f"settings: {old_label} -> profile {name}"]
    if not changes:
        out.append("  no changes")
    width = max((len(key) for key, _, _ in changes), default=0)
    for key, old, new in changes:
        out.append(f"  {key.ljust(width)}  {_show(old)} -> {_show(new)}")
    for line in out:  # keys and values from a committed deploy record: one printable line each
        print(emit_line(line, "text"))
    print()
    lines = difflib.unified_diff(
        old_app.splitlines(True), new_app.splitlines(True), old_label, f"profile {name}"
    )
    text = "".join(emit_line(line.rstrip("\n"), "text") + "\n" for line in lines)
    print(text if text else "rendered app: no changes")
    return 0
