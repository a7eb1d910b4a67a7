"""What each pinned SGLang version accepts, read from its flag manifest (no torch, no sglang).

Manifests in generator/sglang/manifests/ are extracted from the real package's own parser by
`make sglang-manifest VERSION=x`. The checks here judge a flag set as argparse would.
"""

from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import yaml

from generator.errors import did_you_mean


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


MANIFESTS_DIR = Path(__file__).resolve().parent / "manifests"

# Flags upstream renamed, with the version that introduced the new name (facts.md).
RENAMED = {
    "--nsa-prefill-backend": ("--dsa-prefill-backend", "0.5.13"),
    "--nsa-decode-backend": ("--dsa-decode-backend", "0.5.13"),
}
_HUMAN_INT = re.compile(
    r"-?\d+(\.\d+)?[kKmMgG]?"
)  # matched whole; sglang's human_readable_int: 128k, 1.5M


@dataclass(frozen=True)
class Flag:
    """One server argument and the profile field that set it (flags.py builds them)."""

    option: str
    values: tuple[str, ...]  # empty for a switch
    field: tuple[str | int, ...] | None  # the profile field that set it

    @property
    def argv(self) -> list[str]:
        return [self.option, *self.values]


@dataclass(frozen=True)
class Argument:
    dest: str
    option_strings: tuple[str, ...]
    action: str
    type: str | None
    choices: tuple[str, ...] | None
    nargs: str | int | None
    deprecated: bool
    replaced_by: str | None
    error_when_used: str | None

    @classmethod
    def from_manifest(cls, entry: dict[str, Any]) -> Argument:
        choices = entry["choices"]
        return cls(
            dest=entry["dest"],
            option_strings=tuple(entry["option_strings"]),
            action=entry["action"],
            type=entry["type"],
            choices=tuple(str(c) for c in choices) if choices is not None else None,
            nargs=entry["nargs"],
            deprecated=entry["deprecated"],
            replaced_by=entry["replaced_by"],
            error_when_used=entry["error_when_used"],
        )


@dataclass(frozen=True)
class Manifest:
    version: str
    arguments: tuple[Argument, ...]
    env_vars: frozenset[str]
    allow_abbrev: bool

    @cached_property
    def options(self) -> dict[str, Argument]:
        return {opt: arg for arg in self.arguments for opt in arg.option_strings}

    @cached_property
    def sorted_options(self) -> list[str]:
        return sorted(self.options)

    def options_starting_with(self, prefix: str) -> list[str]:
        """The options `prefix` abbreviates, by bisection (a flag set can hold thousands)."""
        names = self.sorted_options
        start = bisect.bisect_left(names, prefix)
        end = bisect.bisect_left(names, prefix + "\U0010ffff", start)
        return names[start:end]


def supported_versions() -> list[str]:
    names = (p.stem.removeprefix("sglang-") for p in MANIFESTS_DIR.glob("sglang-*.json"))
    return sorted(names, key=version_tuple)


@cache
def manifest(version: str) -> Manifest:
    path = MANIFESTS_DIR / f"sglang-{version}.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    return Manifest(
        version=data["sglang_version"],
        arguments=tuple(Argument.from_manifest(e) for e in data["args"]),
        env_vars=frozenset(data["env_vars"]),
        allow_abbrev=data["allow_abbrev"],
    )


@dataclass(frozen=True)
class Dialect:
    """How one SGLang version spells settings that were renamed upstream, read from its manifest."""

    sparse_prefill_flag: str
    sparse_decode_flag: str
    sparse_attention_backend: str  # --attention-backend value for DSA models (GLM-5.x)
    allreduce_fusion: tuple[str, ...]  # the argv that turns FlashInfer all-reduce fusion on
    attention_dp_flag: str | None  # --attn-dp-size N; None: --dp-size N --enable-dp-attention


def _current(m: Manifest, *spellings: str) -> str:
    """The first spelling this version has and does not deprecate (else the first it has)."""
    options = m.options
    present = [s for s in spellings if s in options]
    fresh = [s for s in present if not options[s].deprecated]
    return (fresh or present or list(spellings))[0]


