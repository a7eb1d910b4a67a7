"""The shipped SGLang flag manifests are what the real sglang packages say.

Slow (but run by default): each supported version's real `sglang` wheel is installed into a
throwaway venv under .cache/sglang/<version>/venv by scripts/sglang_manifest.py (about 1.5
minutes for both versions from scratch on a 2-core machine, then cached), and the manifest is
re-extracted from `ServerArgs.add_cli_args(argparse.ArgumentParser())`.
"""

from __future__ import annotations

import concurrent.futures
import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))

import sglang_manifest  # noqa: E402
from sglang_manifest import (  # noqa: E402
    SUPPORTED_VERSIONS,
    check_manifest,
    ensure_envs,
    manifest_path,
    real_parse,
)

slow = pytest.mark.slow  # needs the real sglang wheels (PyPI); cached after the first run

ARG_KEYS = {
    "option_strings",
    "dest",
    "action",
    "type",
    "nargs",
    "choices",
    "default",
    "required",
    "deprecated",
    "replaced_by",
    "error_when_used",
    "help",
}
TOP_KEYS = {
    "schema_version",
    "sglang_version",
    "prog",
    "allow_abbrev",
    "env_vars",
    "deprecated_env_vars",
    "args",
}

# A GLM-5.1-FP8 launch as the cookbook recipe spells it, in each version's own flag names.
GLM_COMMON = [
    "--model-path", "zai-org/GLM-5.1-FP8",
    "--revision", "main",
    "--trust-remote-code",
    "--tp", "8",
    "--kv-cache-dtype", "bfloat16",
    "--mem-fraction-static", "0.9",
    "--context-length", "202752",
    "--max-running-requests", "64",
    "--chunked-prefill-size", "8192",
    "--served-model-name", "glm-5.1",
    "--reasoning-parser", "glm45",
    "--tool-call-parser", "glm47",
    "--speculative-algorithm", "EAGLE",
    "--speculative-num-steps", "3",
    "--speculative-eagle-topk", "1",
    "--speculative-num-draft-tokens", "4",
    "--moe-runner-backend", "flashinfer_trtllm",
    "--enable-metrics",
    "--api-key", "secret",
    "--watchdog-timeout", "1800",
    "--host", "0.0.0.0",
    "--port", "8000",
]  # fmt: skip
GLM_ARGV = {
    "0.5.10": GLM_COMMON
    + [
        "--attention-backend", "nsa",
        "--nsa-prefill-backend", "flashmla_sparse",
        "--nsa-decode-backend", "trtllm",
        "--enable-flashinfer-allreduce-fusion",
    ],
    "0.5.23": GLM_COMMON
    + [
        "--attention-backend", "dsa",
        "--dsa-prefill-backend", "flashmla_sparse",
        "--dsa-decode-backend", "trtllm",
    ],
}  # fmt: skip


def _load(version: str) -> dict:
    return json.loads(manifest_path(version).read_text(encoding="utf-8"))


def _abbrev(manifest: dict, prefix: str) -> list[str]:
    """Options a `prefix` would abbreviate (argparse allow_abbrev; exact match wins)."""
    opts = [o for a in manifest["args"] for o in a["option_strings"]]
    if prefix in opts:
        return [prefix]
    return sorted(o for o in opts if o.startswith(prefix))


def _by_option(manifest: dict) -> dict[str, dict]:
    return {opt: arg for arg in manifest["args"] for opt in arg["option_strings"]}


