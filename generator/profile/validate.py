"""Validate a merged profile against the JSON Schema, reporting every problem with its location."""

from __future__ import annotations

import copy
import json
import math
import re
from functools import cache
from typing import Any

import jsonschema

from generator import SCHEMA_PATH
from generator.errors import FieldPath, Location, Problem, ProfileError, did_you_mean
from generator.profile.credentials import looks_secret
from generator.profile.load import Profile

_JSON_TYPES = {
    dict: "object",
    list: "array",
    str: "string",
    bool: "boolean",
    int: "integer",
    float: "number",
    type(None): "null",
}


@cache
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def _is_integer(_checker, instance: Any) -> bool:
    """JSON Schema counts 8.0 as an integer; a count or a port written 8.0 would render as 8.0."""
    return isinstance(instance, int) and not isinstance(instance, bool)


def _is_number(_checker, instance: Any) -> bool:
    """A finite number: YAML's .nan and .inf are not settings."""
    if isinstance(instance, bool) or not isinstance(instance, int | float):
        return False
    return not isinstance(instance, float) or math.isfinite(instance)


def _pattern(validator, pattern: str, instance: Any, _schema) -> Any:
    """`pattern`, matched against the whole string: Python's `$` also matches before a trailing
    newline, so `re.search` would accept "name\n" (an ECMA-262 `$` does not)."""
    if validator.is_type(instance, "string") and not re.fullmatch(pattern, instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


@cache
def _validator_class():
    """Draft 2020-12 with whole-string patterns, integers that are ints and finite numbers."""
    base = jsonschema.Draft202012Validator
    types = base.TYPE_CHECKER.redefine_many({"integer": _is_integer, "number": _is_number})
    return jsonschema.validators.extend(base, validators={"pattern": _pattern}, type_checker=types)


@cache
def profile_validator() -> jsonschema.protocols.Validator:
    return _validator_class()(schema())


def located_problems(data: Any, where: Profile, schema_: dict[str, Any]) -> list[Problem]:
    """Every problem of `data` under another schema of the project (the model catalog's), each
    located through `where` (a Profile-like holder of the data's origins), every one at once."""
    validator = _validator_class()(schema_)
    problems: list[Problem] = []
    for error in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.path))):
        problems.extend(_problems_for(jsonschema.exceptions.best_match([error]), where))
    return problems


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref:
        target = schema()
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]
        return {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def apply_defaults(data: dict[str, Any], node: dict[str, Any] | None = None) -> dict[str, Any]:
    """Fill in the schema's `default` for every absent optional field (returns a new dict)."""
    node = _resolve(node or schema())
    out = dict(data)
    for key, prop in node.get("properties", {}).items():
        prop = _resolve(prop)
        if key not in out and "default" in prop:
            out[key] = copy.deepcopy(prop["default"])
        if isinstance(out.get(key), dict) and "properties" in prop:
            out[key] = apply_defaults(out[key], prop)
    return out


def _describe(value: Any) -> str:
    kind = _JSON_TYPES.get(type(value), type(value).__name__)
    if value is None:
        return "null"
    if looks_secret(value):
        return f"a {kind} that looks like a credential (not shown)"
    text = json.dumps(value) if kind != "object" else "a mapping"
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{kind} {text}"


# Where a bound is crossed because another field is the way to the same end.
_BOUND_HINTS = {
    (("gpu", "count"), "maximum"): "gpu.count is the GPUs of one node (a Modal container holds at "
    "most 8); for {value} GPUs per replica set gpu.count: 8 and cluster.nodes: {nodes} (one "
    "replica across {nodes} nodes, as profiles/glm51-bf16-cluster.yaml does)",
}


def _problems_for(error: jsonschema.ValidationError, profile: Profile) -> list[Problem]:
    path = tuple(error.absolute_path)
    where = profile.locate(path)
    rule = error.schema if isinstance(error.schema, dict) else {}
    kind = error.validator
    if kind == "additionalProperties":
        known = set(rule.get("properties", {}))
        problems = []
        for key in sorted(set(error.instance) - known, key=str):
            problems.append(
                Problem(
                    f"unknown field '{key}'",
                    profile.locate(path + (key, "<key>")),
                    path + (key,),
                    hint=did_you_mean(str(key), known)
                    or f"known fields: {', '.join(sorted(known))}",
                )
            )
        return problems
    if kind == "required":
        missing = error.message.split("'")[1]
        return [Problem(f"missing required field '{missing}'", where, path + (missing,))]
    if kind == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        return [Problem(f"expected {expected}, got {_describe(error.instance)}", where, path)]
    if kind == "enum":
        choices = ", ".join(json.dumps(c) for c in error.validator_value)
        hint = ""
        if isinstance(error.instance, str):
            hint = did_you_mean(error.instance, [c for c in error.validator_value if c])
        return [
            Problem(
                f"expected one of {choices}, got {_describe(error.instance)}", where, path, hint
            )
        ]
    bounds = {
        "minimum": ">=",
        "maximum": "<=",
        "exclusiveMinimum": ">",
        "exclusiveMaximum": "<",
        "minLength": "length >=",
    }
    if kind in bounds:
        expected = f"a value {bounds[kind]} {error.validator_value}"
        hint = _BOUND_HINTS.get((path, kind), "")
        if hint and isinstance(error.instance, int):
            hint = hint.format(value=error.instance, nodes=-(-error.instance // 8))
        return [Problem(f"expected {expected}, got {_describe(error.instance)}", where, path, hint)]
    if kind == "pattern":
        description = rule.get("description", "")
        return [
            Problem(
                f"{_describe(error.instance)} does not match {error.validator_value}",
                where,
                path,
                hint=description,
            )
        ]
    if kind == "propertyNames":
        return [Problem(f"invalid name {error.instance!r}: {error.message}", where, path)]
    return [Problem(error.message, where, path)]


# Modal names that modal 1.x renamed and 1.4.0 removed. The schema rejects unknown keys first, so
# they are reported here, with what replaced them instead of "unknown field", under the id of the
# rule that lists them (rules/modal.py).
REMOVED_KNOB_RULE = "removed-modal-knob"
REMOVED_KNOB_REFERENCE = (
    "https://modal.com/docs/reference/changelog (1.4.0 removed the deprecated names)"
)
REMOVED_MODAL_KNOBS = {
    # old name: (what replaced it in modal 1.x, the profile field that sets it)
    "keep_warm": ("min_containers", "autoscaling.min_containers"),
    "concurrency_limit": ("max_containers", "autoscaling.max_containers"),
    "container_idle_timeout": ("scaledown_window", "autoscaling.scaledown_window"),
    "allow_concurrent_inputs": ("@modal.concurrent(max_inputs=...)", "concurrency.max_inputs"),
}
_NAME_MAPS = ("env", "silence")  # maps whose keys name other things, not profile fields


def removed_knob_problems(profile: Profile) -> list[Problem]:
    """A located error for every removed Modal name used as a key anywhere in the profile."""
    problems: list[Problem] = []

    def walk(node, path: FieldPath) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in REMOVED_MODAL_KNOBS:
                    new, field = REMOVED_MODAL_KNOBS[key]
                    problems.append(
                        Problem(
                            f"`{key}` was renamed {new} in modal 1.x and removed in 1.4.0; "
                            f"set {field} instead. Found: {key}={value!r}",
                            profile.locate(path + (key, "<key>")),
                            path + (key,),
                            hint=f"see {REMOVED_KNOB_REFERENCE}",
                            severity="error",
                            rule=REMOVED_KNOB_RULE,
                        )
                    )
                elif key not in _NAME_MAPS:
                    walk(value, path + (key,))
        elif isinstance(node, list):
            for index, item in enumerate(node):
                walk(item, path + (index,))

    walk(profile.data, ())
    return problems


# --- Control characters ---------------------------------------------------------------------------
# No control character may reach an image definition, an environment or an argv: modal 1.6.4's
# `Image.env` writes `ENV K=<shlex-quoted value>` into a Dockerfile, where a newline inside the
# value starts a new instruction, and a NUL byte cannot be in any argv or environment (execve).
# Free text that is only ever a comment or a printed note may span lines (tabs and newlines).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_TEXT_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_FREE_TEXT = {("description",), ("silence", None)}  # None: any key


def _free_text(path: FieldPath) -> bool:
    return any(
        len(path) == len(p) and all(a is None or a == b for a, b in zip(p, path, strict=True))
        for p in _FREE_TEXT
    )


def control_character_problems(profile: Profile) -> list[Problem]:
    """A located error for every key or string value carrying a control character."""
    problems: list[Problem] = []

    def check(text: str, path: FieldPath, pattern: re.Pattern, what: str) -> None:
        found = pattern.search(text)
        if found:
            char = f"U+{ord(found.group()):04X}"
            shown = text if len(text) <= 80 else text[:80] + "..."
            shown = "<redacted>" if looks_secret(text) else repr(shown)
            problems.append(
                Problem(
                    f"{what} carries the control character {char} at position {found.start()}; "
                    "control characters cannot reach an image, an environment or an argument "
                    "(a newline in an image's ENV is a new build instruction, a NUL ends the "
                    "value). Found: " + shown,
                    profile.locate(path),
                    path,
                    severity="error",
                )
            )

    def walk(node: Any, path: FieldPath) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(key, str):
                    check(key, path + (key,), _CONTROL, "the key")
                walk(value, path + (key,))
        elif isinstance(node, list):
            for index, item in enumerate(node):
                walk(item, path + (index,))
        elif isinstance(node, str):
            multiline = _free_text(path)
            check(node, path, _TEXT_CONTROL if multiline else _CONTROL, "the value")

    walk(profile.data, ())
    return problems


def schema_problems(profile: Profile) -> list[Problem]:
    validator = profile_validator()
    problems: list[Problem] = []
    errors = sorted(validator.iter_errors(profile.data), key=lambda e: list(map(str, e.path)))
    for error in errors:
        # Errors under a oneOf/anyOf are reported through their best match only.
        problems.extend(_problems_for(jsonschema.exceptions.best_match([error]), profile))
    # A Modal name removed in 1.4.0 gets its rule's "renamed to ..." message, not "unknown field".
    knobs = removed_knob_problems(profile)
    replaced = {p.path for p in knobs}
    return (
        knobs
        + control_character_problems(profile)
        + [p for p in problems if p.path not in replaced]
    )


def validate_profile(profile: Profile) -> Profile:
    """Apply schema defaults, then check the schema; raise with every problem at once."""
    profile.data = apply_defaults(profile.data)
    problems = schema_problems(profile)
    if problems:
        raise ProfileError(
            f"{Location(profile.path)}: profile '{profile.name}' is invalid",
            problems + profile.notes,
        )
    return profile
