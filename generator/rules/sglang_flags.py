"""The flag set against the pinned SGLang's manifest: flags, values and environment variables."""

from __future__ import annotations

import shlex
from collections.abc import Iterator

from generator.profile.credentials import looks_secret
from generator.profile.deployment import Deployment
from generator.rules.engine import Finding, rule
from generator.sglang.flags import flag_set
from generator.sglang.versions import carries_secret, check_flag_set, unknown_env_vars


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
