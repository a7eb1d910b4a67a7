"""`make migrate PROFILE=prod TO=0.5.23`: every consequence of moving a profile to another SGLang.

`python -m generator migrate PROFILE --to VERSION [--format text|json|github] [--write]` reports,
between the profile's SGLang version and the target:

- flags: each flag the profile renders (per GPU type) that the target renamed, deprecated or
  removed, with the release where it happened (sglang/history.py), and values a flag no longer
  offers; the typed settings are respelt by the generator, `extra_args` are edited by --write;
- SGLang's own choices (manifests/sglang-<version>-defaults.yaml) that differ for this model on
  each GPU type, and whether the profile pins the flag (then nothing changes for it) or leaves it
  to SGLang (then behaviour changes without an edit); parser defaults that changed;
- SGLANG_* variables the profile sets that the target no longer reads;
- the plan before and after (operate/plan.py `build`): weights, KV bytes per token, the pool,
  full-context sequences, the decode floor, and any other figure that moves;
- rule findings that newly fire or stop firing (rules `run_rules`);
- the serve image and the compile caches, which are keyed by image (a new `make setup`).

It is built on the public functions of the pipeline (load, validate, deployment, flag sets, plan,
rules), so what they learn, migrate reports. `--write` rewrites the profile file in place with
ruamel.yaml's round trip (comments, order and quoting kept): the version, the image tag, renamed
flags and the `nsa` spelling, and removed flags and variables as comments that say why; the new
text is validated and rendered before it replaces the file (atomically; never through a symlink),
and nothing is written when the result is invalid.
"""

from __future__ import annotations

import copy
import difflib
import io
import json
import os
import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from generator import catalog
from generator.errors import (
    FieldPath,
    Location,
    Problem,
    ProfileError,
    UsageError,
    UserError,
    did_you_mean,
    format_path,
    printable,
)
from generator.operate.report import (
    FORMATS,
    emit_line,
    problem_record,
    repository_path,
    repository_root,
    workflow_command,
)
from generator.profile.checkpoint import known_model
from generator.profile.credentials import looks_secret, redacted
from generator.profile.deployment import Deployment, build_deployment
from generator.profile.load import Profile, load_profile
from generator.profile.validate import validate_profile
from generator.rules import run_rules
from generator.sglang import history
from generator.sglang.caches import cache_variables
from generator.sglang.defaults import UNSET, choice, effective, recorded_choices
from generator.sglang.fallback import variants
from generator.sglang.flags import DEFAULT_SETTINGS, _extra_flags, flag_set
from generator.sglang.versions import (
    carries_secret,
    check_flag_set,
    dialect,
    supported_versions,
)

# The plan's headline figures, compared side by side (operate/plan.py KEYS says what each is).
PLAN_HEADLINE = (
    ("weights_gib_per_gpu", "weights GiB per GPU"),
    ("kv_cache_dtype", "KV dtype"),
    ("kv_bytes_per_token", "KV bytes per token"),
    ("kv_pool_gib_per_gpu", "KV pool GiB per GPU"),
    ("kv_pool_tokens", "KV pool tokens"),
    ("max_full_context_sequences", "full-context sequences"),
    ("tpot_floor_ms", "decode floor ms/token"),
)
# Plan keys left out of the "other figures" diff: reported in their own sections, or the input.
_PLAN_SKIP = {
    "sglang_version",
    "findings",
    "silenced",
    "sglang_own_choices",
    "compile_caches",  # the image section says it
    "compile_cache_dir",
    "running_requests_advice",  # prose; the figures it quotes are compared
}


@dataclass(frozen=True)
class Edit:
    """One change --write makes to the profile file: set a value, or remove it with a comment."""

    path: FieldPath
    value: Any = None
    remove: bool = False
    why: str = ""  # the comment left where a removed value was
    # For a list: (index, new text or None to remove, comment) per item changed in place.
    items: tuple[tuple[int, str | None, str], ...] = ()


