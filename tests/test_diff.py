"""`diff` against the committed profile (a real git repository in a temporary folder, the real
`git`), its plan part, and `deploy --dry-run`'s preview."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from generator import PROFILES_DIR
from generator.operate import deploy as deploy_module

PIN = "0123456789abcdef0123456789abcdef01234567"


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A repository of two profiles, `svc` extending `base` (which extends the shipped prod),
    committed once. Deploy records go to the temporary folder."""
    root = tmp_path / "repo"
    (root / "profiles").mkdir(parents=True)
    (root / "profiles" / "base.yaml").write_text(
        f"extends: {PROFILES_DIR / 'prod.yaml'}\nmodel:\n  revision: {PIN}\n"
    )
    (root / "profiles" / "svc.yaml").write_text("extends: base\napp:\n  name: svc\n")
    _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "commit", "-qm", "profiles")
    monkeypatch.setattr(deploy_module, "DEPLOYS_DIR", tmp_path / "deploys")
    return root


def test_diff_against_head_shows_settings_plan_and_app(repo, cli):
    """A change in the parent a profile extends: the committed side reads the parent as
    committed too, and the plan part shows the smaller pool and the new finding."""
    parent = repo / "profiles" / "base.yaml"
    parent.write_text(
        parent.read_text()
        + "sglang:\n  mem_fraction_static: 0.85\nserving:\n  max_concurrency: 40\n"
    )
    code, out, err = cli("diff", str(repo / "profiles" / "svc.yaml"))
    assert code == 0, err
    head = _git(repo, "rev-parse", "HEAD")[:12]
    assert out.startswith(f"settings: HEAD ({head}) -> svc (working tree)\n")
    assert "  serving.max_concurrency     96 -> 40\n" in out
    assert "  sglang.mem_fraction_static  0.9 -> 0.85\n" in out
    plan = out.split("\nplan: ")[1].split("\n\n")[0]
    assert "KV pool per GPU" in plan and "70.11 GiB -> 61.21 GiB" in plan
    assert "742,144 tokens -> 647,936 tokens" in plan
    assert "+ warning: [running-requests-above-max-concurrency] Modal answers 429 above 40" in plan
    assert "cost" not in plan  # the price did not change, so it is not listed
    assert '-        ["--mem-fraction-static", "0.9"],' in out
    assert '+        ["--mem-fraction-static", "0.85"],' in out


def test_diff_with_nothing_changed_and_against_an_older_commit(repo, cli):
    svc = repo / "profiles" / "svc.yaml"
    code, out, _ = cli("diff", str(svc))
    assert code == 0
    assert out.count("  no changes") == 2 and "rendered app: no changes" in out
    svc.write_text(svc.read_text() + "sglang:\n  max_running_requests: 3\n")
    _git(repo, "commit", "-qam", "3 running requests")
    code, out, _ = cli("diff", str(svc), "--against", "HEAD~1")
    assert code == 0
    assert "sglang.max_running_requests  48 -> 3" in out
    assert "max_running_requests" in out.split("\nplan: ")[1]
    assert "running requests fit at full context  no -> yes" in out


def test_a_ref_with_a_slash_is_a_ref(repo, cli):
    """`origin/main`-style names: a branch here, not a path."""
    _git(repo, "branch", "team/stable")
    svc = repo / "profiles" / "svc.yaml"
    svc.write_text(svc.read_text() + "sglang:\n  max_running_requests: 3\n")
    code, out, err = cli("diff", str(svc), "--against", "team/stable")
    assert code == 0, err
    assert out.startswith("settings: team/stable (") and "48 -> 3" in out


def test_diff_of_an_uncommitted_profile_says_so(repo, cli):
    new = repo / "profiles" / "new.yaml"
    new.write_text("extends: base\napp:\n  name: new\n")
    code, _, err = cli("diff", str(new))
    assert code == 1
    assert "not in HEAD" in err and "a new profile: commit it first" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "ref", ["no-such-branch", "--output=/tmp/x", "HEAD\n::error::forged", "a" * 5000]
)
def test_a_bad_ref_is_one_clear_line(repo, cli, ref):
    code, out, err = cli("diff", str(repo / "profiles" / "svc.yaml"), f"--against={ref}")
    assert code == 1 and out == ""
    [line] = err.splitlines()
    assert "neither a git ref" in line or "not a git ref" in line
    assert not line.startswith("::") and "\n::" not in err


