"""The GitHub Actions workflow is valid and passes zizmor's security audit, offline."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import yaml
from conftest import SHIPPED_PROFILES

from generator import REPO_ROOT

WORKFLOW = REPO_ROOT / ".github" / "workflows" / "ci.yml"
BIN = Path(sys.executable).parent


def _run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT)


def test_workflow_matches_github_schema():
    result = _run(
        str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflow_passes_zizmor():
    result = _run(str(BIN / "zizmor"), "--offline", str(WORKFLOW))
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflow_validates_renders_and_tests_on_pull_requests():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    assert "pull_request" in workflow[True]  # YAML 1.1 reads the `on:` key as True
    commands = " ".join(
        step.get("run", "") for job in workflow["jobs"].values() for step in job["steps"]
    )
    for command in ("make validate FORMAT=github", "make render", "make test"):
        assert command in commands


def _make_validate(output_format: str) -> subprocess.CompletedProcess:
    """`make validate FORMAT=...` as the workflow runs it, with this interpreter."""
    command = ["make", "-s", "-o", ".venv/.ready", "validate", f"FORMAT={output_format}"]
    return _run(*command, f"PY={sys.executable}")


def test_make_validate_passes_the_format():
    result = _make_validate("json")
    assert result.returncode == 0, result.stdout + result.stderr
    document = json.loads(result.stdout)
    assert [p["profile"] for p in document["profiles"]] == SHIPPED_PROFILES


def test_pull_request_validation_annotates_files():
    result = _make_validate("github")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line for line in lines if not line.startswith("::")] == [
        f"ok: {name}" for name in SHIPPED_PROFILES
    ]
    for line in lines:
        if line.startswith("::"):
            assert re.match(
                r"::(error|warning) file=[^,]*profiles/[^,]+,line=\d+,col=\d+,title=", line
            )


def test_ci_runs_the_readme_test_command():
    readme = (REPO_ROOT / "README.md").read_text()
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make test" in ci
