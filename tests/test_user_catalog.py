"""A model added from the profiles' own repository: the user catalog (profiles/models/*.yaml)
merged over the shipped one, checked like a profile; `init`; and the errors that lead the right
way (GPU type case, gpu.count past a node, weights past a GPU, the Hub unreachable).

Every test works on a copy of profiles/ in a temporary folder: no file under generator/ is
written, so what a model needs is what a user of an installed package can add."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from conftest import DEEPSEEK_V32_ENTRY, load_modal_app

from generator import PROFILES_DIR, catalog
from generator.errors import ProfileError
from generator.pipeline import load, render_to_file

ENTRY = "# DeepSeek-V3.2, added beside the profiles.\n" + DEEPSEEK_V32_ENTRY

PROFILE = """\
extends: prod
app:
  name: dsv32
model:
  id: deepseek-ai/DeepSeek-V3.2
  served_model_name: dsv32
sglang:
  reasoning_parser: deepseek-v3
  tool_call_parser: deepseekv32
  attention: {backend: dsa, sparse_prefill_backend: null, sparse_decode_backend: null}
"""


@pytest.fixture
def profiles(tmp_path):
    """A copy of profiles/ (the user's repository) with the given extra files in it."""

    def build(files: dict[str, str]):
        root = tmp_path / "profiles"
        shutil.copytree(PROFILES_DIR, root)
        for name, text in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text, encoding="utf-8")
        return root

    return build


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_a_model_added_through_the_user_catalog_only_validates_plans_and_renders(
    profiles, cli, tmp_path
):
    assert catalog.entry("deepseek-ai/DeepSeek-V3.2") is None  # the package does not know it
    root = profiles({"models/deepseek.yaml": ENTRY, "dsv32.yaml": PROFILE})
    code, out, err = cli("validate", str(root / "dsv32.yaml"))
    assert code == 0, out + err
    assert "[model-family-unknown]" in err and "models/deepseek.yaml:3:11" in err  # at `family`
    code, out, err = cli("plan", str(root / "dsv32.yaml"), "--json")
    assert code == 0, err
    plan = json.loads(out)
    assert plan["attention_design"] == "mla_dsa"
    assert plan["architecture_source"].startswith("catalog: the recorded config.json in ")
    assert plan["architecture_source"].endswith("models/deepseek.yaml")
    # 61 layers + the MTP layer, each 576 x 2 B of latent + a 132 B indexer key (BF16 KV).
    assert plan["kv_bytes_per_token"] == 62 * (1152 + 132)
    assert plan["checkpoint_bytes"] == 690 * 10**9
    # SGLang's own choices are not recorded for this class: the plan says so, and how.
    assert plan["sglang_own_choices"] == []
    why = plan["sglang_own_choices_unrecorded"]
    assert "not recorded for DeepseekV32ForCausalLM" in why and "defaults.yaml" in why
    code, out, _ = cli("sglang-args", str(root / "dsv32.yaml"), "--explain")
    assert code == 0 and "not recorded for DeepseekV32ForCausalLM" in out
    module = load_modal_app(render_to_file(load(root / "dsv32.yaml"), tmp_path / "app.py"))
    args = [a for flag in module.SGLANG_FLAGS["B200:8"] for a in flag]
    assert args[args.index("--reasoning-parser") + 1] == "deepseek-v3"
    # The shipped profiles beside it are unaffected, and the shipped catalog still lacks it.
    assert cli("validate", str(root / "prod.yaml"))[0] == 0
    assert catalog.entry("deepseek-ai/DeepSeek-V3.2") is None


def test_a_user_file_changes_one_field_of_a_shipped_entry(profiles, cli):
    root = profiles({"models/size.yaml": "zai-org/GLM-5.1-FP8:\n  checkpoint_gb: 700.5\n"})
    code, p, err = cli("plan", str(root / "prod.yaml"), "--json")
    assert code == 0, err
    assert json.loads(p)["checkpoint_bytes"] == 700_500_000_000
    assert json.loads(cli("plan", "prod", "--json")[1])["checkpoint_bytes"] == 756_900_000_000


