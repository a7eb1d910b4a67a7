"""Ground truth: the real SGLang parser of each supported version judges our flag sets.

Each version's real `sglang` package lives in a throwaway venv under .cache/sglang/ that
scripts/sglang_manifest.py creates on first use (a few minutes, then cached).
"""

from __future__ import annotations

import sys

import pytest
from conftest import SHIPPED_PROFILES

from generator import PROFILES_DIR, REPO_ROOT
from generator.pipeline import load
from generator.sglang.fallback import variants
from generator.sglang.flags import _extra_flags, server_args
from generator.sglang.versions import check_flag_set, supported_versions

sys.path.insert(0, str(REPO_ROOT / "scripts"))
from sglang_manifest import real_parse  # noqa: E402

VERSIONS = supported_versions()


def _retarget(profile_tree, name: str, version: str):
    """The shipped profile, moved to another SGLang version (the image tag follows)."""
    text = (
        f"extends: {PROFILES_DIR / name}.yaml\n"
        f"images:\n  serve:\n    tag: v{version}\n"
        f"sglang:\n  version: '{version}'\n  env: null\n"
    )
    root = profile_tree({f"{name}-{version}.yaml": text})
    return load(root / f"{name}-{version}.yaml").deployment


# Profiles of models the older pinned versions are modelled for (memory arithmetic, parsers):
# GLM-5.1's. Every other shipped profile is judged by the version it pins.
RETARGETED_MODELS = {"zai-org/GLM-5.1-FP8"}


def _profiles_for(profile_tree, version: str):
    for name in SHIPPED_PROFILES:
        own = load(PROFILES_DIR / f"{name}.yaml").deployment
        if own.sglang.version == version:
            yield name, own
        elif own.model.id in RETARGETED_MODELS:
            yield name, _retarget(profile_tree, name, version)


@pytest.mark.parametrize("version", VERSIONS)
def test_shipped_profiles_are_accepted_by_the_real_parser(profile_tree, version):
    """Every flag set of every shipped profile: one per GPU type it may start on."""
    argvs, names = [], []
    for name, deployment in _profiles_for(profile_tree, version):
        for variant in variants(deployment):
            argvs.append([*server_args(variant), "--api-key", "k"])  # added at run time
            names.append(f"{name} on {variant.gpu.type}")
    verdicts = real_parse(version, argvs)
    for name, verdict in zip(names, verdicts, strict=True):
        assert verdict["ok"], f"{name}, SGLang {version}: {verdict['error']}"
        assert verdict["warnings"] == [], f"{name}, SGLang {version}: {verdict['warnings']}"
    assert any("H200" in name for name in names)  # the fallback sets are judged too


BASE = ["--model-path", "/m", "--tp-size", "8"]
# (versions, extra argv, expected verdict): the same verdict from the real parser and ours.
ARGVS = [
    (VERSIONS, [], True),
    (VERSIONS, ["--kv-cache-dtype", "bfloat16"], True),
    (VERSIONS, ["--kv-cache-dtype", "bf17"], False),
    (VERSIONS, ["--tool-call-parser", "glm47", "--reasoning-parser", "glm45"], True),
    (VERSIONS, ["--reasoning-parser", "glm46"], False),
    (VERSIONS, ["--mem-fraction-static", "ninety"], False),
    (VERSIONS, ["--max-running-requests", "4.5"], False),
    (VERSIONS, ["--chunked-prefill-size", "-1"], True),
    (VERSIONS, ["--context-length", "128k"], True),
    (VERSIONS, ["--disable-radix-cache"], True),
    (VERSIONS, ["--disable-radix-cache", "yes"], False),
    (VERSIONS, ["--log-level"], False),
    (VERSIONS, ["--no-such-flag"], False),
    (VERSIONS, ["--speculative-num", "3"], False),
    (["0.5.10"], ["--nsa-prefill-backend", "trtllm"], True),
    (["0.5.10"], ["--dsa-prefill-backend", "trtllm"], False),
    (["0.5.10"], ["--nsa-decode-backend", "flashinfer_sparse_mla"], False),
    (["0.5.23"], ["--dsa-prefill-backend", "trtllm"], True),
    (["0.5.23"], ["--nsa-prefill-backend", "trtllm"], False),
    (["0.5.23"], ["--attention-backend", "dsa"], True),
    (["0.5.10"], ["--attention-backend", "dsa"], False),
    (["0.5.23"], ["--flashinfer-allreduce-fusion-backend", "auto"], True),
    (["0.5.10"], ["--flashinfer-allreduce-fusion-backend", "auto"], False),
    # The other families' parsers and speculative algorithm, as 0.5.23 registers them.
    (["0.5.23"], ["--reasoning-parser", "kimi_k2", "--tool-call-parser", "kimi_k2"], True),
    (["0.5.23"], ["--reasoning-parser", "minimax", "--tool-call-parser", "minimax-m2"], True),
    (["0.5.23"], ["--reasoning-parser", "minimax-append-think"], True),
    (["0.5.23"], ["--reasoning-parser", "qwen3", "--tool-call-parser", "qwen3_coder"], True),
    (["0.5.23"], ["--tool-call-parser", "minimax_m2"], False),
    (["0.5.23"], ["--speculative-algorithm", "NEXTN", "--trust-remote-code"], True),
    # The layout flags the sglang section's layout fields render, in each version's spelling.
    (VERSIONS, ["--ep-size", "8", "--moe-a2a-backend", "deepep", "--deepep-mode", "auto"], True),
    (VERSIONS, ["--moe-dense-tp-size", "1", "--dp-size", "8", "--enable-dp-attention"], True),
    (["0.5.23"], ["--attn-dp-size", "8"], True),
    (["0.5.10"], ["--attn-dp-size", "8"], False),
    # What the flag policy refuses in extra_args parses: the refusal is the policy's, not a typo's.
    (VERSIONS, ["--enable-custom-logit-processor", "--custom-weight-loader", "pkg.loader"], True),
    (
        VERSIONS,
        # The flags that join or trust another host (refused in extra_args, owned by cluster:).
        ["--nnodes", "2", "--node-rank", "1", "--dist-init-addr", "10.0.0.1:5000"]
        + ["--disaggregation-mode", "prefill", "--otlp-traces-endpoint", "collector:4317"]
        + ["--remote-instance-weight-loader-seed-instance-ip", "10.0.0.2"]
        + ["--encoder-urls", "http://10.0.0.3:8000"],
        True,
    ),
]


@pytest.mark.parametrize("version", VERSIONS)
def test_our_verdicts_match_the_real_parser(version):
    cases = [(extra, expected) for versions, extra, expected in ARGVS if version in versions]
    real = real_parse(version, [BASE + extra for extra, _ in cases])
    for (extra, expected), verdict in zip(cases, real, strict=True):
        ours = check_flag_set(_extra_flags(tuple(BASE + extra)), version)
        our_ok = not [p for p in ours if p.severity == "error"]
        assert verdict["ok"] == expected, (version, extra, verdict)
        assert our_ok == expected, (version, extra, ours)