@dataclass
class Migration:
    profile: Profile
    source: str
    target: str
    old: Deployment
    new: Deployment | None  # None when the migrated profile does not even build
    items: list[Problem] = field(default_factory=list)  # every reported consequence
    edits: list[Edit] = field(default_factory=list)
    choices: list[dict] = field(default_factory=list)
    parser_defaults: list[dict] = field(default_factory=list)
    plan: dict = field(default_factory=dict)
    rules: dict = field(default_factory=dict)
    image: dict = field(default_factory=dict)
    target_problems: list[Problem] = field(default_factory=list)  # errors left after --write

    @property
    def valid_after(self) -> bool:
        return self.new is not None and not any(p.severity == "error" for p in self.target_problems)


def _item(m: Migration, section: str, message: str, path: FieldPath | None, severity: str):
    where = m.profile.locate(path) if path is not None else Location(m.profile.path)
    m.items.append(Problem(message, where, path, severity=severity, rule=f"migrate-{section}"))


# --- The edits -------------------------------------------------------------------------------

_TAG_VERSION = re.compile(r"(v?)(\d+\.\d+\.\d+(?:\.post\d+)?)(.*)")


def retag(tag: str, target: str) -> str:
    """The image tag for `target`: the version in the tag replaced, its prefix and suffix kept
    (v0.5.10 -> v0.5.23, v0.5.10-cu129 -> v0.5.23-cu129); `latest` stays."""
    match = _TAG_VERSION.fullmatch(tag)
    if not match:
        return tag
    return f"{match.group(1)}{target}{match.group(3)}"


def _extra_arg_edits(m: Migration) -> list[Edit]:
    """extra_args flags the target renamed (respelt) or removed (commented out)."""
    args = list(m.old.sglang.extra_args)
    ops: list[tuple[int, str | None, str]] = []
    for flag in _extra_flags(m.old.sglang.extra_args):
        index = flag.field[-1]
        change = history.flag_change(flag.option, m.source, m.target)
        if change is None:
            continue
        path = ("sglang", "extra_args", index)
        if change.new_option:
            ops.append((index, change.new_option + args[index][len(flag.option) :], ""))
            _item(m, "flag", f"{change.describe()}; --write respells it", path, "error")
        elif change.kind in ("removed", "newer"):
            count = 1 if "=" in args[index] else 1 + len(flag.values)
            shown = " ".join(redacted(a) for a in args[index : index + count])
            why = f"removed by `migrate --to {m.target}`: {shown} ({change.describe()})"
            ops += [(i, None, why if i == index else "") for i in range(index, index + count)]
            # A close spelling only (difflib ratio >= 0.8): a loose match would mislead.
            near = difflib.get_close_matches(flag.option, history.state(m.target).flags, 1, 0.8)
            near = f"; the nearest flag now is {near[0]}" if near else ""
            _item(m, "flag", f"{change.describe()}; --write comments it out{near}", path, "error")
        else:  # deprecated without a replacement: it still works, with a warning
            _item(m, "flag", change.describe(), path, "warning")
    if not ops:
        return []
    new = dict((i, text) for i, text, _ in ops)
    kept = [new.get(i, a) for i, a in enumerate(args) if new.get(i, a) is not None]
    return [Edit(("sglang", "extra_args"), kept, items=tuple(ops))]


def _env_edits(m: Migration) -> list[Edit]:
    edits = []
    for section, pairs in (("env",), m.old.env), (("sglang", "env"), m.old.sglang.env):
        for name, _value in pairs:
            gone = history.env_removed_in(name, m.source, m.target)
            came = history.env_added_in(name, m.source, m.target)
            if gone is None and came is None:
                continue
            path = (*section, name)
            if gone:
                said = f"no longer reads {name} (removed {history.when(gone, m.source, m.target)})"
                why = f"removed by `migrate --to {m.target}`: SGLang {gone} stopped reading it"
            else:
                said = f"does not read {name} (it came {history.when(came, m.source, m.target)})"
                why = f"removed by `migrate --to {m.target}`: SGLang {came} started reading it"
            _item(m, "env", f"SGLang {m.target} {said}; --write comments it out", path, "error")
            edits.append(Edit(path, remove=True, why=why))
    return edits


