"""Load profile YAML with source positions, resolve `extends`, and merge.

Merge rule: mappings merge key by key, recursively; lists and scalars in the child replace the
parent's value whole; a null removes an inherited key (its schema default applies again). `extends` names a profile in the same folder (without `.yaml`) or a path
relative to the child file.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from generator import PROFILES_DIR, REPO_ROOT
from generator.errors import FieldPath, Location, Problem, ProfileError, did_you_mean


@dataclass
class Profile:
    """A merged profile: the data, where each value came from, and the `extends` chain."""

    name: str
    path: Path
    data: dict[str, Any]
    origins: dict[FieldPath, Location] = field(default_factory=dict)
    chain: list[Path] = field(default_factory=list)  # the profile first, then its ancestors
    notes: list[Problem] = field(default_factory=list)  # warnings from reading the YAML
    dummy_of: str | None = None  # a dummy-weights variant's real profile (operate/dummy.py)

    def locate(self, path: FieldPath) -> Location:
        """Where the value at `path` (or its nearest located parent) was written."""
        for end in range(len(path), -1, -1):
            if path[:end] in self.origins:
                return self.origins[path[:end]]
        return Location(self.path)


def _shown(ref: str) -> str:
    """A reference as an error quotes it: at most 100 characters (printed escaped, errors.py)."""
    return ref if len(ref) <= 100 else f"{ref[:100]}... ({len(ref):,} characters)"


def profile_root(path: Path) -> Path:
    """The repository a profile belongs to, which its `extends` chain (and what is written for
    it) must stay in: this checkout when the path is in it (symlinks not followed), else the
    workflow's $GITHUB_WORKSPACE or the git work tree holding it, else its own folder."""
    absolute = Path(os.path.abspath(path))
    if absolute.is_relative_to(REPO_ROOT):
        return REPO_ROOT
    workspace = os.environ.get("GITHUB_WORKSPACE")
    if workspace and absolute.is_relative_to(os.path.abspath(workspace)):
        return Path(os.path.abspath(workspace))
    return next((d for d in absolute.parents if (d / ".git").exists()), absolute.parent)


def _inside(path: Path, root: Path) -> bool:
    """`path`, symlinks followed, lies in `root` (also resolved) or in the shipped profiles."""
    resolved = path.resolve()
    return resolved.is_relative_to(root.resolve()) or resolved.is_relative_to(
        PROFILES_DIR.resolve()
    )


def resolve_profile_path(
    ref: str, relative_to: Path | None = None, root: Path | None = None
) -> Path:
    """A profile name under profiles/ (or next to `relative_to`), or a path to a YAML file.

    Only regular .yaml/.yml files, and with `root` only files inside it (or profiles/): an
    `extends` from a pull request must not make CI read, and quote in its errors, files such as
    ~/.modal.toml, /proc/self/environ or a credentials file elsewhere on the machine.
    """
    candidates = []
    as_path = Path(ref)
    if relative_to is not None:
        candidates += [relative_to.parent / ref, relative_to.parent / f"{ref}.yaml"]
    if as_path.suffix in (".yaml", ".yml") or "/" in ref:
        candidates.append(as_path)
    candidates.append(PROFILES_DIR / f"{ref}.yaml")
    for candidate in candidates:
        try:
            found = candidate.suffix in (".yaml", ".yml") and candidate.is_file()
        except OSError as exc:  # a name too long, a folder that cannot be searched
            raise ProfileError(f"cannot use profile {_shown(ref)!r}: {exc.strerror}") from None
        if not found:
            continue
        if root is not None and not _inside(candidate, root):
            raise ProfileError(
                f"{_shown(ref)!r} is outside {root}: a profile extends only profiles in its "
                "repository (or its own folder when it is outside one)"
            )
        return candidate
    folder = relative_to.parent if relative_to is not None else PROFILES_DIR
    known = sorted(p.stem for p in folder.glob("*.yaml"))
    hint = did_you_mean(as_path.stem, known) or (
        f"known profiles: {', '.join(known)}" if known else ""
    )
    raise ProfileError(f"profile not found: {_shown(ref)}" + (f" ({hint})" if hint else ""))


# libyaml's loader when PyYAML has it (several times faster); both keep positions and refuse tags.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Profiles come in pull requests: the work of reading one is bounded before it is done. The
# bounds hold for a profile and every profile it extends together (the merged result is never
# larger than its layers), so a chain of large files costs no more than one.
MAX_PROFILE_BYTES = 256 * 1024  # the files of a chain together; the shipped ones are under 4 KiB
MAX_DEPTH = 32  # nesting of mappings and lists, aliases followed (profiles use 4)
MAX_VALUES = 10_000  # values once aliases are expanded (the largest shipped profile has ~100)
MAX_TEXT_CHARS = 1024 * 1024  # characters of all scalars once aliases are expanded
MAX_CHAIN = 8  # files in one `extends` chain (the shipped profiles use 3)
MAX_INT_DIGITS = 30  # far past any count, size or port; Python refuses ints over 4,300 digits


