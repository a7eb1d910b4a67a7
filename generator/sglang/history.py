"""What changed in SGLang's server flags and environment variables from one release to another.

manifests/history.json (`make sglang-history`, scripts/sglang_manifest.py) holds the oldest
supported release's flags and, for every later release on PyPI up to the newest supported one,
what its parser added, removed or changed, all extracted from the real wheels. A supported
version's shipped manifest is the truth for that version; the history fills the releases between,
so `migrate` can name the release where a flag was renamed or removed. Without a history file
only the supported versions are known, and a change is dated "by" the next one of them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

from generator.sglang.versions import (
    MANIFESTS_DIR,
    RENAMED,
    manifest,
    supported_versions,
    version_tuple,
)

HISTORY_PATH = MANIFESTS_DIR / "history.json"
# What the history keeps of each argument (scripts/sglang_manifest.py `_HISTORY_FIELDS`).
_FIELDS = ("dest", "choices", "default", "deprecated", "replaced_by")


@cache
def _document() -> dict[str, Any]:
    if not HISTORY_PATH.is_file():
        return {"releases": [], "base": None, "changes": {}}
    return json.loads(HISTORY_PATH.read_text(encoding="utf-8"))


def releases() -> list[str]:
    """Every release whose flags are known: the history's and the supported versions."""
    return sorted({*_document()["releases"], *supported_versions()}, key=version_tuple)


def between(old: str, new: str) -> list[str]:
    """The known releases after `old` up to and including `new`, oldest first."""
    lo, hi = version_tuple(old), version_tuple(new)
    return [v for v in releases() if lo < version_tuple(v) <= hi]


@dataclass(frozen=True)
class State:
    """One release's flags (option -> argument fields) and SGLANG_* variables."""

    flags: dict[str, dict[str, Any]]
    env_vars: frozenset[str]


@cache
def _history_state(version: str) -> State | None:
    doc = _document()
    if version not in doc["releases"]:
        return None
    base = doc["base"]
    flags = {o: dict(e) for o, e in base["flags"].items()}
    env = set(base["env_vars"])
    for release in doc["releases"][1 : doc["releases"].index(version) + 1]:
        delta = doc["changes"][release]
        for option in delta["flags_removed"]:
            flags.pop(option, None)
        flags.update({o: dict(e) for o, e in delta["flags_added"].items()})
        for option, fields in delta["flags_changed"].items():
            for key, (_, value) in fields.items():
                flags[option][key] = value
        env = (env - set(delta["env_removed"])) | set(delta["env_added"])
    return State(flags, frozenset(env))


@cache
def state(version: str) -> State:
    """A release's flags: from its shipped manifest when supported, else from the history."""
    if version in supported_versions():
        path = MANIFESTS_DIR / f"sglang-{version}.json"
        data = json.loads(path.read_text(encoding="utf-8"))
        flags = {
            option: {k: arg[k] for k in _FIELDS}
            for arg in data["args"]
            for option in arg["option_strings"]
            if option.startswith("--")
        }
        return State(flags, manifest(version).env_vars)
    found = _history_state(version)
    if found is None:
        raise KeyError(f"no manifest or history for SGLang {version}")
    return found


@dataclass(frozen=True)
class FlagChange:
    """What became of one flag between two releases."""

    option: str
    kind: str  # "renamed", "removed" or "deprecated"
    new_option: str | None  # the spelling to use instead (renamed, or deprecated with one)
    version: str  # renamed: where the new name came; removed: where it went; else deprecated
    removed_in: str | None  # where the old spelling stopped being accepted, if it did
    exact: bool  # False when no history file dates it: `version` is then the next supported
    advice: str | None = None  # SGLang's own "use ..." text when it names no single flag
    target: str = ""  # kind "newer" (a move to an older SGLang): the version moved to

    def describe(self) -> str:
        when = f"in {self.version}" if self.exact else f"by {self.version}"
        if self.kind == "newer":
            spelt = f"spells it {self.new_option}" if self.new_option else "does not have it"
            return f"{self.option} came {when}; SGLang {self.target} {spelt}"
        said = f" (SGLang's advice: use {self.advice})" if self.advice else ""
        if self.kind == "renamed":
            gone = ""
            if self.removed_in:
                gone = (
                    f"; the old name was removed {'in' if self.exact else 'by'} {self.removed_in}"
                )
            return f"{self.option} was renamed {self.new_option} {when}{gone}"
        if self.kind == "removed":
            return f"{self.option} was removed {when}{said}"
        instead = f"; use {self.new_option}" if self.new_option else said
        return f"{self.option} is deprecated {when}{instead}"


