"""Cross-field rules a schema cannot express: known-bad settings, each with an id and a fix.

`validate` and `plan` both run them. Errors fail validation; a warning can be silenced in the
profile under `silence: {rule-id: reason}`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from generator.errors import FieldPath, Problem, did_you_mean
from generator.profile.deployment import Deployment
from generator.profile.load import Profile


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
        for finding in r.check(deployment):
            hint = f"see {r.reference}" if r.reference else ""
            if r.severity == "warning":
                hint = "; ".join(
                    filter(None, [hint, f"silence with `silence: {{{r.id}: reason}}`"])
                )
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


def silenced_findings(d: Deployment, silence: dict[str, str]) -> Iterator[tuple[str, Finding]]:
    """What the silenced warnings would have said (`plan` shows them with their reasons)."""
    for r in RULES.values():
        if r.severity == "warning" and r.id in silence:
            for finding in r.check(d):
                yield r.id, finding
