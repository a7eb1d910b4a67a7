"""Flag sets judged against each SGLang version's manifest, offline, with located messages."""

from __future__ import annotations

import json

import pytest
from conftest import BASE_PROFILE

from generator.pipeline import load
from generator.sglang.flags import server_args
from generator.sglang.versions import supported_versions

TAGS = {"0.5.10": "v0.5.10", "0.5.23": "v0.5.23"}


def on_version(version: str) -> str:
    """A profile fragment that retargets the base profile to another SGLang version."""
    return f"images:\n  serve:\n    tag: {TAGS[version]}\nsglang:\n  version: '{version}'\n"


def validate(profile_tree, cli, monkeypatch, body: str, version: str = "0.5.23"):
    root = profile_tree({"p.yaml": f"extends: {BASE_PROFILE}\n" + on_version(version) + body})
    monkeypatch.chdir(root)
    return cli("validate", "p.yaml")


def test_manifests_cover_the_schema_versions():
    from generator.profile.validate import schema

    enum = schema()["properties"]["sglang"]["properties"]["version"]["enum"]
    assert supported_versions() == enum


@pytest.mark.parametrize(
    "version,prefill,backend,fusion",
    [
        ("0.5.10", "--nsa-prefill-backend", "nsa", ["--enable-flashinfer-allreduce-fusion"]),
        (
            "0.5.23",
            "--dsa-prefill-backend",
            "dsa",
            ["--flashinfer-allreduce-fusion-backend", "auto"],
        ),
    ],
)
def test_profile_intent_in_each_versions_dialect(profile_tree, version, prefill, backend, fusion):
    root = profile_tree({"p.yaml": f"extends: {BASE_PROFILE}\n" + on_version(version)})
    args = server_args(load(root / "p.yaml").deployment)
    assert args[args.index(prefill) + 1] == "trtllm"
    assert args[args.index("--attention-backend") + 1] == backend
    start = args.index(fusion[0])
    assert args[start : start + len(fusion)] == fusion


CASES = [
    (
        "renamed-flag",
        "0.5.23",
        "  extra_args: [--nsa-prefill-backend, trtllm]\n",
        "p.yaml:7:16: [sglang-flag] sglang.extra_args[0]: SGLang 0.5.23 has no flag "
        "--nsa-prefill-backend (--nsa-prefill-backend was renamed --dsa-prefill-backend in 0.5.13",
    ),
    (
        "newer-flag-on-older-version",
        "0.5.10",
        "  extra_args: [--dsa-topk-backend, torch]\n",
        "SGLang 0.5.10 has no flag --dsa-topk-backend (--dsa-topk-backend exists in SGLang 0.5.17, "
        "0.5.23)",
    ),
    (
        "misspelt-flag",
        "0.5.23",
        "  extra_args: [--disable-radix-cahce]\n",
        "has no flag --disable-radix-cahce (did you mean --disable-radix-cache?)",
    ),
    (
        "value-not-offered",
        "0.5.10",
        "  attention:\n    sparse_prefill_backend: flashinfer_sparse_mla\n",
        "p.yaml:8:29: [sglang-flag] sglang.attention.sparse_prefill_backend: SGLang 0.5.10: "
        "--nsa-prefill-backend 'flashinfer_sparse_mla' is not offered by this SGLang",
    ),
    (
        "parser-not-offered",
        "0.5.10",
        "  reasoning_parser: glm46\n",
        "--reasoning-parser 'glm46' is not offered by this SGLang; choose one of",
    ),
    (
        "integer-expected",
        "0.5.23",
        "  extra_args: [--max-total-tokens, lots]\n",
        "--max-total-tokens expects an integer such as 131072 or 128k, got 'lots'",
    ),
    (
        "switch-with-value",
        "0.5.23",
        "  extra_args: [--disable-radix-cache, 'yes']\n",
        "--disable-radix-cache is a switch and takes no value, got ['yes']",
    ),
    (
        "missing-value",
        "0.5.23",
        "  extra_args: [--log-level]\n",
        "--log-level takes exactly one value, got 0",
    ),
    (
        "conflict-with-field",
        "0.5.23",
        "  extra_args: [--tensor-parallel-size, '4']\n",
        "sglang.extra_args[0]: --tensor-parallel-size is already set by sglang.tensor_parallel_size",
    ),
    (
        "ambiguous-abbreviation",
        "0.5.23",
        "  extra_args: [--speculative-num, '3']\n",
        "ambiguous flag --speculative-num: could be --speculative-num-draft-tokens, --speculative-num-steps",
    ),
]


@pytest.mark.parametrize("version,body,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_flags_are_errors(profile_tree, cli, monkeypatch, version, body, expected):
    code, _, err = validate(profile_tree, cli, monkeypatch, body, version)
    assert code == 1
    assert expected in err, err


def test_deprecated_flag_is_a_warning(profile_tree, cli, monkeypatch):
    body = "  enable_flashinfer_allreduce_fusion: false\n  extra_args: [--enable-flashinfer-allreduce-fusion]\n"
    code, out, err = validate(profile_tree, cli, monkeypatch, body)
    assert code == 0
    assert "warning: [sglang-flag-deprecated]" in err
    assert "--enable-flashinfer-allreduce-fusion is deprecated in SGLang 0.5.23" in err


def test_abbreviation_is_accepted_with_a_warning(profile_tree, cli, monkeypatch):
    code, _, err = validate(
        profile_tree, cli, monkeypatch, "  extra_args: [--disable-radix-cach]\n"
    )
    assert code == 0
    assert "--disable-radix-cach is an abbreviation of --disable-radix-cache" in err


def test_env_var_the_version_dropped_is_a_warning(profile_tree, cli, monkeypatch):
    code, _, err = validate(
        profile_tree, cli, monkeypatch, "  env:\n    SGLANG_ENABLE_SPEC_V2: '1'\n", "0.5.23"
    )
    assert code == 0
    assert "[sglang-env-unknown] sglang.env.SGLANG_ENABLE_SPEC_V2" in err


def test_good_extra_args_pass(profile_tree, cli, monkeypatch):
    body = (
        "  extra_args: [--log-level, debug, --chunked-prefill-size, '-1', --disable-radix-cache]\n"
    )
    code, _, err = validate(profile_tree, cli, monkeypatch, body)
    assert code == 0, err


def test_sglang_args_command_prints_the_flag_set(cli):
    code, out, _ = cli("sglang-args", "prod")
    assert code == 0
    args = json.loads(out)
    assert args[:2] == ["--model-path", load("prod").deployment.model_dir]
    assert "--kv-cache-dtype" in args