# ---------------------------------------------------------------- shipped files, no sglang


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_manifest_is_well_formed_and_deterministic(version):
    path = manifest_path(version)
    text = path.read_text(encoding="utf-8")
    assert text.endswith("}\n")
    manifest = json.loads(text)
    assert set(manifest) == TOP_KEYS
    assert manifest["sglang_version"] == version
    assert manifest["prog"] == "sglang serve"
    firsts = [a["option_strings"][0] for a in manifest["args"]]
    assert firsts == sorted(firsts)
    assert len(set(_by_option(manifest))) == sum(len(a["option_strings"]) for a in manifest["args"])
    for arg in manifest["args"]:
        assert set(arg) == ARG_KEYS, arg
        assert all(o.startswith("-") for o in arg["option_strings"])
        assert "0x" not in json.dumps(arg["default"]), arg  # no memory addresses
    assert manifest["env_vars"] == sorted(manifest["env_vars"])
    assert all(name.startswith("SGLANG_") for name in manifest["env_vars"])
    # the file is exactly what the extractor's serializer produces
    assert json.dumps(manifest, indent=1, sort_keys=True, ensure_ascii=False) + "\n" == text


def test_dsa_nsa_flag_drift():
    old, new = _by_option(_load("0.5.10")), _by_option(_load("0.5.23"))
    assert {"--nsa-prefill-backend", "--nsa-decode-backend"} <= set(old)
    assert not [o for o in old if o.startswith("--dsa-")]
    assert {"--dsa-prefill-backend", "--dsa-decode-backend"} <= set(new)
    assert "--nsa-prefill-backend" not in new and "--nsa-decode-backend" not in new
    for backend in ("--nsa-prefill-backend", "--nsa-decode-backend"):
        assert {"trtllm", "flashmla_sparse"} <= set(old[backend]["choices"])
    for backend in ("--dsa-prefill-backend", "--dsa-decode-backend"):
        assert {"trtllm", "flashmla_sparse"} <= set(new[backend]["choices"])
    # `--attention-backend nsa` is still accepted by 0.5.23 (alias of dsa)
    assert "nsa" in old["--attention-backend"]["choices"]
    assert "dsa" not in old["--attention-backend"]["choices"]
    assert {"nsa", "dsa"} <= set(new["--attention-backend"]["choices"])


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_glm_relevant_flags_present(version):
    args = _by_option(_load(version))
    kv = args["--kv-cache-dtype"]
    assert "bfloat16" in kv["choices"] and "auto" in kv["choices"]
    assert kv["default"] == "auto"
    spec = args["--speculative-algorithm"]
    if version == "0.5.10":
        assert "EAGLE" in spec["choices"]
    else:  # 0.5.23 validates the algorithm after parsing (ServerArgs); the parser takes any str
        assert spec["choices"] is None and "EAGLE" in spec["help"]
    assert "glm45" in args["--reasoning-parser"]["choices"]
    assert "glm47" in args["--tool-call-parser"]["choices"]
    assert args["--api-key"]["type"] == "str"
    assert args["--enable-metrics"]["type"] == "bool_flag"
    tp = args["--tp-size"]
    assert tp is args["--tensor-parallel-size"] and tp["type"] == "int"
    dests = {"0.5.10": "tensor_parallel_size", "0.5.17": "tp_size", "0.5.23": "tp_size"}
    assert tp["dest"] == dests[version]
    # `--tp` / `--dp` are no registered aliases: argparse takes them as unique abbreviations
    manifest = _load(version)
    assert manifest["allow_abbrev"] is True
    assert _abbrev(manifest, "--tp") == ["--tp-size"]
    assert _abbrev(manifest, "--dp") == ["--dp-size"]
    assert args["--model-path"] is args["--model"] and args["--model-path"]["required"]
    for flag, typ in {
        "--mem-fraction-static": "float",
        "--max-running-requests": "int",
        "--context-length": "human_readable_int",
        "--chunked-prefill-size": "int",
        "--speculative-num-steps": "int",
        "--speculative-eagle-topk": "int",
        "--speculative-num-draft-tokens": "int",
        "--watchdog-timeout": "float",
        "--port": "int",
        "--host": "str",
        "--revision": "str",
        "--served-model-name": "str",
        "--trust-remote-code": "bool_flag",
        "--enable-flashinfer-allreduce-fusion": "bool_flag",
    }.items():
        assert args[flag]["type"] == typ, flag
    assert "flashinfer_trtllm" in args["--moe-runner-backend"]["choices"]