def dated(old: str, new: str) -> bool:
    """Whether the history holds every release from `old` to `new` (else a change is dated by
    the next version known, not the release that made it)."""
    known = _document()["releases"]
    lo, hi = sorted((old, new), key=version_tuple)
    return lo in known and hi in known


def when(version: str, old: str, new: str) -> str:
    """ "in 0.5.13" when the history dates the change exactly, else "by 0.5.23"."""
    return f"{'in' if dated(old, new) else 'by'} {version}"


def flag_change(option: str, old: str, new: str) -> FlagChange | None:
    """What happened to `option` (a flag of SGLang `old`) by SGLang `new`; None if unchanged."""
    start = state(old).flags.get(option)
    if start is None:
        return None
    if version_tuple(new) < version_tuple(old):
        return _older(option, start, old, new)
    path = between(old, new)
    deprecated_in = removed_in = None
    replaced_by = start["replaced_by"]
    for version in path:
        entry = state(version).flags.get(option)
        if entry is None:
            removed_in = removed_in or version
            continue
        if entry["deprecated"] and not start["deprecated"]:
            deprecated_in = deprecated_in or version
        replaced_by = entry["replaced_by"] or replaced_by
    target = state(new).flags
    if replaced_by is None and option in RENAMED:
        replaced_by = RENAMED[option][0]
    if replaced_by is None and option not in target:
        # The same argparse destination under another spelling is a rename.
        others = sorted(o for o, e in target.items() if e["dest"] == start["dest"])
        replaced_by = others[0] if others else None
    advice = None
    if replaced_by is not None and replaced_by not in target:
        advice, replaced_by = replaced_by, None
    exact = dated(old, new)
    if replaced_by is not None and (removed_in or deprecated_in):
        came = next((v for v in path if replaced_by in state(v).flags), new)
        return FlagChange(option, "renamed", replaced_by, came, removed_in, exact)
    if removed_in and option not in target:
        return FlagChange(option, "removed", None, removed_in, removed_in, exact, advice)
    if deprecated_in:
        return FlagChange(option, "deprecated", replaced_by, deprecated_in, None, exact, advice)
    return None


def _older(option: str, start: dict, old: str, new: str) -> FlagChange | None:
    """A move to an older SGLang: the flag is newer than the target, or spelt otherwise there."""
    target = state(new).flags
    if option in target:
        return None
    came = next(v for v in [*between(new, old), old] if option in state(v).flags)
    older = {renamed: name for name, (renamed, _) in RENAMED.items()}
    spelt = older.get(option)
    if spelt is None:
        same = sorted(o for o, e in target.items() if e["dest"] == start["dest"])
        spelt = same[0] if same else None
    return FlagChange(
        option,
        "newer",
        spelt if spelt in target else None,
        came,
        None,
        dated(old, new),
        target=new,
    )


def env_added_in(name: str, old: str, new: str) -> str | None:
    """A move to an older SGLang: the release that started reading `name`, when the target
    `new` does not read it."""
    if name not in state(old).env_vars or name in state(new).env_vars:
        return None
    return next(v for v in [*between(new, old), old] if name in state(v).env_vars)


def choice_removed_in(option: str, value: str, old: str, new: str) -> str | None:
    """The release where `value` stopped being one of `option`'s choices, if it did."""
    for version in between(old, new):
        entry = state(version).flags.get(option)
        choices = entry["choices"] if entry is not None else None
        if choices is not None and value not in [str(c) for c in choices]:
            return version
    return None


def env_removed_in(name: str, old: str, new: str) -> str | None:
    """The release that stopped reading the SGLANG_* variable `name`, if one did."""
    if name not in state(old).env_vars:
        return None
    for version in between(old, new):
        if name not in state(version).env_vars:
            return version
    return None


@dataclass(frozen=True)
class DefaultChange:
    option: str
    old: Any
    new: Any
    versions: tuple[str, ...]  # the releases where it changed


def default_changes(old: str, new: str) -> list[DefaultChange]:
    """Flags of both releases whose parser default differs (what an unset flag now means)."""
    a, b = state(old).flags, state(new).flags
    changes = []
    seen: set[str] = set()
    for option in sorted(set(a) & set(b)):
        dest = b[option]["dest"]
        if a[option]["default"] == b[option]["default"] or dest in seen:
            continue
        seen.add(dest)
        steps, previous = [], a[option]["default"]
        for version in between(old, new):
            entry = state(version).flags.get(option)
            if entry is not None and entry["default"] != previous:
                steps.append(version)
                previous = entry["default"]
        changes.append(
            DefaultChange(option, a[option]["default"], b[option]["default"], tuple(steps))
        )
    return changes
