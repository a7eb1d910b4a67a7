"""The pre-commit hook, as another repository holding only profiles uses it."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from conftest import BASE_PROFILE

from generator import REPO_ROOT

HOOKS = REPO_ROOT / ".pre-commit-hooks.yaml"
PRE_COMMIT = Path(sys.executable).parent / "pre-commit"


def _run(*command, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in command], capture_output=True, text=True, cwd=cwd)


def test_hook_manifest_matches_pre_commit_schema(tmp_path):
    """check-jsonschema 0.39.0 ships no schema for hook manifests; pre-commit's own check does."""
    result = _run(PRE_COMMIT, "validate-manifest", HOOKS)
    assert result.returncode == 0, result.stdout + result.stderr
    broken = tmp_path / ".pre-commit-hooks.yaml"
    broken.write_text(HOOKS.read_text().replace("language: python", "language: pyhton"))
    assert _run(PRE_COMMIT, "validate-manifest", broken).returncode == 1


def test_hook_runs_the_console_command():
    (hook,) = [h for h in yaml.safe_load(HOOKS.read_text()) if h["id"] == "validate-profiles"]
    assert hook["entry"] == "modal-sglang validate --dependents"
    scripts = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["modal-sglang"] == "generator.cli:main"


@pytest.mark.slow
def test_try_repo_from_a_repository_of_profiles(tmp_path):
    """`pre-commit try-repo` builds the hook from this working tree (uncommitted tracked changes
    included) and runs it in a repository with nothing but profiles: a changed parent brings
    in the profiles that extend it, and a child is checked against a parent it did not change."""
    if not (REPO_ROOT / ".git").exists():
        pytest.skip("try-repo clones the git checkout")
    scratch = tmp_path / "deployments"
    files = {
        "profiles/base.yaml": BASE_PROFILE.read_text(),
        "profiles/good.yaml": "extends: base\nautoscaling:\n  max_containers: 2\n",
        "profiles/bad.yaml": "extends: base\nautoscaling:\n  max_container: 2\n",
        "config/other.yaml": "not: [a, profile\n",  # outside profiles/: the hook leaves it alone
    }
    for name, text in files.items():
        (scratch / name).parent.mkdir(parents=True, exist_ok=True)
        (scratch / name).write_text(text)
    assert _run("git", "init", "-q", cwd=scratch).returncode == 0
    assert _run("git", "add", ".", cwd=scratch).returncode == 0

    def try_repo(*files: str) -> subprocess.CompletedProcess:
        args = ["try-repo", REPO_ROOT, "validate-profiles", "--files", *files]
        return _run(PRE_COMMIT, *args, cwd=scratch)

    passed = try_repo("profiles/good.yaml", "config/other.yaml")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "validate modal-sglang profiles" in passed.stdout and "Passed" in passed.stdout

    failed = try_repo("profiles/base.yaml")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "Failed" in failed.stdout
    assert (
        "profiles/bad.yaml:3:3: autoscaling.max_container: unknown field 'max_container' "
        "(did you mean max_containers?)"
    ) in failed.stdout
    assert "ok: base" in failed.stdout and "ok: good" in failed.stdout