def test_deprecations_and_env_vars():
    old, new = _load("0.5.10"), _load("0.5.23")
    old_args, new_args = _by_option(old), _by_option(new)
    assert not old_args["--enable-flashinfer-allreduce-fusion"]["deprecated"]
    assert new_args["--enable-flashinfer-allreduce-fusion"]["deprecated"]
    assert new_args["--enable-dp-attention"]["deprecated"]
    assert new_args["--enable-dp-attention"]["action"] == "DeprecatedStoreTrueAction"
    assert not new_args["--kv-cache-dtype"]["deprecated"]
    assert "SGLANG_ENABLE_SPEC_V2" in old["env_vars"]
    assert "SGLANG_ENABLE_SPEC_V2" not in new["env_vars"]
    assert "SGLANG_CACHE_DIR" not in old["env_vars"]
    assert "SGLANG_CACHE_DIR" in new["env_vars"]
    for manifest in (old, new):
        assert {
            "SGLANG_DG_CACHE_DIR",
            "SGLANG_ENABLE_JIT_DEEPGEMM",
            "SGLANG_JIT_DEEPGEMM_PRECOMPILE",
        } <= set(manifest["env_vars"])


def test_local_wheel_matching(tmp_path, monkeypatch):
    for name in (
        "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl",
        "numpy-2.4.6-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
        "numpy-2.4.6-cp312-cp312-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
        "idna-3.20-py3-none-any.whl",
        "psutil-7.2.2-cp36-abi3-manylinux2010_x86_64.manylinux_2_12_x86_64.whl",
        "orjson-3.12.0-cp311-cp311-win_amd64.whl",
    ):
        (tmp_path / name).write_bytes(b"")
    monkeypatch.setattr(sglang_manifest.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(sglang_manifest.sys, "version_info", (3, 11, 7, "final", 0))
    find = sglang_manifest._local_wheel
    assert find("torch==2.13.0+cpu", [tmp_path]).endswith(
        "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl"
    )
    assert find("torch==2.13.0", [tmp_path]) is None
    assert "cp311-cp311" in find("numpy==2.4.6", [tmp_path])
    assert find("IDNA==3.20", [tmp_path]).endswith("idna-3.20-py3-none-any.whl")
    assert find("psutil==7.2.2", [tmp_path]) is not None
    assert find("orjson==3.12.0", [tmp_path]) is None
    assert find("numpy==2.4.5", [tmp_path]) is None  # fmt: skip


# ---------------------------------------------------------------- the real packages (slow)

BASE = ["--model-path", "zai-org/GLM-5.1-FP8"]

# (version, argv) -> expected verdict: True (accepted) or a substring of argparse's error
REAL_CASES = {
    "glm-0.5.10": ("0.5.10", GLM_ARGV["0.5.10"], True),
    "glm-0.5.23": ("0.5.23", GLM_ARGV["0.5.23"], True),
    "new-nsa-prefill": (
        "0.5.23",
        BASE + ["--nsa-prefill-backend", "trtllm"],
        "unrecognized arguments: --nsa-prefill-backend trtllm",
    ),
    "new-nsa-decode": (
        "0.5.23",
        BASE + ["--nsa-decode-backend", "trtllm"],
        "unrecognized arguments: --nsa-decode-backend trtllm",
    ),
    "new-kv-fp8": ("0.5.23", BASE + ["--kv-cache-dtype", "fp8"], "invalid choice: 'fp8'"),
    "new-attn-nsa": ("0.5.23", BASE + ["--attention-backend", "nsa"], True),
    "new-kv-bf16": ("0.5.23", BASE + ["--kv-cache-dtype", "bf16"], True),
    "new-no-model": ("0.5.23", [], "the following arguments are required: --model-path"),
    "new-tp-dp-abbrev": ("0.5.23", BASE + ["--tp", "8", "--dp", "2"], True),
    # 0.5.23 checks the algorithm later, in ServerArgs, not in the parser
    "new-spec-any": ("0.5.23", BASE + ["--speculative-algorithm", "NOPE"], True),
    "new-fusion-deprecated": ("0.5.23", BASE + ["--enable-flashinfer-allreduce-fusion"], True),
    "new-dp-attention-deprecated": ("0.5.23", BASE + ["--enable-dp-attention"], True),
    "old-dsa-prefill": (
        "0.5.10",
        BASE + ["--dsa-prefill-backend", "trtllm"],
        "unrecognized arguments: --dsa-prefill-backend trtllm",
    ),
    "old-attn-dsa": ("0.5.10", BASE + ["--attention-backend", "dsa"], "invalid choice: 'dsa'"),
    "old-kv-bf16": ("0.5.10", BASE + ["--kv-cache-dtype", "bf16"], True),
    "old-tp-dp-abbrev": ("0.5.10", BASE + ["--tp", "8", "--dp", "2"], True),
    "old-spec-bad": (
        "0.5.10",
        BASE + ["--speculative-algorithm", "NOPE"],
        "invalid choice: 'NOPE'",
    ),
}

# every choice the shipped manifest lists for these flags must be accepted by the real parser
CHOICE_FLAGS = ("--kv-cache-dtype", "--attention-backend", "--moe-runner-backend")


def _choice_cases() -> dict[str, tuple[str, list[str], bool]]:
    cases = {}
    for version in SUPPORTED_VERSIONS:
        args = _by_option(_load(version))
        for flag in CHOICE_FLAGS:
            for choice in args[flag]["choices"]:
                cases[f"choice-{version}{flag}={choice}"] = (
                    version,
                    BASE + [flag, str(choice)],
                    True,
                )
    return cases


@pytest.fixture(scope="module")
def real_verdicts() -> dict[str, dict]:
    """Every case judged by its version's real parser: one subprocess per version, in parallel."""
    cases = {**REAL_CASES, **_choice_cases()}
    ensure_envs(SUPPORTED_VERSIONS)
    by_version: dict[str, list[str]] = {}
    for name, (version, _argv, _want) in cases.items():
        by_version.setdefault(version, []).append(name)
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(by_version)) as pool:
        futures = {
            v: pool.submit(real_parse, v, [cases[n][1] for n in names])
            for v, names in by_version.items()
        }
        out = {}
        for version, names in by_version.items():
            out.update(zip(names, futures[version].result(), strict=True))
    return out