def test_a_committed_profile_that_no_longer_loads_is_located_at_the_ref(repo, cli):
    svc = repo / "profiles" / "svc.yaml"
    svc.write_text("extends: base\napp:\n  name: svc\nautoscaling:\n  max_container: 5\n")
    _git(repo, "commit", "-qam", "typo")
    svc.write_text("extends: base\napp:\n  name: svc\n")
    code, _, err = cli("diff", str(svc))
    assert code == 1
    assert "the profile as committed at HEAD" in err
    assert "HEAD:profiles/svc.yaml:5:3" in err and "did you mean max_containers?" in err
    assert "modal-sglang-diff-" not in err  # the temporary copy is never shown


def test_the_committed_tree_is_read_without_following_symlinks(repo, cli, tmp_path):
    """A committed symlink named like a profile is never read (it could point anywhere)."""
    secret = tmp_path / "secret.yaml"
    secret.write_text("app:\n  name: leaked-secret-value\n")
    (repo / "profiles" / "evil.yaml").symlink_to(secret)
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "symlink")
    from generator.profile.at_ref import checkout

    with checkout(repo / "profiles" / "svc.yaml", "HEAD") as (copy, _, folder):
        assert folder == "profiles/"
        assert sorted(p.name for p in copy.parent.iterdir()) == ["base.yaml", "svc.yaml"]
    assert not copy.exists()  # removed on exit


def test_a_profile_outside_git_says_what_to_compare_with_instead(profile_tree, cli):
    root = profile_tree({"p.yaml": f"extends: {PROFILES_DIR / 'prod.yaml'}\n"})
    code, _, err = cli("diff", str(root / "p.yaml"))
    assert code == 1
    assert "p.yaml is not in a git repository" in err and "--against deployed" in err


def test_diff_between_two_profiles_still_works(cli):
    code, out, _ = cli("diff", "long-context", "--against", "prod")
    assert code == 0
    assert out.startswith("settings: profile prod -> profile long-context\n")
    assert "running requests fit at full context  no -> yes" in out.split("\nplan: ")[1]


@pytest.fixture
def stand_in_modal(tmp_path, monkeypatch):
    script = tmp_path / "modal"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o755)
    monkeypatch.setattr(deploy_module, "_modal", lambda: str(script))
    monkeypatch.setenv("MODAL_TOKEN_ID", "ak-test")
    monkeypatch.setenv("MODAL_TOKEN_SECRET", "as-test")


def test_deploy_dry_run_prints_every_warning_the_diff_and_the_commands(repo, cli, stand_in_modal):
    svc = repo / "profiles" / "svc.yaml"
    svc.write_text(svc.read_text() + "serving:\n  max_concurrency: 40\n")
    code, out, err = cli("deploy", str(svc), "--dry-run")
    assert code == 0, err
    warnings, rest = out.split("\n\n", 1)
    assert warnings.startswith("warnings: 1\n")
    assert "[running-requests-above-max-concurrency]" in warnings
    assert "(silenced with a reason in the profile: dsa-prefill-trtllm-bf16, " in warnings
    assert rest.startswith("settings: HEAD (")  # no deploy yet: against the committed profile
    assert "serving.max_concurrency  96 -> 40" in rest
    assert "release gates on: canary svc-canary" in out  # prod's probe gate, inherited
    assert " deploy " in out.splitlines()[-1] and "--name svc" in out.splitlines()[-1]
    assert not (deploy_module.DEPLOYS_DIR / "svc").exists()  # a dry run records nothing


def test_deploy_dry_run_diffs_against_the_last_deploy_when_there_is_one(
    repo, cli, stand_in_modal, monkeypatch
):
    svc = repo / "profiles" / "svc.yaml"
    svc.write_text(svc.read_text() + "release:\n  canary: false\n")
    assert cli("deploy", str(svc))[0] == 0
    [record] = json.loads((deploy_module.DEPLOYS_DIR / "svc" / "history.json").read_text())
    svc.write_text(svc.read_text() + "autoscaling:\n  max_containers: 5\n")
    code, out, _ = cli("deploy", str(svc), "--dry-run")
    assert code == 0
    assert f"settings: deployed {record['tag']} (" in out
    assert "autoscaling.max_containers  3 -> 5" in out
    assert "idle floor per month" not in out  # min_containers 0: no idle cost either way
    code, out, _ = cli("diff", str(svc), "--against", "deployed")
    assert "plan: deployed" in out and "not compared" not in out


def test_deploy_dry_run_of_an_unpinned_profile_previews_then_refuses(cli, stand_in_modal):
    code, out, err = cli("deploy", "prod", "--dry-run")
    assert code == 1
    assert out.startswith("warnings: 1\n") and "[model-revision-unpinned]" in out
    assert "model.revision is 'main', which can move" in err