def _edits(m: Migration) -> list[Edit]:
    d = m.old
    edits = [Edit(("sglang", "version"), m.target)]
    tag = retag(d.images.serve.tag, m.target)
    if tag != d.images.serve.tag:
        edits.append(Edit(("images", "serve", "tag"), tag))
    words = dialect(m.target)
    if d.sglang.attention.backend in ("nsa", "dsa") and (
        d.sglang.attention.backend != words.sparse_attention_backend
    ):
        path = ("sglang", "attention", "backend")
        _item(
            m,
            "flag",
            f"attention.backend {d.sglang.attention.backend} is spelt "
            f"{words.sparse_attention_backend} in SGLang {m.target}; --write respells it",
            path,
            "warning",
        )
        edits.append(Edit(path, words.sparse_attention_backend))
    return edits + _extra_arg_edits(m) + _env_edits(m)


def apply_edits(data: dict, edits: list[Edit]) -> dict:
    """The merged profile data after the edits (what the rewritten file will merge to)."""
    out = copy.deepcopy(data)
    for edit in edits:
        parent = out
        for part in edit.path[:-1]:
            parent = parent.setdefault(part, {})
        if edit.remove:
            parent.pop(edit.path[-1], None)
        else:
            parent[edit.path[-1]] = copy.deepcopy(edit.value)
    return out


# --- What changes ------------------------------------------------------------------------------


def _typed_flag_renames(m: Migration) -> None:
    """Flags of typed settings that the generator spells differently for the target."""
    seen: set[tuple[str, str]] = set()
    for old_v, new_v in zip(variants(m.old), variants(m.new), strict=False):
        old_flags = {f.field: f for f in flag_set(old_v) if f.field and f.field[1] != "extra_args"}
        new_flags = {f.field: f for f in flag_set(new_v) if f.field and f.field[1] != "extra_args"}
        for path, flag in old_flags.items():
            now = new_flags.get(path)
            if now is None or now.option == flag.option or (flag.option, now.option) in seen:
                continue
            seen.add((flag.option, now.option))
            change = history.flag_change(flag.option, m.source, m.target)
            said = change.describe() if change else f"{flag.option} is {now.option} in {m.target}"
            _item(
                m,
                "flag",
                f"{said}; rendered as {' '.join(now.argv)} (the generator spells it, no edit)",
                path,
                "warning",
            )


def _flag_problems(m: Migration) -> None:
    """What the target's parser would still refuse or warn about after the edits."""
    seen = set()
    for v in variants(m.new):
        for problem in check_flag_set(flag_set(v), m.target):
            flag = problem.flag
            key = (problem.message, flag.field)
            if key in seen:
                continue
            seen.add(key)
            message = problem.message
            if carries_secret(flag.option, m.target) or any(map(looks_secret, flag.values)):
                for value in flag.values:  # as the rules print it (rules/sglang_flags.py)
                    message = message.replace(value, "<redacted>")
            change = history.flag_change(flag.option, m.source, m.target)
            if change is not None and problem.severity == "error":
                message += f" ({change.describe()})"
                if flag.field and flag.field[1] != "extra_args":
                    message += f"; {format_path(flag.field)} has no flag in SGLang {m.target}"
            for value in flag.values:
                gone = history.choice_removed_in(flag.option, value, m.source, m.target)
                if gone:
                    when = history.when(gone, m.source, m.target)
                    message += f" ({value!r} was dropped from {flag.option} {when})"
            _item(m, "flag", message, flag.field, problem.severity)


def _setting_value(d: Deployment, path: FieldPath) -> Any:
    value: Any = d
    for part in path:
        value = getattr(value, part)
    return value