@slow
@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_shipped_manifest_matches_real_package(version):
    ensure_envs(SUPPORTED_VERSIONS)  # both venvs built in parallel on first use
    ok, diff = check_manifest(version)
    assert ok, (
        f"generator/sglang/manifests/sglang-{version}.json is stale; regenerate with "
        f"`python scripts/sglang_manifest.py --version {version}`:\n{diff[:6000]}"
    )


@slow
@pytest.mark.parametrize("case", sorted(REAL_CASES))
def test_real_parser_verdicts(real_verdicts, case):
    _version, _argv, want = REAL_CASES[case]
    verdict = real_verdicts[case]
    if want is True:
        assert verdict["ok"], verdict
    else:
        assert not verdict["ok"] and want in verdict["error"], verdict


@slow
def test_deprecated_flags_warn_in_real_parser(real_verdicts):
    # DeprecatedStoreTrueAction warns while parsing ...
    warned = real_verdicts["new-dp-attention-deprecated"]["warnings"]
    assert any("'--enable-dp-attention' is deprecated" in w for w in warned), warned
    # ... a plain store_true whose help says "Deprecated" is silent at parse time
    assert real_verdicts["new-fusion-deprecated"]["warnings"] == []
    assert real_verdicts["glm-0.5.23"]["warnings"] == []


@slow
def test_manifest_choices_accepted_by_real_parser(real_verdicts):
    rejected = {
        n: v["error"] for n, v in real_verdicts.items() if n.startswith("choice-") and not v["ok"]
    }
    assert rejected == {}