def test_a_typo_in_the_recorded_config_is_a_located_error_not_another_design(profiles, cli):
    text = ENTRY.replace("kv_lora_rank", "kv_lora_rnk")
    root = profiles({"models/deepseek.yaml": text, "dsv32.yaml": PROFILE})
    for command in ("validate", "plan", "render"):
        code, out, err = cli(command, str(root / "dsv32.yaml"))
        assert code == 1 and "Traceback" not in err, command
        line = _line_of(text, "kv_lora_rnk")
        assert f"models/deepseek.yaml:{line}:5: [model-catalog] config.kv_lora_rnk:" in out + err
        assert "did you mean `kv_lora_rank`?" in out + err
        assert "architecture: gqa" not in out  # never read as GQA from the heads


def test_a_typo_in_a_recipe_key_is_located_and_breaks_no_other_profile(profiles, cli):
    text = ENTRY.replace("    speculative: EAGLE", "    speculativ: EAGLE")
    root = profiles({"models/deepseek.yaml": text, "dsv32.yaml": PROFILE})
    code, out, err = cli("validate", str(root / "dsv32.yaml"), str(root / "kimi-k26.yaml"))
    assert code == 1 and "Traceback" not in err
    line = _line_of(text, "speculativ:")
    assert f"models/deepseek.yaml:{line}:5: [model-catalog] recipe.speculativ: unknown field" in err
    assert "(did you mean speculative?)" in err
    assert "missing required field 'speculative'" in err  # every problem of the entry at once
    assert "ok: kimi-k26" in out  # another model's profiles still validate


def test_a_config_missing_its_designs_fields_is_refused(profiles, cli):
    # DeepseekV32ForCausalLM is MLA + DSA: without the indexer it would size as plain MLA.
    text = "\n".join(
        line for line in ENTRY.splitlines() if "index_" not in line and "v_head_dim" not in line
    )
    root = profiles({"models/deepseek.yaml": text + "\n", "dsv32.yaml": PROFILE})
    code, out, err = cli("plan", str(root / "dsv32.yaml"))
    assert code == 1 and out == "" and "Traceback" not in err
    line = _line_of(text, "  config:")
    assert f"models/deepseek.yaml:{line}:3: [model-catalog] config:" in err
    assert (
        "DeepseekV32ForCausalLM is MLA + DSA indexer, but its config.json lacks v_head_dim, "
        "index_n_heads, index_head_dim, index_topk" in err
    )


@pytest.mark.parametrize(
    "files,expected",
    [
        # Not a mapping of ids, a YAML tag, an id that is no Hugging Face id.
        (
            {"models/x.yaml": "- a\n- b\n"},
            "models/x.yaml:1:1: [model-catalog] a model catalog maps",
        ),
        ({"models/x.yaml": "a/b: !!python/name:os.system x\n"}, "models/x.yaml:1:6:"),
        ({"models/x.yaml": "'not an id': {}\n"}, "is not a Hugging Face id"),
        ({"models/x.yaml": "a/b: [1\n"}, "models/x.yaml:2:1: [model-catalog] invalid YAML"),
        ({"models/x.yaml": "x" * (1024 * 1024 + 1)}, "a model catalog file holds at most 1 MiB"),
    ],
)
def test_a_catalog_file_that_cannot_be_read_is_a_located_error(profiles, cli, files, expected):
    root = profiles(files)
    code, out, err = cli("validate", str(root / "prod.yaml"))
    assert code == 1 and "Traceback" not in err
    assert expected in err


def test_a_catalog_file_leading_out_of_the_repository_is_refused(profiles, cli, tmp_path):
    outside = tmp_path / "elsewhere.yaml"
    outside.write_text(ENTRY, encoding="utf-8")
    root = profiles({"dsv32.yaml": PROFILE})
    (root / "models").mkdir()
    (root / "models" / "deepseek.yaml").symlink_to(outside)
    code, _, err = cli("validate", str(root / "dsv32.yaml"))
    assert code == 1 and "outside" in err and "a catalog file must be a file in" in err


