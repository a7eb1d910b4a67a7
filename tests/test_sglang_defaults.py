"""SGLang's own choices per version (manifests/sglang-<version>-defaults.yaml) beside the flags.

The fast tests check how they are shown (sglang-args --explain, plan, the rendered comments); the
slow one reads the real package in each version's throwaway venv and checks that every recorded
choice names a function that exists in the cited file and whose code contains the chosen value.
"""

from __future__ import annotations

import ast
import json
import re
import sys

import pytest

from generator import PROFILES_DIR, REPO_ROOT
from generator.pipeline import load
from generator.sglang.defaults import defaults
from generator.sglang.flags import flag_note, own_choices
from generator.sglang.versions import supported_versions

sys.path.insert(0, str(REPO_ROOT / "scripts"))
from sglang_manifest import ensure_env  # noqa: E402


def _retargeted(profile_tree, version: str):
    text = (
        f"extends: {PROFILES_DIR / 'prod'}.yaml\nimages:\n  serve:\n    tag: v{version}\n"
        f"sglang:\n  version: '{version}'\n  env: null\n"
    )
    root = profile_tree({"p.yaml": text})
    return load(root / "p.yaml").deployment


def test_every_supported_version_has_its_choices():
    for version in supported_versions():
        data = defaults(version)
        assert data["sglang_version"] == version
        assert data["architecture"] == "GlmMoeDsaForCausalLM"
        assert all(entry["source"].startswith("sglang/") for entry in data["choices"].values())


def test_prod_overrides_only_the_kv_dtype_and_the_prefill_backend():
    owns = {own.setting: own for own in own_choices(load("prod").deployment)}
    assert {k for k, own in owns.items() if own.overrides} == {
        "kv_cache_dtype",
        "sparse_prefill_backend",
    }
    assert owns["kv_cache_dtype"].sglang_choice == "fp8_e4m3"  # auto on SM100
    assert owns["sparse_prefill_backend"].sglang_choice == "flashmla_sparse"  # with BF16 KV
    assert owns["attention_backend"].sglang_choice == "dsa"
    assert owns["moe_runner_backend"].sglang_choice == "flashinfer_trtllm"
    assert owns["enable_flashinfer_allreduce_fusion"].sglang_choice == "auto"
    assert owns["enable_flashinfer_allreduce_fusion"].value == "auto"  # as the app passes it


def test_on_0_5_10_allreduce_fusion_is_the_guides_choice_not_sglangs(profile_tree):
    owns = {own.setting: own for own in own_choices(_retargeted(profile_tree, "0.5.10"))}
    assert owns["enable_flashinfer_allreduce_fusion"].overrides
    assert owns["enable_flashinfer_allreduce_fusion"].flag.option == (
        "--enable-flashinfer-allreduce-fusion"
    )
    assert owns["attention_backend"].value == "nsa" and not owns["attention_backend"].overrides


def test_rendered_comments_mark_the_overrides():
    d = load("prod").deployment
    notes = {own.flag.option: flag_note(own.flag, d) for own in own_choices(d)}
    assert "overrides SGLang 0.5.23's fp8_e4m3" in notes["--kv-cache-dtype"]
    assert "overrides SGLang 0.5.23's flashmla_sparse" in notes["--dsa-prefill-backend"]
    assert notes["--dsa-decode-backend"] == "same as SGLang 0.5.23's own choice"


def test_sglang_args_explain(cli):
    code, out, _ = cli("sglang-args", "prod", "--explain")
    assert code == 0
    assert "--dsa-prefill-backend trtllm\n      overrides SGLang 0.5.23's flashmla_sparse" in out
    assert "source: sglang/srt/arg_groups/overrides.py `_dsa_split_backend_resolution`" in out
    code, out, _ = cli("sglang-args", "prod")
    assert code == 0 and json.loads(out)[0] == "--model-path"


def test_plan_lists_the_choices(cli):
    code, out, _ = cli("plan", "prod", "--json")
    choices = {c["flag"]: c for c in json.loads(out)["sglang_own_choices"]}
    assert choices["--kv-cache-dtype"]["overrides"] is True
    assert choices["--moe-runner-backend"]["overrides"] is False


def _strings_in(function: ast.AST) -> set[str]:
    return {
        node.value
        for node in ast.walk(function)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }


def _values(value) -> set[str]:
    if isinstance(value, dict):
        return set().union(*(_values(v) for v in value.values()))
    return {value} if isinstance(value, str) else set()


@pytest.mark.slow
@pytest.mark.parametrize("version", supported_versions())
def test_recorded_choices_are_in_the_real_source(version):
    """Each source names a function of the real package that holds the recorded values.

    Covers where the choice is made, not the branch that makes it (that needs a GPU: the
    choices read torch.cuda's compute capability); booleans are not checked this way.
    """
    site = next((ensure_env(version).parent.parent / "lib").glob("python3*/site-packages"))
    for setting, entry in defaults(version)["choices"].items():
        path, function = re.match(r"(\S+) `(\w+)`", entry["source"]).groups()
        tree = ast.parse((site / path).read_text(encoding="utf-8"))
        found = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == function]
        assert found, f"{version} {setting}: no {function} in {path}"
        missing = _values(entry["value"]) - _strings_in(found[0])
        assert not missing, f"{version} {setting}: {sorted(missing)} not in {function}"


def test_a_fallback_gpu_keeps_the_fusion_sglang_turns_on_there():
    """SGLang 0.5.23 sets flashinfer_allreduce_fusion_backend="auto" on SM90 too (TP > 1): the
    H200 flag set of high-availability passes the same word the B200 one does."""
    sets = {s.deployment.gpu.type: s.argv for s in load("high-availability").flag_sets}
    for argv in sets.values():
        at = argv.index("--flashinfer-allreduce-fusion-backend")
        assert argv[at + 1] == "auto"