def _own_choices(m: Migration) -> None:
    """SGLang's own choices that differ between the versions, per GPU type of the profile."""
    model = known_model(m.old)
    if model is None:
        return
    setting_of = {key: path for path, key in DEFAULT_SETTINGS.items()}
    for old_v in variants(m.old):
        gpu = catalog.gpu(old_v.gpu.type)
        s = old_v.sglang
        versions = (m.source, m.target)
        keys = {k for v in versions for k in recorded_choices(v, model.architecture) or {}}
        kv = {v: effective(v, "kv_cache_dtype", s.kv_cache_dtype, model, gpu, s) for v in versions}
        for key in sorted(keys):
            picked = [choice(v, key, model, gpu, kv[v], s.tensor_parallel_size) for v in versions]
            before, after = (p.value if p else None for p in picked)
            if before == after:
                continue
            path = setting_of.get(key)
            value = _setting_value(old_v, path) if path else None
            if path == ("sglang", "attention", "backend") and value in ("nsa", "dsa"):
                value = dialect(m.target).sparse_attention_backend
            pinned = value not in UNSET and value is not False
            flag = (picked[1] or picked[0]).flag
            record = {
                "gpu": old_v.gpu.type,
                "setting": format_path(path) if path else key,
                "flag": flag,
                "from": before,
                "to": after,
                "profile_sets": value if pinned else None,
                "changes_behaviour": not pinned,
                "source": (picked[1] or picked[0]).source,
            }
            m.choices.append(record)
            shown = {None: "none recorded", True: "on", False: "off"}
            a, b = (shown.get(x, x) if not isinstance(x, str) else x for x in (before, after))
            if pinned:
                text = (
                    f"on {old_v.gpu.type}, SGLang's own {flag} goes from {a} to {b}; the profile "
                    f"sets {shown.get(value, value)}, so nothing changes for it"
                )
                severity = "notice"
            else:
                text = (
                    f"on {old_v.gpu.type}, SGLang's own {flag} goes from {a} to {b}, and the "
                    "profile leaves it to SGLang: behaviour changes without an edit"
                )
                severity = "warning"
            _item(m, "choice", text, path, severity)


def _parser_defaults(m: Migration) -> None:
    """Parser defaults that changed for flags the profile does not set."""
    rendered = {f.option for v in variants(m.new) for f in flag_set(v)}
    for change in history.default_changes(m.source, m.target):
        if change.option in rendered:
            continue
        m.parser_defaults.append(
            {
                "flag": change.option,
                "from": change.old,
                "to": change.new,
                "changed_in": list(change.versions),
            }
        )


def _plan_of(profile: Profile, d: Deployment, problems: list[Problem]) -> dict | None:
    from generator.operate.plan import DEFAULT_UTILIZATION, build

    try:
        return build(profile, d, problems, DEFAULT_UTILIZATION)
    except UserError:
        return None