@cache
def dialect(version: str) -> Dialect:
    # DSA flags were called NSA until 0.5.13, and 0.5.20 dropped the old names; FlashInfer
    # all-reduce fusion moved from a switch to a backend choice. The manifest says which is live.
    m = manifest(version)
    backend_choices = m.options["--attention-backend"].choices or ()
    fusion = _current(
        m, "--flashinfer-allreduce-fusion-backend", "--enable-flashinfer-allreduce-fusion"
    )
    return Dialect(
        sparse_prefill_flag=_current(m, "--dsa-prefill-backend", "--nsa-prefill-backend"),
        sparse_decode_flag=_current(m, "--dsa-decode-backend", "--nsa-decode-backend"),
        sparse_attention_backend="dsa" if "dsa" in backend_choices else "nsa",
        allreduce_fusion=(fusion, "auto") if fusion.endswith("-backend") else (fusion,),
        # 0.5.23 deprecates `--dp-size N --enable-dp-attention` for `--attn-dp-size N`, which its
        # resolution turns the old pair into (srt/arg_groups/parallel_hook.py
        # `handle_deprecated_dp_attention`); 0.5.10 has only the pair.
        attention_dp_flag="--attn-dp-size" if "--attn-dp-size" in m.options else None,
    )


def _resolve_option(option: str, m: Manifest) -> tuple[Argument | None, str]:
    """argparse's lookup: exact match, else a unique prefix; returns (argument, problem)."""
    options = m.options
    if option in options:
        return options[option], ""
    if option.startswith("--") and m.allow_abbrev:
        matches = m.options_starting_with(option)
        if len({options[o].dest for o in matches}) == 1:
            return options[matches[0]], ""
        if matches:
            return None, f"ambiguous flag {option}: could be {', '.join(matches)}"
    return None, ""


# The last word of an option that carries a credential: --api-key, --admin-api-key,
# --ssl-keyfile-password (not --ssl-keyfile, a path, nor --speculative-token-map).
_SECRET_WORDS = {"key", "password", "secret", "token"}


def carries_secret(option: str, version: str) -> bool:
    """True when `option` (or the flag argparse would expand it to) takes a credential as its
    value, judged from the version's manifest."""
    arg, _ = _resolve_option(option.split("=", 1)[0], manifest(version))
    return (
        arg is not None
        and arg.nargs != 0
        and any(o.rsplit("-", 1)[-1] in _SECRET_WORDS for o in arg.option_strings)
    )


@dataclass(frozen=True)
class RefusedFlag:
    """A flag that runs or loads code, or bypasses validation: never accepted in extra_args."""

    option: str  # as the profile spelt it
    dest: str
    why: str
    owner: str | None  # the profile field that owns the setting, if any
    source: str  # sglang/<file>:<line>, the line that makes it dangerous


@cache
def flag_policy(version: str) -> dict[str, dict]:
    """manifests/sglang-<version>-policy.yaml: the refused flags by argparse dest."""
    path = MANIFESTS_DIR / f"sglang-{version}-policy.yaml"
    return yaml.safe_load(path.read_text(encoding="utf-8"))["refused"]


def refused_flag(option: str, version: str) -> RefusedFlag | None:
    """The policy entry for `option` (or the flag argparse would expand it to), if refused."""
    arg, _ = _resolve_option(option.split("=", 1)[0], manifest(version))
    entry = flag_policy(version).get(arg.dest) if arg else None
    if entry is None:
        return None
    source = f"sglang/{entry['source']['file']}:{entry['source']['line']}"
    return RefusedFlag(option, arg.dest, entry["why"], entry.get("owner"), source)


@cache
def _elsewhere(option: str, version: str) -> str:
    """Where an unknown flag does exist: a rename, or another known version."""
    if option in RENAMED:
        new, since = RENAMED[option]
        if version_tuple(version) >= version_tuple(since):
            return f"{option} was renamed {new} in {since}"
    others = [v for v in supported_versions() if v != version and option in manifest(v).options]
    return f"{option} exists in SGLang {', '.join(others)}" if others else ""


