"""The flag set against the pinned SGLang's manifest: flags, values and environment variables."""

from __future__ import annotations

import shlex
from collections.abc import Iterator

from generator.profile.credentials import looks_secret
from generator.profile.deployment import Deployment
from generator.rules.engine import Finding, rule
from generator.sglang.flags import flag_set
from generator.sglang.versions import (
    carries_secret,
    check_flag_set,
    flag_policy,
    refused_flag,
    unknown_env_vars,
)


def flag_problems(d: Deployment, severity: str) -> Iterator[Finding]:
    for problem in check_flag_set(flag_set(d), d.sglang.version):
        if problem.severity == severity:
            flag = problem.flag
            secret = carries_secret(flag.option, d.sglang.version) or any(
                looks_secret(v) for v in flag.values
            )
            found = f"{flag.option.split('=')[0]} <redacted>" if secret else shlex.join(flag.argv)
            yield Finding(f"{problem.message}. Found: {found}", problem.flag.field or ("sglang",))


@rule(
    "sglang-flag",
    "error",
    "A flag or value the profile's SGLang version does not accept (read from its manifest).",
)
def _sglang_flag(d: Deployment):
    yield from flag_problems(d, "error")


@rule("sglang-flag-deprecated", "warning", "A flag the profile's SGLang version deprecates.")
def _sglang_flag_deprecated(d: Deployment):
    yield from flag_problems(d, "warning")


@rule("sglang-env-unknown", "warning", "An SGLANG_* variable the SGLang version does not read.")
def _sglang_env(d: Deployment):
    for name in unknown_env_vars([n for n, _ in d.sglang.env], d.sglang.version):
        yield Finding(
            f"SGLang {d.sglang.version} does not read {name}: a typo, or a variable this "
            f"version dropped; remove it. Found: {name}",
            ("sglang", "env", name),
        )


# --- Flag policy: what extra_args may not switch on ---------------------------------------------
# The refused flags are classified per version in manifests/sglang-<version>-policy.yaml, each
# with the SGLang source line that makes it dangerous. They are refused in extra_args whatever
# their spelling (an abbreviation argparse would expand, or --flag=value).


@rule(
    "sglang-flag-refused",
    "error",
    "An extra_args flag that runs or loads code, joins or trusts another host, or merges flags "
    "the validator never sees.",
)
def _sglang_flag_refused(d: Deployment):
    for flag in flag_set(d):
        if not flag.field or flag.field[:2] != ("sglang", "extra_args"):
            continue
        refused = refused_flag(flag.option, d.sglang.version)
        if refused is None:
            continue
        where = f"set {refused.owner} instead" if refused.owner else "no profile field enables it"
        yield Finding(
            f"{flag.option.split('=')[0]} {refused.why} ({refused.source} in SGLang "
            f"{d.sglang.version}); it is not accepted in extra_args: {where}. "
            f"Found: {flag.option.split('=')[0]}",
            flag.field,
        )


@rule(
    "trust-remote-code",
    "warning",
    "model.trust_remote_code runs Python code from the model repository on every replica.",
)
def _trust_remote_code(d: Deployment):
    if d.model.trust_remote_code:
        source = flag_policy(d.sglang.version)["trust_remote_code"]["source"]
        yield Finding(
            "SGLang passes it to transformers, which imports and runs the checkpoint's own "
            f"modelling code (sglang/{source['file']}:{source['line']}); review that code at the "
            "pinned revision, then silence this with the reason (`plan` prints it). "
            f"Found: model.trust_remote_code=true, model.id={d.model.id}",
            ("model", "trust_remote_code"),
        )