def _leaves(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            out.update(_leaves(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(value, list) and value and all(isinstance(x, dict) for x in value):
        out = {}
        for i, v in enumerate(value):
            label = v.get("gpu", i) if isinstance(v, dict) else i
            out.update(_leaves(v, f"{prefix}[{label}]"))
        return out
    return {prefix: value}


def _plan(m: Migration, old_problems: list[Problem], new_profile: Profile | None) -> None:
    before = _plan_of(m.profile, m.old, old_problems)
    after = (
        _plan_of(new_profile, m.new, m.target_problems)
        if new_profile is not None and m.new
        else None
    )
    m.plan = {"from": None, "to": None, "headline": [], "other_changes": []}
    if before is None or after is None:
        _item(m, "plan", "the plan cannot be computed for both versions", None, "warning")
        return
    for key, label in PLAN_HEADLINE:
        a, b = before.get(key), after.get(key)
        m.plan["headline"].append({"key": key, "label": label, "from": a, "to": b})
        if a != b:
            _item(m, "plan", f"{label}: {a} -> {b}", None, "notice")
    a_leaves = _leaves({k: v for k, v in before.items() if k not in _PLAN_SKIP})
    b_leaves = _leaves({k: v for k, v in after.items() if k not in _PLAN_SKIP})
    headline = {k for k, _ in PLAN_HEADLINE}
    for key in sorted(set(a_leaves) | set(b_leaves)):
        if key in headline or a_leaves.get(key) == b_leaves.get(key):
            continue
        m.plan["other_changes"].append(
            {"key": key, "from": a_leaves.get(key), "to": b_leaves.get(key)}
        )
    m.plan["from"] = {k: before[k] for k, _ in PLAN_HEADLINE}
    m.plan["to"] = {k: after[k] for k, _ in PLAN_HEADLINE}


def _rule_key(p: Problem) -> tuple[str, str]:
    return (p.rule or p.message, format_path(p.path) if p.path is not None else "")


def _rules(m: Migration, old_problems: list[Problem]) -> None:
    before = {_rule_key(p): p for p in old_problems if p.rule}
    after = {_rule_key(p): p for p in m.target_problems if p.rule}
    fire = [p for k, p in after.items() if k not in before]
    stop = [p for k, p in before.items() if k not in after]
    root = repository_root()
    m.rules = {
        "newly_fire": [problem_record(p, root) for p in fire],
        "stop_firing": [problem_record(p, root) for p in stop],
    }
    for p in fire:  # the path is the item's own (the text report puts it first)
        _item(m, "rule", f"newly fires [{p.rule}] {p.message}", p.path, p.severity)
    for p in stop:
        _item(m, "rule", f"stops firing [{p.rule}] {p.message}", p.path, "notice")


def _image(m: Migration) -> None:
    d = m.old
    new = m.new
    new_tag = retag(d.images.serve.tag, m.target)
    caches_a, caches_b = cache_variables(m.source), cache_variables(m.target)
    m.image = {
        "serve_image": {
            "from": f"{d.images.serve.repository}:{d.images.serve.tag}",
            "to": f"{d.images.serve.repository}:{new_tag}",
        },
        "compile_cache_dirs": [
            {"gpu": a.gpu.type, "from": a.compile_cache_dir, "to": b.compile_cache_dir}
            for a, b in zip(variants(d), variants(new), strict=False)
        ]
        if new
        else [],
        "cache_variables": {
            "added": sorted(set(caches_b) - set(caches_a)),
            "removed": sorted(set(caches_a) - set(caches_b)),
        },
        "setup_needed": True,
    }
    dirs = ", ".join(c["to"] for c in m.image["compile_cache_dirs"])
    _item(
        m,
        "image",
        f"the serve image changes ({m.image['serve_image']['from']} -> "
        f"{m.image['serve_image']['to']}) and the compile caches are keyed by it (new: {dirs}); "
        f"run `make setup PROFILE={m.profile.name}` before `make deploy`",
        ("images", "serve", "tag"),
        "warning",
    )


def migrate(ref: str, target: str) -> Migration:
    """Everything that changes when the profile `ref` moves to SGLang `target`."""
    from generator.pipeline import load

    versions = supported_versions()
    if target not in versions:
        hint = did_you_mean(target, versions)
        raise UsageError(
            f"--to {target}: not a supported SGLang version; choose one of "
            f"{', '.join(versions)}" + (f" ({hint})" if hint else "")
        )
    loaded = load(ref)  # the profile must be valid where it is
    profile, old = loaded.profile, loaded.deployment
    if old.sglang.version == target:
        raise UsageError(f"{profile.name} already pins SGLang {target}")
    m = Migration(profile, old.sglang.version, target, old, None)
    m.edits = _edits(m)
    new_profile = Profile(
        profile.name,
        profile.path,
        apply_edits(profile.data, m.edits),
        profile.origins,
        profile.chain,
        [],
    )
    try:
        new_profile = validate_profile(new_profile)
        m.new = build_deployment(new_profile)
        m.target_problems = run_rules(m.new, new_profile)
    except UserError as exc:  # the migrated profile does not even build: said, not raised
        m.target_problems = exc.problems or [Problem(exc.args[0], exc.location)]
        new_profile = None
    if m.new is not None:
        _typed_flag_renames(m)
        _flag_problems(m)
        _own_choices(m)
        _parser_defaults(m)
    _plan(m, list(loaded.warnings), new_profile)
    _rules(m, list(loaded.warnings))
    _image(m)
    return m


# --- Output ------------------------------------------------------------------------------------

_SECTIONS = (
    ("flag", "Flags and settings"),
    ("env", "Environment variables"),
    ("choice", "SGLang's own choices"),
    ("plan", "Plan"),
    ("rule", "Rules"),
    ("image", "Serve image and compile caches"),
)


def _text(m: Migration) -> list[str]:
    """The report's lines (each is emitted on its own: profile text cannot start a new one)."""
    out = [
        f"migrate {m.profile.name}: SGLang {m.source} -> {m.target} "
        f"({', '.join(v.gpu.modal_spec for v in variants(m.old))})"
    ]
    for section, title in _SECTIONS:
        items = [p for p in m.items if p.rule == f"migrate-{section}"]
        out += ["", title]
        if section == "plan" and m.plan.get("headline"):
            width = max(len(r["label"]) for r in m.plan["headline"])
            out.append(f"  {'':<{width}}  {m.source:>12}  {m.target:>12}")
            for r in m.plan["headline"]:
                mark = "" if r["from"] == r["to"] else "  *"
                out.append(f"  {r['label']:<{width}}  {r['from']!s:>12}  {r['to']!s:>12}{mark}")
            for c in m.plan["other_changes"]:
                out.append(f"  {c['key']}: {c['from']} -> {c['to']}")
        elif not items and not (section == "choice" and m.parser_defaults):
            out.append("  (no change)")
            continue
        for p in items:
            where = f"{format_path(p.path)}: " if p.path is not None else ""
            out.append(f"  - {where}{p.message}")
        if section == "choice" and m.parser_defaults:
            out.append("  parser defaults that changed (flags the profile does not set):")
            for c in m.parser_defaults:
                out.append(
                    f"    {c['flag']}: {json.dumps(c['from'])} -> {json.dumps(c['to'])} "
                    f"(changed in {', '.join(c['changed_in']) or m.target})"
                )
    errors = [p for p in m.target_problems if p.severity == "error"]
    out.append("")
    if errors:
        out.append(f"After the edits, {len(errors)} problem(s) remain for a hand edit:")
        out += [f"  - {p}" for p in errors]
    else:
        edits = ", ".join(format_path(e.path) for e in m.edits)
        out.append(f"--write edits {edits}; the result validates")
    return [*out, ""]


def _json(m: Migration) -> str:
    root = repository_root()
    document = {
        "profile": m.profile.name,
        "file": repository_path(m.profile.path, root),
        "from": m.source,
        "to": m.target,
        "gpu_types": [v.gpu.type for v in variants(m.old)],
        "valid_after_edits": m.valid_after,
        "findings": [problem_record(p, root) for p in m.items],
        "edits": [
            {
                "path": format_path(e.path),
                "action": "remove" if e.remove else "set",
                "value": None if e.remove else e.value,
            }
            for e in m.edits
        ],
        "sglang_choices": m.choices,
        "parser_defaults": m.parser_defaults,
        "plan": m.plan,
        "rules": m.rules,
        "image": m.image,
        "remaining_problems": [problem_record(p, root) for p in m.target_problems],
    }
    return json.dumps(document, indent=2, default=str) + "\n"


def _github(m: Migration) -> str:
    root = repository_root()
    lines = [emit_line(f"migrate {m.profile.name}: SGLang {m.source} -> {m.target}", "github")]
    for p in m.items:
        lines.append(workflow_command(p, root))
    return "\n".join(lines) + "\n"


def report_text(m: Migration, output_format: str) -> str:
    if output_format == "json":
        return _json(m)
    if output_format == "github":
        return _github(m)
    return "\n".join(emit_line(line, "text") for line in _text(m))


# --- --write -----------------------------------------------------------------------------------


def _yaml():
    from ruamel.yaml import YAML

    y = YAML()
    y.preserve_quotes = True
    y.width = 4096
    return y


def _node_at(root, path: FieldPath):
    """The YAML node at `path` in a composed document, with its parent; (None, None) if absent."""
    parent, node = None, root
    for part in path:
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            found = next((v for k, v in node.value if k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            found = node.value[part] if part < len(node.value) else None
        else:
            found = None
        if found is None:
            return None, None
        parent, node = node, found
    return parent, node


def _span(parent, node) -> tuple[int, int]:
    """First and last line (0-based) of a mapping entry or a sequence item."""
    if isinstance(parent, yaml.MappingNode):
        start = next(k for k, v in parent.value if v is node).start_mark.line
    else:
        start = node.start_mark.line
    end = node.end_mark.line - (1 if node.end_mark.column == 0 else 0)
    return start, max(start, end)


def _removals(m: Migration) -> list[tuple[FieldPath, str]]:
    """(path, why) of each value --write removes."""
    out = [(e.path, e.why) for e in m.edits if e.remove]
    for e in m.edits:
        out += [((*e.path, i), why) for i, text, why in e.items if text is None]
    return out


def _comment_out(text: str, m: Migration) -> tuple[str, set[FieldPath]]:
    """Comment out, in the text itself, each removed entry written in block style in this file,
    after a line saying why. Returns the text and the paths handled so."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    lines = text.splitlines(keepends=True)
    spans = []
    for path, why in _removals(m):
        parent, node = _node_at(root, path) if root is not None else (None, None)
        if node is None or parent.flow_style:
            continue
        start, end = _span(parent, node)
        spans.append((start, end, why, path))
    done = set()
    for start, end, why, path in sorted(spans, reverse=True):
        pad = re.match(r"[ ]*", lines[start]).group()
        commented = [
            f"{pad}# {line[len(pad) :]}" if line.strip() else line
            for line in lines[start : end + 1]
        ]
        note = [f"{pad}# {printable(why)}\n"] if why else []  # one line, whatever it quotes
        lines[start : end + 1] = note + commented
        done.add(path)
    out = "".join(lines)
    return (out if out.endswith("\n") else out + "\n"), done


def _mapping_indent(text: str) -> int:
    """The file's mapping indent: the first nested key's (ruamel guesses the sequences')."""
    for line in text.splitlines():
        match = re.match(r"( +)[^ #-][^:#]*:( |$)", line)
        if match:
            return len(match.group(1))
    return 2


def rewrite(text: str, m: Migration) -> str:
    """The profile file's text with the edits made: removals commented out in the text, then
    the new values set with ruamel.yaml's round trip (comments, order and quoting kept)."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.util import load_yaml_guess_indent

    text, commented = _comment_out(text, m)
    _, seq_indent, block_seq_indent = load_yaml_guess_indent(text)
    y = _yaml()
    y.indent(mapping=_mapping_indent(text), sequence=seq_indent, offset=block_seq_indent or 0)
    doc = y.load(text)
    if doc is None:
        doc = CommentedMap()

    def container(path: FieldPath):
        parent = doc
        for part in path:
            if part not in parent or parent[part] is None:
                parent[part] = CommentedMap()
            parent = parent[part]
        return parent

    for edit in m.edits:
        parent, key = container(edit.path[:-1]), edit.path[-1]
        if edit.remove:
            if edit.path not in commented:  # inherited, or flow style: a null removes it
                parent[key] = None
                parent.yaml_add_eol_comment(printable(edit.why), key)
        elif edit.items and isinstance(parent.get(key), CommentedSeq):
            seq = parent[key]
            gone = sorted(i for i, t, _ in edit.items if t is None)
            if all((*edit.path, i) in commented for i in gone):
                for i, new_text, _ in edit.items:
                    if new_text is not None:
                        at = i - sum(1 for g in gone if g < i)
                        seq[at] = _same_style(seq[at], new_text)
            else:  # flow style: the list is written anew
                parent[key] = _new_value(list(edit.value))
        elif isinstance(parent.get(key), str) and isinstance(edit.value, str):
            parent[key] = _same_style(parent[key], edit.value)
        else:
            parent[key] = _new_value(edit.value)
    # A mapping or list the removals left empty stays one ({} or []), so what it inherits is
    # kept: a null would remove that too.
    for path in commented:
        parent = doc
        for part in path[:-2]:
            parent = parent[part]
        if path[-2] in parent and parent[path[-2]] is None:
            parent[path[-2]] = CommentedMap() if isinstance(path[-1], str) else CommentedSeq()
    stream = io.StringIO()
    y.dump(doc, stream)
    return stream.getvalue()


def _new_value(value: Any) -> Any:
    """A value written where the file had none: a string YAML would read as something else
    ("1.0", "yes") or that looks like a number ("0.5.23") is quoted; a list's items likewise."""
    from ruamel.yaml.comments import CommentedSeq
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    if isinstance(value, list):
        return CommentedSeq(_new_value(v) for v in value)
    if isinstance(value, str) and (yaml.safe_load(value) != value or value[:1].isdigit()):
        return DoubleQuotedScalarString(value)
    return copy.deepcopy(value)


def _same_style(old: Any, text: str) -> Any:
    """`text` in the quoting style `old` was written in (ruamel's scalar string types)."""
    return text if type(old) is str else type(old)(text)


def write(m: Migration, ref: str | None = None) -> Path:
    """Rewrite the profile, validate and render the result, then replace the file atomically."""
    from generator.pipeline import complete, render_app, render_preflight
    from generator.profile.load import resolve_profile_path
    from generator.render.write import check_output_path, default_output, write_files

    path = m.profile.path
    named = resolve_profile_path(ref) if ref is not None else path
    if path.is_symlink() or named.is_symlink():
        raise UserError(
            f"{Location(path)} is a symbolic link; migrate --write edits regular files only "
            "(edit the file it points at)"
        )
    text = path.read_text(encoding="utf-8")
    new_text = rewrite(text, m)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f"{path.stem}.migrate-", suffix=path.suffix, dir=path.parent
    )
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(new_text)
        os.chmod(tmp, path.stat().st_mode & 0o777)
        try:
            profile = load_profile(tmp)
        except ProfileError as exc:
            raise ProfileError(
                f"{Location(path)}: the migrated profile would not load; nothing written",
                exc.problems,
                exc.location,
            ) from None
        profile.name, profile.path = m.profile.name, path
        try:
            loaded = complete(profile)
        except ProfileError as exc:
            raise ProfileError(
                f"{Location(path)}: the migrated profile would be invalid at SGLang {m.target}; "
                "nothing written",
                exc.problems,
            ) from None
        output = default_output(loaded.deployment)
        check_output_path(output)
        files = [render_app(loaded, output), render_preflight(loaded, output)]
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    write_files(files)
    return files[0][0]


def run(ref: str, target: str, output_format: str, do_write: bool) -> int:
    if output_format not in FORMATS:
        raise UsageError(f"--format {output_format}: choose one of {', '.join(FORMATS)}")
    m = migrate(ref, target)
    sys.stdout.write(report_text(m, output_format))
    if not do_write:
        return 0 if m.valid_after else 1
    if not m.valid_after:
        problems = [p for p in m.target_problems if p.severity == "error"]
        raise ProfileError(
            f"{Location(m.profile.path)}: after the edits the profile is still invalid at SGLang "
            f"{target}; nothing written",
            problems,
        )
    output = write(m, ref)
    print(
        emit_line(
            f"wrote {Location(m.profile.path)} (SGLang {target}); rendered {Location(output)}",
            output_format if output_format != "json" else "text",
        ),
        file=sys.stderr if output_format == "json" else sys.stdout,
    )
    return 0


__all__ = ["Migration", "apply_edits", "migrate", "report_text", "retag", "rewrite", "run", "write"]
