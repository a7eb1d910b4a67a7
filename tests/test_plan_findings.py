"""plan's findings are the rules' findings (validate warns where plan says "does NOT fit"), and
plan says the same flag values the rendered app passes."""

from __future__ import annotations

import json

import pytest
from conftest import BASE_PROFILE, SHIPPED_PROFILES, load_modal_app

from generator.pipeline import load, render_to_file

BASE = f"extends: {BASE_PROFILE}\n"


def test_running_requests_that_do_not_fit_warn_in_validate_and_plan(profile_tree, cli):
    """The issue's profile: 128 running requests at 65,536 tokens, 11x the KV pool."""
    root = profile_tree(
        {"p.yaml": BASE + "sglang:\n  context_length: 65536\n  max_running_requests: 128\n"}
    )
    code, out, err = cli("validate", str(root / "p.yaml"))
    assert code == 0  # a warning: SGLang queues or retracts, it does not crash
    [line] = [x for x in (out + err).splitlines() if "[running-requests-beyond-kv-pool]" in x]
    assert "p.yaml:" in line and "sglang.max_running_requests" in line
    code, out, _ = cli("plan", "--json", str(root / "p.yaml"))
    pool = json.loads(out)["kv_pool_tokens"]  # 742,144: the finding must say plan's figure
    assert f"kv_pool_tokens={pool}" in line
    assert f"only {pool // 65_536} of 128 running requests fit" in line  # 11
    assert f"set sglang.max_running_requests <= {pool // 65_536}" in line  # the fix, first
    assert f"cap sglang.context_length <= {pool // 128:,}" in line
    assert pool // 65_536 == 11 and 0 < pool < 128 * 65_536
    code, out, _ = cli("plan", str(root / "p.yaml"))
    assert "does NOT fit" in out
    assert "warning: [running-requests-beyond-kv-pool]" in out.split("\nFindings\n")[1]


def test_running_requests_above_the_server_cap_warn_with_the_fix(profile_tree, cli):
    root = profile_tree({"p.yaml": BASE + "serving:\n  primitive: server\n  max_concurrency: 40\n"})
    code, out, _ = cli("plan", str(root / "p.yaml"), "--json")
    assert code == 0
    [finding] = [
        f
        for f in json.loads(out)["findings"]
        if f["rule"] == "running-requests-above-max-concurrency"
    ]
    assert finding["severity"] == "warning" and finding["path"] == "serving.max_concurrency"
    assert "Modal answers 429 above 40" in finding["message"]
    assert "set serving.max_concurrency >= 48" in finding["message"]
    assert "sglang.max_running_requests <= 40" in finding["message"]


def test_prod_is_quiet_but_for_the_unpinned_revision_and_says_what_it_silenced(cli):
    """The shipped default warns only about what a fresh clone must do (pin the revision); the
    guide choices it keeps are silenced with their reasons, which plan prints."""
    code, out, _ = cli("plan", "prod", "--json")
    p = json.loads(out)
    assert [f["rule"] for f in p["findings"]] == ["model-revision-unpinned"]
    silenced = {s["rule"]: s["reason"] for s in p["silenced"]}
    assert set(silenced) == {"dsa-prefill-trtllm-bf16", "running-requests-beyond-kv-pool"}
    assert "release.probe_min_accuracy" in silenced["dsa-prefill-trtllm-bf16"]
    release = load("prod").deployment.release
    assert release is not None and release.canary and release.probe_min_accuracy == 0.9


@pytest.mark.parametrize("name", SHIPPED_PROFILES)
def test_plan_shows_the_flag_values_the_rendered_app_passes(name, cli, tmp_path):
    """Every flag plan lists beside SGLang's own choice, with its value, is in the rendered app's
    argv for the profile's GPU type (the app imported with the real `modal`)."""
    code, out, _ = cli("plan", name, "--json")
    assert code == 0
    plan = json.loads(out)
    loaded = load(name)
    app = load_modal_app(render_to_file(loaded, tmp_path / name / "modal_app.py"))
    argv = [word for flag in app.SGLANG_FLAGS[plan["gpu"]] for word in flag]
    own = plan["sglang_own_choices"]
    assert own, name
    for choice in own:
        flag, value = choice["flag"], choice["value"]
        assert flag in argv, (name, flag)
        at = argv.index(flag)
        if value is True:  # a bare switch
            assert at + 1 == len(argv) or argv[at + 1].startswith("--"), (name, flag)
        else:
            assert argv[at + 1] == str(value), (name, flag, value, argv[at + 1])
    # and the table says the same word: no "on" where the app passes "auto"
    code, table, _ = cli("plan", name)
    for choice in own:
        if choice["value"] is not True:
            assert any(
                line.split()[:2] == [choice["flag"], str(choice["value"])]
                for line in table.splitlines()
            ), (name, choice["flag"])