@dataclass
class Budget:
    """What is left of the bounds for one `extends` chain; each file read spends from it."""

    bytes: int = MAX_PROFILE_BYTES
    values: int = MAX_VALUES
    text: int = MAX_TEXT_CHARS
    files: int = 0

    def over(self, what: str) -> str:
        """The error message when `what` ran out: per profile, or per chain when extended."""
        limit = {
            "bytes": f"{MAX_PROFILE_BYTES // 1024} KiB",
            "values": f"{MAX_VALUES:,} values",
            "text": f"{MAX_TEXT_CHARS:,} characters of text",
        }[what]
        if self.files <= 1:
            return {
                "bytes": f"profile is larger than {limit}; a deployment profile is a few KiB",
                "values": f"aliases expand this profile past {limit}; write the values out "
                "instead of nesting aliases",
                "text": f"aliases expand this profile past {limit}; write the values out "
                "instead of repeating long aliased strings",
            }[what]
        return (
            f"this profile and the profiles it extends hold more than {limit} together "
            "(aliases expanded); a deployment profile is a few KiB"
        )


USER_CATALOG = "models"  # the user model catalog's folder beside the profiles (models.py)
PROFILE_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")  # matched whole (fullmatch)

_TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_TAG + t for t in ("str", "int", "float", "bool", "null")}
_MERGE_TAG = _TAG + "merge"
_YAML11_BOOLS = {"yes", "no", "on", "off"}


def _at(file: Path, mark) -> Location:
    return Location(file, mark.line + 1, mark.column + 1)


def _read_text(path: Path, budget: Budget) -> str:
    """The file as UTF-8 text, or a located error (size, encoding, OS, not a regular file)
    instead of a traceback. The file is opened without blocking and checked on its descriptor:
    a FIFO or a device cannot stall the reader, whatever it was when its name was looked up."""
    budget.files += 1
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise ProfileError("not a regular file", location=Location(path))
            raw = f.read(budget.bytes + 1)
    except OSError as exc:
        raise ProfileError(
            f"cannot read profile: {exc.strerror}", location=Location(path)
        ) from None
    if len(raw) > budget.bytes:
        raise ProfileError(budget.over("bytes"), location=Location(path))
    budget.bytes -= len(raw)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ProfileError(
            f"not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the profile as UTF-8",
            location=Location(path, line, column),
        ) from None


