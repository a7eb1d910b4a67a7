"""Cross-field rules a schema cannot express: known-bad settings, each with an id and a fix.

`validate` and `plan` both run them. Errors fail validation; a warning can be silenced in the
profile under `silence: {rule-id: reason}`. engine.py runs them; each topic module registers its
rules with `@rule`, and they are reported in the order the modules are imported here.
"""

# isort: off
from generator.rules import (
    release,
    sizing,
    load,
    families,
    sglang_flags,
    recipes,
    environment,
    modal,
    fallback,
    cluster,
    names,
)

# isort: on
from generator.rules.engine import RULES, Finding, Rule, run_rules, silenced_findings

# Importing a topic registers its rules; this order is the order they are reported in.
TOPICS = (
    release,
    sizing,
    load,
    families,
    sglang_flags,
    recipes,
    environment,
    modal,
    fallback,
    cluster,
    names,
)

__all__ = ["RULES", "Finding", "Rule", "run_rules", "silenced_findings"]
