"""Cross-field rules a schema cannot express: known-bad settings, each with an id and a fix.

`validate` and `plan` both run them. Errors fail validation; a warning can be silenced in the
profile under `silence: {rule-id: reason}`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from generator.deployment import Deployment
from generator.errors import FieldPath, Problem
from generator.profile import Profile


@dataclass(frozen=True)
class Finding:
    message: str  # what is wrong and what to do, ending with "Found: ..."
    path: FieldPath


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str  # "error" or "warning"
    summary: str
    reference: str
    check: Callable[[Deployment], Iterator[Finding]]


RULES: dict[str, Rule] = {}


def rule(id: str, severity: str, summary: str, reference: str = ""):
    def register(check: Callable[[Deployment], Iterator[Finding]]):
        RULES[id] = Rule(id, severity, summary, reference, check)
        return check

    return register


def run_rules(deployment: Deployment, profile: Profile) -> list[Problem]:
    """Every rule's findings as located problems; silenced warnings are left out."""
    silenced = profile.data.get("silence", {})
    problems = []
    for r in RULES.values():
        if r.severity == "warning" and r.id in silenced:
            continue
        for finding in r.check(deployment):
            hint = f"see {r.reference}" if r.reference else ""
            if r.severity == "warning":
                hint = "; ".join(filter(None, [hint, f"silence with `silence: {{{r.id}: reason}}`"]))
            problems.append(
                Problem(
                    finding.message,
                    profile.locate(finding.path),
                    finding.path,
                    hint=hint,
                    severity=r.severity,
                    rule=r.id,
                )
            )
    return problems


@rule("latest-image-tag", "error", "The serve image uses a moving `latest` tag.")
def _latest_tag(d: Deployment):
    if d.images.serve.tag == "latest" and not d.images.serve.allow_latest:
        yield Finding(
            "a `latest` tag changes under you between deploys; pin a release tag such as "
            f"v{d.sglang.version}, or set images.serve.allow_latest: true. Found: tag=latest",
            ("images", "serve", "tag"),
        )


@rule("latest-image-allowed", "warning", "A `latest` image tag was explicitly allowed.")
def _latest_allowed(d: Deployment):
    if d.images.serve.tag == "latest" and d.images.serve.allow_latest:
        yield Finding(
            "deploying `latest`: SGLang can change under you and sglang.version may no longer "
            "describe the image. Found: tag=latest, allow_latest=true",
            ("images", "serve", "tag"),
        )


_TAG_VERSION = re.compile(r"^v?(\d+\.\d+\.\d+(?:\.post\d+)?)(?:[-_].*)?$")


@rule("image-version-mismatch", "error", "The serve image tag and sglang.version disagree.")
def _image_version(d: Deployment):
    tag = d.images.serve.tag
    if tag == "latest":
        return
    match = _TAG_VERSION.match(tag)
    tag_version = match.group(1).split(".post")[0] if match else None
    if tag_version != d.sglang.version:
        yield Finding(
            "the serve image's SGLang version must be the one the flags are checked against; "
            f"use a v{d.sglang.version} tag or change sglang.version. "
            f"Found: tag={tag}, sglang.version={d.sglang.version}",
            ("images", "serve", "tag"),
        )
