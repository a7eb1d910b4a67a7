"""Load profile YAML with source positions, resolve `extends`, and merge.

Merge rule: mappings merge key by key, recursively; lists and scalars in the child replace the
parent's value whole; a null removes an inherited key (its schema default applies again). `extends` names a profile in the same folder (without `.yaml`) or a path
relative to the child file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from generator import PROFILES_DIR
from generator.errors import FieldPath, Location, Problem, ProfileError, did_you_mean


@dataclass
class Profile:
    """A merged profile: the data, where each value came from, and the `extends` chain."""

    name: str
    path: Path
    data: dict[str, Any]
    origins: dict[FieldPath, Location] = field(default_factory=dict)
    chain: list[Path] = field(default_factory=list)  # the profile first, then its ancestors

    def locate(self, path: FieldPath) -> Location:
        """Where the value at `path` (or its nearest located parent) was written."""
        for end in range(len(path), -1, -1):
            if path[:end] in self.origins:
                return self.origins[path[:end]]
        return Location(self.path)


def resolve_profile_path(ref: str, relative_to: Path | None = None) -> Path:
    """A profile name under profiles/ (or next to `relative_to`), or a path to a YAML file."""
    candidates = []
    as_path = Path(ref)
    if relative_to is not None:
        candidates += [relative_to.parent / ref, relative_to.parent / f"{ref}.yaml"]
    if as_path.suffix in (".yaml", ".yml") or "/" in ref:
        candidates.append(as_path)
    candidates.append(PROFILES_DIR / f"{ref}.yaml")
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    folder = relative_to.parent if relative_to is not None else PROFILES_DIR
    known = sorted(p.stem for p in folder.glob("*.yaml"))
    hint = did_you_mean(as_path.stem, known) or (
        f"known profiles: {', '.join(known)}" if known else ""
    )
    raise ProfileError(f"profile not found: {ref}" + (f" ({hint})" if hint else ""))


# libyaml's loader when PyYAML has it (several times faster); both keep positions and refuse tags.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(path: Path) -> tuple[Any, dict[FieldPath, Location]]:
    """Parse one YAML file safely, returning the data and the position of every key and value."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProfileError(
            f"cannot read profile: {exc.strerror}", location=Location(path)
        ) from None
    loader = _SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Location(path, mark.line + 1, mark.column + 1) if mark else Location(path)
        what = " ".join(s for s in (exc.context, exc.problem) if s)
        raise ProfileError(f"invalid YAML: {what}", location=where) from None
    except yaml.YAMLError as exc:
        raise ProfileError(f"invalid YAML: {exc}", location=Location(path)) from None
    finally:
        loader.dispose()
    origins: dict[FieldPath, Location] = {}
    problems: list[Problem] = []
    if node is not None:
        _record_positions(node, (), path, origins, problems)
    if problems:
        raise ProfileError(f"{path}: invalid profile", problems)
    return data, origins


def _record_positions(node, path: FieldPath, file: Path, origins, problems) -> None:
    origins[path] = Location(file, node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                where = Location(file, key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                problems.append(Problem(f"duplicate key '{key}'", where, path + (key,)))
            seen.add(key)
            _record_positions(value_node, path + (key,), file, origins, problems)
            # An unknown key is best reported at the key itself, not at its value.
            origins[path + (key, "<key>")] = Location(
                file, key_node.start_mark.line + 1, key_node.start_mark.column + 1
            )
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record_positions(item, path + (index,), file, origins, problems)


def merge(parent: Any, child: Any) -> Any:
    """Maps merge deeply; lists and scalars in the child replace the parent's value.

    A null in a map removes the key (an inherited one too), so the schema default applies.
    """
    if not isinstance(child, dict):
        return child
    merged = dict(parent) if isinstance(parent, dict) else {}
    for key, value in child.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge(merged.get(key), value)
    return merged


def _exists(data: Any, path: FieldPath) -> bool:
    for part in path:
        if part == "<key>":
            return True
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and part < len(data):
            data = data[part]
        else:
            return False
    return True


def load_profile(ref: str | Path) -> Profile:
    """Load a profile and every profile it extends, and merge them (ancestors first)."""
    path = resolve_profile_path(str(ref))
    chain: list[Path] = []
    layers: list[tuple[dict, dict[FieldPath, Location]]] = []
    while True:
        resolved = path.resolve()
        if resolved in chain:
            cycle = " -> ".join(p.stem for p in [*chain, resolved])
            raise ProfileError(f"`extends` cycle: {cycle}", location=Location(path))
        chain.append(resolved)
        data, origins = load_yaml(path)
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ProfileError(
                f"a profile must be a mapping of fields, got {type(data).__name__}",
                location=origins.get((), Location(path)),
            )
        layers.append((data, origins))
        parent = data.get("extends")
        if parent is None:
            break
        if not isinstance(parent, str) or not parent:
            raise ProfileError(
                "extends: expected the name or path of a profile", location=origins[("extends",)]
            )
        try:
            path = resolve_profile_path(parent, relative_to=path)
        except ProfileError as exc:
            raise ProfileError(f"extends: {exc}", location=origins[("extends",)]) from None

    merged: dict[str, Any] = {}
    merged_origins: dict[FieldPath, Location] = {}
    for data, origins in reversed(layers):
        merged = merge(merged, data)
        merged_origins.update(origins)
    merged.pop("extends", None)
    merged_origins = {p: loc for p, loc in merged_origins.items() if _exists(merged, p)}
    return Profile(chain[0].stem, chain[0], merged, merged_origins, chain)


def _extends_chain(path: Path) -> list[Path]:
    """The files `path` extends, nearest first; stops quietly where `load_profile` would fail."""
    chain = [path.resolve()]
    while True:
        try:
            data = load_yaml(path)[0]
            parent = data.get("extends") if isinstance(data, dict) else None
            if not isinstance(parent, str) or not parent:
                break
            path = resolve_profile_path(parent, relative_to=path)
        except ProfileError:
            break
        if path.resolve() in chain:
            break
        chain.append(path.resolve())
    return chain[1:]


def with_dependents(refs: list[str]) -> list[str]:
    """`refs`, then the profiles in the same folders that extend one of them (directly or not).

    A change to a parent can break its children, so a hook given the changed files checks those
    too. The parents a profile extends are read as it is loaded, changed or not.
    """
    targets = set()
    for ref in refs:
        try:
            targets.add(resolve_profile_path(ref).resolve())
        except ProfileError:
            pass  # reported when the reference itself is validated
    found = []
    for folder in sorted({t.parent for t in targets}):
        for candidate in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
            if candidate.resolve() not in targets and targets & set(_extends_chain(candidate)):
                found.append(str(candidate))
    return [*refs, *found]
