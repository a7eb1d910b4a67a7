"""Upstream recipes as data, and the rule that reports where a flag set departs from them."""

from __future__ import annotations

import dataclasses
import json

import pytest
from conftest import PROFILES_DIR, SHIPPED_PROFILES
from test_rules import problems_for

from generator import REPO_ROOT
from generator.catalog import entries
from generator.catalog.recipes import MODES, recipes, recipes_for, sources
from generator.pipeline import load
from generator.sglang.fallback import flag_sets, variants
from generator.sglang.flags import flag_set
from generator.sglang.recipes import departures, recipe_flags, recipe_of, setting
from generator.sglang.versions import Flag

VERSION = "0.5.23"
GLM52 = f"extends: {PROFILES_DIR / 'glm52.yaml'}\n"
DOCS_NEW_GLM52 = "sgl-project/sglang/docs_new/src/snippets/configs/zai-org/glm-5.2.jsx@eb29f978dbc0"


def problems(profile_tree, text: str):
    return problems_for(profile_tree({"p.yaml": GLM52 + text}))


def of(found, rule="sglang-recipe-departure"):
    return [p for p in found if p.rule == rule]


def test_every_recipe_names_a_catalog_model_a_source_and_a_mode():
    assert {r.model for r in recipes()} <= set(entries())
    for r in recipes():
        assert r.mode in MODES and r.source.id in sources()
        assert len(r.source.commit) == 40
    # Each catalog model has at least one recorded recipe (the real-engine lane's test model has
    # no upstream recipe).
    served = {m for m, e in entries().items() if e.family != "tiny-test"}
    assert served == {r.model for r in recipes()}


def test_every_recipe_flag_is_one_sglang_knows_except_the_pinned_few():
    """The pinned version's manifest (extracted from the real package) reads each recipe flag;
    the ones it lacks are pinned here so a version bump that adds them is noticed."""
    unknown = {
        flag.option
        for r in recipes()
        for flag in recipe_flags(r, VERSION).values()
        if not flag.known
    }
    assert unknown == {"--mamba-scheduler-strategy"}


@pytest.mark.parametrize(
    "spellings,dest",
    [
        (("--tp", "--tp-size", "--tensor-parallel-size"), "tp_size"),
        (("--ep", "--ep-size", "--expert-parallel-size"), "ep_size"),
        (("--dp", "--dp-size", "--data-parallel-size"), "dp_size"),
        (("--speculative-algo", "--speculative-algorithm"), "speculative_algorithm"),
        # 0.5.23 deprecates --enable-dp-attention for --attn-dp-size <dp-size> (its manifest's
        # replaced_by), and the fusion switch for a backend choice: the same settings.
        (("--enable-dp-attention", "--attn-dp-size"), "attn_dp_size"),
        (
            ("--enable-flashinfer-allreduce-fusion", "--flashinfer-allreduce-fusion-backend"),
            "flashinfer_allreduce_fusion_backend",
        ),
    ],
)
def test_aliases_name_one_setting(spellings, dest):
    assert {setting(s, VERSION) for s in spellings} == {dest}


def test_docs_new_supersedes_the_cookbook_per_gpu_type():
    # MiniMax on B200: the cookbook's tp 8 (no --ep) is not checked; docs_new's recipes are.
    offered = recipes_for("MiniMaxAI/MiniMax-M2.7", "B200")
    assert {r.source.edition for r in offered.values()} == {"docs_new"}
    assert "--ep 8" in offered["high-throughput"].flags
    # GLM-5.1 BF16 has no docs_new NVIDIA recipe: the cookbook's are used.
    assert recipes_for("zai-org/GLM-5.1", "B200")["low-latency"].source.edition == "cookbook"


def test_mode_defaults_to_the_recipe_for_the_profiles_tensor_parallel_size():
    minimax = load("minimax-m27").deployment
    assert recipe_of(minimax).mode == "high-throughput"  # the 8-GPU budget tier
    qwen = load("qwen35").deployment
    assert [recipe_of(v).mode for v in variants(qwen)] == ["low-latency", "low-latency"]


def test_a_departure_says_the_recipes_value_and_source_at_the_profile_field(profile_tree):
    (found,) = of(problems(profile_tree, "sglang:\n  mem_fraction_static: 0.9\n"))
    assert found.path == ("sglang", "mem_fraction_static")
    assert found.location.line == 3 and found.location.file.name == "p.yaml"
    assert "low-latency recipe passes `--mem-fraction-static 0.8`" in found.message
    assert DOCS_NEW_GLM52 in found.message
    assert found.message.endswith("Found: --mem-fraction-static 0.9")
    assert found.severity == "warning"


def test_a_missing_flag_is_a_departure(profile_tree):
    text = "sglang:\n  speculative:\n    enabled: false\n"
    found = of(problems(profile_tree, text))
    assert {p.message.split("`")[1] for p in found} == {
        "--speculative-algorithm EAGLE",
        "--speculative-num-steps 5",
        "--speculative-eagle-topk 1",
        "--speculative-num-draft-tokens 6",
    }
    assert all("leaves it out" in p.message for p in found)
    # glm52 chose its mode: a flag left out is located there.
    assert {p.path for p in found} == {("sglang", "recipe")}


def test_a_reason_silences_one_flag_under_any_spelling(profile_tree):
    text = (
        "sglang:\n  mem_fraction_static: 0.9\n  tensor_parallel_size: 8\n"
        "  recipe_departures:\n    --mem-fraction-static: more KV pool\n"
    )
    assert of(problems(profile_tree, text)) == []
    assert of(problems(profile_tree, text), "sglang-recipe-silence") == []


