"""Cross-field rules a schema cannot express: known-bad settings, each with an id and a fix.

`validate` and `plan` both run them. Errors fail validation; a warning can be silenced in the
profile under `silence: {rule-id: reason}`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from generator.errors import FieldPath, Location, Problem, did_you_mean
from generator.profile.deployment import Deployment
from generator.profile.load import Profile


@dataclass(frozen=True)
class Finding:
    message: str  # what is wrong and what to do, ending with "Found: ..."
    path: FieldPath
    location: Location | None = None  # where, when not in the profile (a catalog file)


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str  # "error" or "warning"
    summary: str
    reference: str
    check: Callable[..., Iterator[Finding]]
    # The check also reads the merged profile (check(d, profile)): for what the deployment model
    # leaves out, such as `description` and `silence` reasons.
    reads_profile: bool = False

    def findings(self, d: Deployment, profile: Profile) -> Iterator[Finding]:
        return self.check(d, profile) if self.reads_profile else self.check(d)


RULES: dict[str, Rule] = {}


def rule(id: str, severity: str, summary: str, reference: str = "", reads_profile: bool = False):
    def register(check: Callable[..., Iterator[Finding]]):
        RULES[id] = Rule(id, severity, summary, reference, check, reads_profile)
        return check

    return register


def run_rules(deployment: Deployment, profile: Profile) -> list[Problem]:
    """Every rule's findings as located problems; silenced warnings are left out.

    A `silence` entry that names no rule, or names an error (errors cannot be silenced), is
    itself reported as a warning.
    """
    silenced = profile.data.get("silence", {})
    problems = []
    for rule_id in silenced:
        known = RULES.get(rule_id)
        if known is None or known.severity == "error":
            why = "errors cannot be silenced" if known else "no rule has this id"
            hint = "" if known else did_you_mean(rule_id, RULES)
            problems.append(
                Problem(
                    f"silence.{rule_id} has no effect: {why}. Found: {rule_id}",
                    profile.locate(("silence", rule_id, "<key>")),
                    ("silence", rule_id),
                    hint=hint,
                    severity="warning",
                    rule="silence",
                )
            )
    for r in RULES.values():
        if r.severity == "warning" and r.id in silenced:
            continue
        for finding in r.findings(deployment, profile):
            hint = f"see {r.reference}" if r.reference else ""
            if r.severity == "warning":
                hint = "; ".join(
                    filter(None, [hint, f"silence with `silence: {{{r.id}: reason}}`"])
                )
            problems.append(
                Problem(
                    finding.message,
                    finding.location or profile.locate(finding.path),
                    finding.path,
                    hint=hint,
                    severity=r.severity,
                    rule=r.id,
                )
            )
    return problems


def silenced_findings(d: Deployment, profile: Profile) -> Iterator[tuple[str, Finding]]:
    """What the silenced warnings would have said (`plan` shows them with their reasons)."""
    silence = profile.data.get("silence", {})
    for r in RULES.values():
        if r.severity == "warning" and r.id in silence:
            for finding in r.findings(d, profile):
                yield r.id, finding