def test_init_writes_a_profile_and_a_stub_whose_fill_ins_are_located(profiles, cli):
    root = profiles({})
    code, out, err = cli(
        "init",
        "dsv32",
        "--model",
        "deepseek-ai/DeepSeek-V3.2",
        "--like",
        "prod",
        "--dir",
        str(root),
    )
    assert code == 0, out + err
    stub = (root / "models" / "dsv32.yaml").read_text()
    assert "wrote" in out and "13 field(s) to fill in before dsv32 validates" in out
    line = _line_of(stub, "checkpoint_gb:")
    assert f"models/dsv32.yaml:{line}:18: [model-catalog] checkpoint_gb: still FILL IN" in out
    # validate says the same, and only that: every error is a FILL IN of the stub.
    code, out, err = cli("validate", str(root / "dsv32.yaml"))
    errors = [line for line in err.splitlines() if "[model-catalog]" in line]
    assert code == 1 and len(errors) == 13 and all("FILL IN" in e for e in errors)
    # Never overwritten.
    code, _, err = cli("init", "dsv32", "--model", "a/b", "--like", "prod", "--dir", str(root))
    assert code == 2 and "exists; init never overwrites" in err
    # Filled in (the entry above), the profile validates and renders as written by init.
    (root / "models" / "dsv32.yaml").write_text(ENTRY, encoding="utf-8")
    loaded = load(root / "dsv32.yaml")
    d = loaded.deployment
    assert d.app_name == "dsv32" and d.volumes.weights.name == "dsv32-model-weights"
    assert d.secrets.api_key.name == "dsv32-api-key"
    assert d.sglang.attention.backend is None  # prod's GLM kernels were left to SGLang


def test_init_for_a_known_model_takes_its_recipe_and_validates(profiles, cli):
    root = profiles({})
    code, out, err = cli(
        "init", "k2", "--model", "moonshotai/Kimi-K2.6", "--like", "prod", "--dir", str(root)
    )
    assert code == 0 and "validate: ok" in out, out + err
    assert not (root / "models").exists()  # a known model needs no stub
    d = load(root / "k2.yaml").deployment
    assert (d.sglang.reasoning_parser, d.sglang.tool_call_parser) == ("kimi_k2", "kimi_k2")
    assert d.model.trust_remote_code and not d.sglang.speculative.enabled
    # GLM-5.2's 1,048,576-token window exceeds the pool: init caps it where it writes it.
    code, out, _ = cli(
        "init", "g2", "--model", "zai-org/GLM-5.2-FP8", "--like", "prod", "--dir", str(root)
    )
    assert code == 0 and "validate: ok" in out
    written = re.search(
        r"context_length: (\d+)  # the model's window \(1,048,576\) exceeds one KV pool "
        r"\(([\d,]+) tokens\)",
        (root / "g2.yaml").read_text(),
    )
    assert written and 0 < int(written[1]) <= int(written[2].replace(",", ""))


@pytest.mark.parametrize(
    "args,expected",
    [
        (["Bad", "--model", "a/b"], "NAME 'Bad': expected at most 37 lowercase"),
        (["ok", "--model", "not-an-id"], "--model 'not-an-id': expected a Hugging Face id"),
        (["ok", "--model", "a/b", "--like", "prd"], "profile not found: prd (did you mean prod?)"),
    ],
)
def test_init_refuses_bad_input_and_writes_nothing(profiles, cli, args, expected):
    root = profiles({})
    before = sorted(p.name for p in root.rglob("*"))
    like = [] if "--like" in args else ["--like", "prod"]
    code, _, err = cli("init", *args, *like, "--dir", str(root))
    assert code == 2 and expected in err and "Traceback" not in err
    assert sorted(p.name for p in root.rglob("*")) == before


def test_gpu_type_in_another_case_is_corrected_to_itself(profile_tree, cli):
    root = profile_tree({"p.yaml": "extends: prod\ngpu:\n  type: b200\n"})
    _, _, err = cli("validate", str(root / "p.yaml"))
    assert 'got string "b200" (did you mean B200?)' in err
    code, out, _ = cli("sglang-args", "kimi-k26", "--gpu", "h200")
    assert code == 0 and "--model-path" in out


def test_gpu_count_past_a_node_points_at_cluster_nodes(profile_tree, cli):
    root = profile_tree({"p.yaml": "extends: prod\ngpu:\n  count: 16\n"})
    code, _, err = cli("validate", str(root / "p.yaml"))
    assert code == 1 and "p.yaml:3:10: gpu.count: expected a value <= 8, got integer 16" in err
    assert "set gpu.count: 8 and cluster.nodes: 2" in err


