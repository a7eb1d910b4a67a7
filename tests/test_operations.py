"""Deploy records, diff and rollback, on real rendered profiles.

No machine here reaches Modal: a stand-in `modal` executable records the command lines it is
given, which is where the real CLI would take over.
"""

from __future__ import annotations

import json
import re
import stat

import pytest
from conftest import BASE_PROFILE

from generator import PROFILES_DIR
from generator.operate import deploy as deploy_module

PINNED = "model:\n  revision: 0123456789abcdef0123456789abcdef01234567\n"
# prod deploys through a canary and its gates (tests/test_release.py); these tests deploy directly.
DIRECT = "release: null\n"


@pytest.fixture
def pinned_prod(profile_tree):
    """prod with its model pinned to a commit (deploys refuse a branch)."""
    root = profile_tree({"prod.yaml": f"extends: {PROFILES_DIR / 'prod.yaml'}\n" + PINNED + DIRECT})
    return str(root / "prod.yaml")


@pytest.fixture
def fake_modal(tmp_path, monkeypatch):
    calls = tmp_path / "modal-calls.jsonl"
    script = tmp_path / "modal"
    script.write_text(
        "#!/usr/bin/env python3\nimport json, sys\n"
        f"open({str(calls)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setattr(deploy_module, "_modal", lambda: str(script))
    monkeypatch.setattr(deploy_module, "DEPLOYS_DIR", tmp_path / "deploys")
    monkeypatch.setenv("MODAL_TOKEN_ID", "ak-test")
    monkeypatch.setenv("MODAL_TOKEN_SECRET", "as-test")

    def read_calls() -> list[list[str]]:
        return (
            [json.loads(line) for line in calls.read_text().splitlines()] if calls.exists() else []
        )

    return read_calls


def test_deploy_runs_modal_deploy_with_tag_and_writes_record(
    fake_modal, cli, tmp_path, pinned_prod
):
    code, out, err = cli("deploy", pinned_prod)
    assert code == 0, err
    [call] = fake_modal()
    assert call[0] == "deploy" and call[1].endswith("build/prod/modal_app.py")
    assert "0123456789abcdef0123456789abcdef01234567" in open(call[1]).read()
    assert call[2:4] == ["--name", "glm51-prod"]
    assert call[4] == "--tag" and call[5].startswith("prod-")
    [record] = json.loads((tmp_path / "deploys" / "prod" / "history.json").read_text())
    assert record["tag"] == call[5]
    assert record["app_name"] == "glm51-prod"
    assert record["image"].startswith("lmsysorg/sglang:")
    assert record["settings"]["autoscaling"]["max_containers"] == 3
    deployed_app = tmp_path / "deploys" / "prod" / record["tag"] / "modal_app.py"
    import hashlib

    assert hashlib.sha256(deployed_app.read_bytes()).hexdigest() == record["rendered_sha256"]


def test_deploy_without_credentials_stops_clearly(fake_modal, cli, monkeypatch, pinned_prod):
    monkeypatch.delenv("MODAL_TOKEN_ID")
    monkeypatch.delenv("MODAL_TOKEN_SECRET")
    monkeypatch.setattr(deploy_module, "modal_credentials_present", lambda: False)
    code, _, err = cli("deploy", pinned_prod)
    assert code == 1
    assert "no Modal credentials" in err and "modal token new" in err
    assert fake_modal() == []


def test_invalid_profile_is_never_deployed(fake_modal, cli, profile_tree):
    root = profile_tree({"bad.yaml": f"extends: {BASE_PROFILE}\ngpu:\n  count: 0\n"})
    code, _, _ = cli("deploy", str(root / "bad.yaml"))
    assert code == 1
    assert fake_modal() == []


@pytest.mark.parametrize(
    "parent,primitive",
    [(BASE_PROFILE, "web_server"), (PROFILES_DIR / "prod.yaml", "server")],
)
def test_diff_against_deployed_and_rollback(
    fake_modal, cli, profile_tree, monkeypatch, parent, primitive
):
    root = profile_tree({"svc.yaml": f"extends: {parent}\napp:\n  name: svc\n" + PINNED + DIRECT})
    profile = root / "svc.yaml"
    assert cli("deploy", str(profile))[0] == 0
    [record] = json.loads((deploy_module.DEPLOYS_DIR / "svc" / "history.json").read_text())
    assert record["serving_primitive"] == primitive

    profile.write_text(profile.read_text() + "autoscaling:\n  max_containers: 5\n")
    code, out, _ = cli("diff", str(profile), "--against", "deployed")
    assert code == 0
    assert "autoscaling.max_containers  3 -> 5" in out
    assert "-    max_containers=3," in out and "+    max_containers=5," in out

    assert cli("deploy", str(profile))[0] == 0
    code, out, _ = cli("diff", str(profile), "--against", "deployed")
    assert "no changes" in out and "rendered app: no changes" in out

    code, out, _ = cli("rollback", str(profile))
    assert code == 0
    history = json.loads((deploy_module.DEPLOYS_DIR / "svc" / "history.json").read_text())
    assert fake_modal()[-1] == ["app", "rollback", "svc"]
    assert f"back from {history[1]['tag']}" in out and f"to {history[0]['tag']}" in out
    assert history[-1]["action"] == "rollback"
    assert history[-1]["tag"] == history[0]["tag"]
    assert history[-1]["rolled_back_from"] == history[1]["tag"]


@pytest.mark.parametrize("command", ["deploy", "setup", "preflight"])
def test_unpinned_revision_is_never_deployed(fake_modal, cli, command):
    code, _, err = cli(command, "prod")
    assert code == 1
    assert "model.revision is 'main', which can move" in err
    assert "make pin-revision PROFILE=prod" in err
    assert fake_modal() == []


@pytest.mark.parametrize("command,file", [("setup", "modal_app.py"), ("preflight", "preflight.py")])
@pytest.mark.parametrize("parent", ["prod", "scale-to-zero"])  # a Server, a web_server
def test_setup_and_preflight_run_the_rendered_files(
    fake_modal, cli, profile_tree, command, file, parent
):
    root = profile_tree({f"{parent}.yaml": f"extends: {PROFILES_DIR / parent}.yaml\n" + PINNED})
    assert cli(command, str(root / f"{parent}.yaml"))[0] == 0
    [call] = fake_modal()
    assert call[0] == "run" and call[1].endswith(f"build/{parent}/{file}")


def test_rollback_needs_two_deploys(fake_modal, cli):
    code, _, err = cli("rollback", "prod")
    assert code == 1 and "nothing to roll back to" in err
    assert fake_modal() == []


def test_diff_between_profiles(cli):
    code, out, _ = cli("diff", "long-context", "--against", "prod")
    assert code == 0
    assert re.search(r"\n  sglang.context_length +null -> 202752\n", out)
    assert '+        ["--context-length", "202752"],' in out


def test_diff_without_record(cli, fake_modal):
    code, _, err = cli("diff", "prod", "--against", "deployed")
    assert code == 1 and "no deploy record for prod" in err


def test_a_clustered_profile_deploys_diffs_rolls_back_and_sets_up(fake_modal, cli, profile_tree):
    """The two-node Server through every step that reaches Modal (a stand-in `modal` here)."""
    parent = PROFILES_DIR / "glm51-bf16-cluster.yaml"
    root = profile_tree({"big.yaml": f"extends: {parent}\napp:\n  name: big\n" + PINNED + DIRECT})
    profile = root / "big.yaml"
    assert cli("deploy", str(profile))[0] == 0
    [record] = json.loads((deploy_module.DEPLOYS_DIR / "big" / "history.json").read_text())
    assert record["serving_primitive"] == "server"
    deployed = (deploy_module.DEPLOYS_DIR / "big" / record["tag"] / "modal_app.py").read_text()
    assert "@modal.clustered(size=CLUSTER_NODES, rdma=CLUSTER_RDMA)" in deployed

    profile.write_text(profile.read_text() + "autoscaling:\n  max_containers: 4\n")  # 2 replicas
    code, out, _ = cli("diff", str(profile), "--against", "deployed")
    assert code == 0 and "autoscaling.max_containers  2 -> 4" in out
    assert cli("deploy", str(profile))[0] == 0
    assert cli("rollback", str(profile))[0] == 0
    assert fake_modal()[-1] == ["app", "rollback", "big"]
    for command, file in (("setup", "modal_app.py"), ("preflight", "preflight.py")):
        assert cli(command, str(profile))[0] == 0
        assert fake_modal()[-1][0] == "run" and fake_modal()[-1][1].endswith(f"build/big/{file}")