def _check_value(arg: Argument, flag: Flag) -> str:
    values = flag.values
    if arg.error_when_used:
        return arg.error_when_used
    nargs = arg.nargs
    if nargs == 0:
        return f"{flag.option} is a switch and takes no value, got {list(values)}" if values else ""
    if nargs is None and len(values) != 1:
        return f"{flag.option} takes exactly one value, got {len(values)}"
    if nargs == "?" and len(values) > 1:
        return f"{flag.option} takes at most one value, got {len(values)}"
    if nargs == "+" and not values:
        return f"{flag.option} takes one or more values, got none"
    if isinstance(nargs, int) and len(values) != nargs:
        return f"{flag.option} takes {nargs} values, got {len(values)}"
    for value in values:
        if arg.type == "int":
            try:
                int(value)
            except ValueError:
                return f"{flag.option} expects an integer, got {value!r}"
        elif arg.type == "float":
            try:
                float(value)
            except ValueError:
                return f"{flag.option} expects a number, got {value!r}"
        elif arg.type == "human_readable_int" and not _HUMAN_INT.fullmatch(value):
            return f"{flag.option} expects an integer such as 131072 or 128k, got {value!r}"
        elif arg.type == "json.loads":
            try:
                json.loads(value)
            except ValueError:
                return f"{flag.option} expects JSON, got {value!r}"
        if arg.choices is not None and value not in arg.choices:
            hint = did_you_mean(value, arg.choices)
            return (
                f"{flag.option} {value!r} is not offered by this SGLang; choose one of "
                f"{', '.join(arg.choices)}" + (f" ({hint})" if hint else "")
            )
    return ""


@dataclass(frozen=True)
class FlagProblem:
    message: str
    flag: Flag
    severity: str  # "error" or "warning"


# Bounded suggestion work: the first unknown flags of a flag set get a rename or did-you-mean
# hint; past this many, each is still reported, without one.
MAX_FLAG_SUGGESTIONS = 20


def check_flag_set(flags: list[Flag], version: str) -> list[FlagProblem]:
    """Judge a flag set as SGLang `version`'s parser would, plus conflicts and deprecations."""
    m = manifest(version)
    options = m.options
    known = [o for o in options if o.startswith("--")]
    problems: list[FlagProblem] = []
    seen: dict[str, Flag] = {}
    unknown = 0
    for flag in flags:
        label = f"SGLang {version}"
        arg, problem = _resolve_option(flag.option, m)
        if arg is None:
            if not problem:
                unknown += 1
                hint = (
                    _elsewhere(flag.option, version) or did_you_mean(flag.option, known)
                    if unknown <= MAX_FLAG_SUGGESTIONS
                    else ""
                )
                problem = f"{label} has no flag {flag.option}" + (f" ({hint})" if hint else "")
            problems.append(FlagProblem(problem, flag, "error"))
            continue
        if arg.dest in seen:
            first = seen[arg.dest]
            where = ".".join(map(str, first.field)) if first.field else first.option
            problems.append(FlagProblem(f"{flag.option} is already set by {where}", flag, "error"))
            continue
        seen[arg.dest] = flag
        if flag.option not in options:
            full = next(o for o in arg.option_strings if o.startswith(flag.option))
            problems.append(
                FlagProblem(
                    f"{flag.option} is an abbreviation of {full}; write it out (a new flag in a "
                    "later SGLang can make it ambiguous)",
                    flag,
                    "warning",
                )
            )
        problem = _check_value(arg, flag)
        if problem:
            problems.append(FlagProblem(f"{label}: {problem}", flag, "error"))
        if arg.deprecated and not arg.error_when_used:
            instead = f"; use {arg.replaced_by}" if arg.replaced_by else ""
            problems.append(
                FlagProblem(f"{flag.option} is deprecated in {label}{instead}", flag, "warning")
            )
    return problems


def unknown_env_vars(names: list[str], version: str) -> list[str]:
    """SGLANG_* variables the version does not read (a typo, or one it dropped)."""
    known = manifest(version).env_vars
    if not known:
        return []
    return [n for n in names if n.startswith("SGLANG_") and n not in known]