def test_a_reason_for_a_flag_that_does_not_depart_is_reported(profile_tree):
    text = "sglang:\n  recipe_departures:\n    --tp: kept from an older recipe\n"
    (stale,) = of(problems(profile_tree, text), "sglang-recipe-silence")
    assert stale.path == ("sglang", "recipe_departures", "--tp")
    assert "does not depart" in stale.message


def test_a_reason_for_a_gpu_type_the_profile_does_not_run_on_is_reported(profile_tree):
    text = (
        "sglang:\n  mem_fraction_static: 0.9\n"
        "  recipe_departures:\n    --mem-fraction-static:\n      H200: more KV pool\n"
    )
    found = problems(profile_tree, text)
    assert len(of(found)) == 1  # not silenced on B200
    (stale,) = of(found, "sglang-recipe-silence")
    assert "does not run on H200" in stale.message


@pytest.mark.parametrize("reason", ["''", "'  '"])
def test_a_silence_needs_a_reason(profile_tree, reason):
    text = f"sglang:\n  recipe_departures:\n    --mem-fraction-static: {reason}\n"
    (p,) = problems(profile_tree, text)
    assert p.severity == "error" and p.path[:3] == (
        "sglang",
        "recipe_departures",
        "--mem-fraction-static",
    )


def test_a_mode_the_model_lacks_on_its_gpu_is_reported(profile_tree):
    root = profile_tree(
        {"p.yaml": f"extends: {PROFILES_DIR / 'kimi-k26.yaml'}\nsglang:\n  recipe: balanced\n"}
    )
    (found,) = of(problems_for(root))
    assert "has no balanced recipe on H200; it has low-latency, high-throughput" in found.message


def test_layout_flags_are_compared_whatever_setting_emits_them():
    """The layout setting's flag (--ep-size from sglang.expert_parallel_size) satisfies the
    recipe's `--ep 8`; without it, the departure is reported."""
    d = load("minimax-m27").deployment
    flags = flag_set(d)
    assert ["--ep-size", "8"] in [list(flag.argv[:2]) for flag in flags]
    assert "--ep" not in {dep.wanted.option for dep in departures(d, flags)}
    without_ep = [flag for flag in flags if flag.argv[0] != "--ep-size"]
    assert "--ep" in {dep.wanted.option for dep in departures(d, without_ep)}


@pytest.mark.parametrize("name", SHIPPED_PROFILES)
def test_shipped_profiles_match_their_recipes_or_say_why(name):
    warnings = load(name).warnings
    found = [
        str(p) for p in warnings if p.rule in ("sglang-recipe-departure", "sglang-recipe-silence")
    ]
    assert found == []


def test_flag_notes_carry_the_recipes_value_and_source():
    (b200,) = flag_sets(load("glm52").deployment)
    notes = {flag.argv[0]: flag.note for flag in b200.flags}
    short = "sgl-project/sglang:glm-5.2.jsx@eb29f978dbc0"
    assert f"recipe: 0.8 (low-latency, {short})" in notes["--mem-fraction-static"]
    assert f"recipe: 5 (low-latency, {short})" in notes["--speculative-num-steps"]
    assert "recipe:" not in notes["--kv-cache-dtype"]  # the recipe leaves it to SGLang


def test_docs_recipes_md_is_what_the_script_writes():
    """docs/recipes.md is generated: `make recipes-doc` after changing recipes or profiles."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "recipes_doc", REPO_ROOT / "scripts" / "recipes_doc.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (REPO_ROOT / "docs" / "recipes.md").read_text(encoding="utf-8") == module.render()


def test_plan_prints_each_departure_with_its_reason(cli):
    code, out, _ = cli("plan", "qwen35")
    assert code == 0
    assert (
        "departs from the low-latency recipe on H200: `--tp 8`, here --tp-size 4: A fallback" in out
    )
    code, out, _ = cli("plan", "qwen35", "--json")
    given = json.loads(out)["recipe_departures"]
    assert {(g["gpu"], g["flag"]) for g in given} >= {("H200", "--tp"), ("H200", "--ep")}
    assert all(g["source"].startswith("sgl-project/sglang/docs_new/") for g in given)


def test_a_recipes_old_switch_is_met_by_its_successor_with_a_value():
    """GLM-5.2's balanced recipe: `--enable-dp-attention` is met by 0.5.23's --attn-dp-size 8,
    as a DP-attention layout setting may emit it; `--dp 8` by --dp-size 8."""
    d = load("glm52").deployment
    recipe = recipes_for(d.model.id, "B200")["balanced"]
    layout = [
        Flag("--dp-size", ("8",), ("sglang", "data_parallel_size")),
        Flag("--attn-dp-size", ("8",), ("sglang", "x")),
        Flag("--moe-a2a-backend", ("deepep",), ("sglang", "x")),
    ]
    balanced = dataclasses.replace(d, sglang=dataclasses.replace(d.sglang, recipe="balanced"))
    assert recipe_of(balanced) is recipe
    wanted = {dep.wanted.option for dep in departures(balanced, [*flag_set(balanced), *layout])}
    assert not wanted & {"--dp", "--enable-dp-attention", "--moe-a2a-backend"}
    assert {"--dp", "--enable-dp-attention"} <= {
        dep.wanted.option for dep in departures(balanced, flag_set(balanced))
    }