def test_a_small_mem_fraction_is_still_advised_to_rise(profile_tree, cli):
    """The weights fit a B200 (88 of 178 GiB): there the fraction is what to change."""
    root = profile_tree({"p.yaml": "extends: prod\nsglang:\n  mem_fraction_static: 0.45\n"})
    _, _, err = cli("validate", str(root / "p.yaml"))
    assert "[kv-pool-empty] sglang.mem_fraction_static:" in err
    assert "raise sglang.mem_fraction_static (up to 0.95)" in err


def test_pin_revision_without_the_hub_is_one_line(profile_tree, cli, monkeypatch):
    """huggingface_hub 2.x raises its transport's own ConnectError (httpx2), not httpx's."""
    from huggingface_hub import HfApi

    transport = pytest.importorskip("httpx2") if _has("httpx2") else pytest.importorskip("httpx")

    def unreachable(*_args, **_kwargs):
        raise transport.ConnectError("[Errno -2] Name or service not known")

    monkeypatch.setattr(HfApi, "model_info", unreachable)
    root = profile_tree({"p.yaml": "extends: prod\n"})
    before = (root / "p.yaml").read_text()
    code, out, err = cli("pin-revision", str(root / "p.yaml"))
    assert code == 1 and "Traceback" not in err
    assert err.strip().count("\n") == 0
    assert err.startswith("error: cannot reach the Hugging Face Hub (ConnectError:")
    assert (root / "p.yaml").read_text() == before


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def test_catalog_files_are_not_profiles_for_the_one_name_check(profiles, monkeypatch):
    """profiles/models/prod.yaml is a catalog file; it does not clash with profiles/prod.yaml
    (a copy of the repository's profiles/, where the rule looks; nothing written in the checkout)."""
    from generator.profile import load as profile_load

    root = profiles({"models/prod.yaml": "{}\n", "other/prod.yaml": "{}\n"})
    monkeypatch.setattr(profile_load, "REPO_ROOT", root.parent)
    monkeypatch.setattr(profile_load, "PROFILES_DIR", root)
    (root / "other" / "prod.yaml").unlink()
    profile_load.check_unique_name(root / "prod.yaml")  # the catalog file is not a profile
    (root / "other" / "prod.yaml").write_text("{}\n")
    with pytest.raises(ProfileError, match="another profile is named 'prod'"):
        profile_load.check_unique_name(root / "prod.yaml")


def test_validating_a_catalog_file_validates_the_profiles_beside_it(profiles, cli):
    """What the pre-commit hook passes when only profiles/models/x.yaml changed."""
    text = ENTRY.replace("kv_lora_rank", "kv_lora_rnk")
    root = profiles({"models/deepseek.yaml": text, "dsv32.yaml": PROFILE})
    code, out, err = cli("validate", str(root / "models" / "deepseek.yaml"))
    assert code == 1 and "ok: prod" in out and "did you mean `kv_lora_rank`?" in err


def test_init_refuses_a_like_profile_outside_the_target_repository(profiles, cli, tmp_path):
    root = profiles({})
    elsewhere = tmp_path / "other"
    elsewhere.mkdir()
    code, _, err = cli(
        "init", "x", "--model", "a/b", "--like", str(root / "prod.yaml"), "--dir", str(elsewhere)
    )
    assert code == 2 and "a profile extends only profiles in its repository" in err
    assert list(elsewhere.iterdir()) == []


def test_the_design_checks_hold_for_every_shipped_config_and_catch_near_misses():
    from generator.catalog import architecture

    for model_id, e in catalog.entries().items():
        assert architecture.config_problems(e.config, model_id) == [], model_id
    # A class the table does not know is still refused when a design field is misspelt.
    config = {"architectures": ["NewMoeForCausalLM"], "num_key_value_heads": 8, "kv_lora_rnk": 512}
    (problem,) = architecture.config_problems(config, "x")
    assert problem.field == "kv_lora_rnk" and "did you mean `kv_lora_rank`?" in str(problem)
    # Half an indexer is no indexer to size.
    config = {"architectures": ["NewMoeForCausalLM"], "kv_lora_rank": 512, "index_topk": 2048}
    (problem,) = architecture.config_problems(config, "x")
    assert "lacks index_n_heads, index_head_dim" in str(problem)
    # The class decides the design: GlmMoeDsa without an indexer is not plain MLA.
    glm = dict(catalog.entry("zai-org/GLM-5.1-FP8").config)
    del glm["index_topk"]
    with pytest.raises(architecture.IncompleteConfig, match="lacks index_topk"):
        architecture.parse(glm, "glm")
