"""The GitHub Actions workflow is valid and passes zizmor's security audit, offline."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

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


def test_pull_request_validation_annotates_files():
    """The workflow's `make validate FORMAT=github` runs the validator with --format github."""
    result = subprocess.run(
        ["make", "-n", "-s", "validate", "FORMAT=github"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=True,
    )
    assert result.stdout.strip().endswith("-m generator validate --format github")


def test_ci_runs_the_readme_test_command():
    readme = (REPO_ROOT / "README.md").read_text()
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make test" in ci