def _check_nesting(text: str, path: Path) -> None:
    """Refuse deep nesting from the event stream, before anything recursive sees the document."""
    depth = 0
    for event in yaml.parse(text, Loader=_SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise ProfileError(
                    f"nested deeper than {MAX_DEPTH} levels", location=_at(path, event.start_mark)
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def load_yaml(
    path: Path, budget: Budget | None = None
) -> tuple[Any, dict[FieldPath, Location], list[Problem]]:
    """Parse one YAML file safely: the data, the position of every key and value, and warnings.

    The node tree is checked before anything is built from it: nesting, alias expansion, tags,
    keys and integer sizes are bounded or refused with the position they were written at.
    `budget` is shared by the files of one `extends` chain (a fresh one when not given).
    """
    budget = budget if budget is not None else Budget()
    text = _read_text(path, budget)
    loader = _SafeLoader(text)
    try:
        _check_nesting(text, path)
        node = loader.get_single_node()
        origins: dict[FieldPath, Location] = {}
        problems: list[Problem] = []
        if node is not None:
            _NodeWalk(path, origins, problems, budget).walk(node, ())
        errors = [p for p in problems if p.severity == "error"]
        if errors:
            raise ProfileError("invalid profile", errors, location=Location(path))
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = _at(path, mark) if mark else Location(path)
        what = " ".join(s for s in (exc.context, exc.problem) if s)
        raise ProfileError(f"invalid YAML: {what}", location=where) from None
    except yaml.YAMLError as exc:
        raise ProfileError(f"invalid YAML: {exc}", location=Location(path)) from None
    finally:
        loader.dispose()
    return data, origins, [p for p in problems if p.severity == "warning"]


class _NodeWalk:
    """Records where each value was written and finds what the profile must not contain."""

    def __init__(
        self,
        file: Path,
        origins: dict[FieldPath, Location],
        problems: list[Problem],
        budget: Budget,
    ):
        self.file, self.origins, self.problems, self.budget = file, origins, problems, budget

    def spend(self, node, values: int = 1, text: int = 0) -> None:
        budget = self.budget
        budget.values -= values
        budget.text -= text
        for what in ("values", "text"):
            if getattr(budget, what) < 0:
                raise ProfileError(budget.over(what), location=_at(self.file, node.start_mark))

    def problem(self, message: str, node, path: FieldPath, severity: str = "error") -> None:
        rule = "yaml-1.1" if severity == "warning" else ""
        where = _at(self.file, node.start_mark)
        self.problems.append(Problem(message, where, path, severity=severity, rule=rule))

    def walk(self, node, path: FieldPath) -> None:
        self.spend(node, text=len(node.value) if isinstance(node, yaml.ScalarNode) else 0)
        if len(path) > MAX_DEPTH:
            raise ProfileError(
                f"nested deeper than {MAX_DEPTH} levels (through aliases)",
                location=_at(self.file, node.start_mark),
            )
        self.origins[path] = _at(self.file, node.start_mark)
        collection = {yaml.MappingNode: "map", yaml.SequenceNode: "seq"}.get(type(node))
        if collection and node.tag != _TAG + collection:
            self.problem(
                f"a {node.tag.removeprefix(_TAG)} value is not accepted in a profile", node, path
            )
        elif isinstance(node, yaml.MappingNode):
            self.mapping(node, path, explicit=True)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self.walk(item, path + (index,))
        else:
            self.scalar(node, path)

    def mapping(self, node, path: FieldPath, explicit: bool) -> None:
        """Merged entries (`<<: *anchor`) first, so explicit keys override them without being
        reported as duplicates."""
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                sources = (
                    value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                )
                for source in reversed(sources):  # the first source wins, as YAML says
                    if not isinstance(source, yaml.MappingNode):
                        self.problem("`<<` merges mappings only", source, path)
                        continue
                    self.spend(source)
                    self.mapping(source, path, explicit=False)
        seen: set[str] = set()
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = key_node.value
            if key_node.tag != _TAG + "str":
                kind = key_node.tag.removeprefix(_TAG)
                shown = key if isinstance(key, str) else "a " + kind
                self.problem(
                    f'key {shown!r} is read as {kind}, not text; quote it: "{shown}"',
                    key_node,
                    path,
                )
                continue
            self.spend(key_node, values=0, text=len(key))
            if explicit and key in seen:
                self.problem(f"duplicate key '{key}'", key_node, path + (key,))
            seen.add(key)
            self.walk(value_node, path + (key,))
            # An unknown key is best reported at the key itself, not at its value.
            self.origins[path + (key, "<key>")] = _at(self.file, key_node.start_mark)

    def scalar(self, node, path: FieldPath) -> None:
        tag, raw = node.tag, node.value
        if tag not in _SCALAR_TAGS:
            kind = tag.removeprefix(_TAG)
            hint = "; quote it to keep it as text" if kind == "timestamp" else ""
            self.problem(f"a {kind} value is not accepted in a profile{hint}", node, path)
        elif tag == _TAG + "int" and len(raw.lstrip("+-").replace("_", "")) > MAX_INT_DIGITS:
            self.problem(f"integer of {len(raw)} digits is out of range", node, path)
        elif tag in (_TAG + "int", _TAG + "float") and (
            ":" in raw or "_" in raw or re.fullmatch(r"[-+]?0[0-7]+|[-+]?0[xXbB].*", raw)
        ):
            value = yaml.load(raw, Loader=_SafeLoader)
            self.problem(
                f"YAML 1.1 reads {raw} as {value}; write {value}, or quote it for text",
                node,
                path,
                severity="warning",
            )
        elif tag == _TAG + "bool" and raw.lower() in _YAML11_BOOLS:
            value = "true" if yaml.load(raw, Loader=_SafeLoader) else "false"
            self.problem(
                f"YAML 1.1 reads {raw} as {value}; write {value}, or quote it for text",
                node,
                path,
                severity="warning",
            )


# Fields where null is itself a setting, not "use the default": the release gates' thresholds,
# whose null turns the gate off (schema: nullable, with a default that is not null).
NULL_IS_A_SETTING: frozenset[FieldPath] = frozenset(
    {("release", "probe_min_accuracy"), ("release", "ttft_p50_ms"), ("release", "tpot_p50_ms")}
)


def merge(parent: Any, child: Any, path: FieldPath = ()) -> Any:
    """Maps merge deeply; lists and scalars in the child replace the parent's value.

    A null in a map removes the key (an inherited one too), so the schema default applies;
    where null is a setting (NULL_IS_A_SETTING) it is kept, and replaces the parent's value.
    """
    if not isinstance(child, dict):
        return child
    merged = dict(parent) if isinstance(parent, dict) else {}
    for key, value in child.items():
        if value is None and path + (key,) not in NULL_IS_A_SETTING:
            merged.pop(key, None)
        else:
            merged[key] = merge(merged.get(key), value, path + (key,))
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
    check_profile_name(path)
    root = profile_root(path)
    if not _inside(path, root):  # a committed symlink that leaves the repository
        raise ProfileError(
            f"leads to {path.resolve()}, outside {root}; a profile in a repository must be a "
            "file in it",
            location=Location(path),
        )
    check_unique_name(path)
    budget = Budget()
    chain: list[Path] = []
    notes: list[Problem] = []
    layers: list[tuple[dict, dict[FieldPath, Location]]] = []
    while True:
        resolved = path.resolve()
        if resolved in chain:
            cycle = " -> ".join(p.stem for p in [*chain, resolved])
            raise ProfileError(f"`extends` cycle: {cycle}", location=Location(path))
        chain.append(resolved)
        data, origins, warnings = load_yaml(path, budget)
        notes += warnings
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
        if len(chain) >= MAX_CHAIN:
            raise ProfileError(
                f"extends: the chain is longer than {MAX_CHAIN} profiles "
                f"({' -> '.join(p.stem for p in chain)} -> ...); extend a nearer profile",
                location=origins[("extends",)],
            )
        try:
            path = resolve_profile_path(parent, relative_to=path, root=root)
        except ProfileError as exc:
            raise ProfileError(f"extends: {exc}", location=origins[("extends",)]) from None

    merged: dict[str, Any] = {}
    merged_origins: dict[FieldPath, Location] = {}
    for data, origins in reversed(layers):
        merged = merge(merged, data)
        merged_origins.update(origins)
    merged.pop("extends", None)
    merged_origins = {p: loc for p, loc in merged_origins.items() if _exists(merged, p)}
    return Profile(chain[0].stem, chain[0], merged, merged_origins, chain, notes)


def check_profile_name(path: Path) -> None:
    """A profile's name (its file name) names build/<name>/ and deploys/<name>/ and is printed in
    the rendered app: lowercase letters, digits, '.', '_' and '-', starting with a letter or digit."""
    if not PROFILE_NAME.fullmatch(path.stem):
        suggestion = re.sub(r"[^a-z0-9._-]+", "-", path.stem.lower()).strip("-._") or "profile"
        raise ProfileError(
            f"profile name {path.stem!r} is not allowed: expected lowercase "
            f"letters, digits, '.', '_' and '-', starting with a letter or digit "
            f"(did you mean {suggestion}{path.suffix}?)",
            location=Location(path),
        )


def check_unique_name(path: Path) -> None:
    """One name, one profile: build/<name>/ and deploys/<name>/ belong to it. Refused: another
    .yaml/.yml of that name beside it, and, for a profile inside the repository, another of that
    name anywhere under profiles/. (A path outside the checkout, given by whoever runs the
    command, is checked against its own folder only.)"""
    here = path.resolve()
    others = [path.with_suffix(s) for s in (".yaml", ".yml") if s != path.suffix]
    if profile_root(path) == REPO_ROOT and PROFILES_DIR.is_dir():
        catalog = (PROFILES_DIR / USER_CATALOG).resolve()  # model catalog files, not profiles
        others += [
            p
            for p in (
                *PROFILES_DIR.rglob(f"{path.stem}.yaml"),
                *PROFILES_DIR.rglob(f"{path.stem}.yml"),
            )
            if not p.resolve().is_relative_to(catalog)
        ]
    clashes = sorted({str(Location(o)) for o in others if o.is_file() and o.resolve() != here})
    if clashes:
        raise ProfileError(
            f"another profile is named {path.stem!r} ({', '.join(clashes)}): both would render "
            f"into build/{path.stem}/ and share deploys/{path.stem}/; rename one",
            location=Location(path),
        )


def _extends_chain(path: Path) -> list[Path]:
    """The files `path` extends, nearest first; stops quietly where `load_profile` would fail."""
    chain = [path.resolve()]
    budget, root = Budget(), profile_root(path)
    while len(chain) <= MAX_CHAIN:
        try:
            data = load_yaml(path, budget)[0]
            parent = data.get("extends") if isinstance(data, dict) else None
            if not isinstance(parent, str) or not parent:
                break
            path = resolve_profile_path(parent, relative_to=path, root=root)
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
