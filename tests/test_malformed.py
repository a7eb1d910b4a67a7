"""Malformed profiles: each gets a located message, exit code 1, and no rendered file."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import BASE_PROFILE

BASE = f"extends: {BASE_PROFILE}\n"

# (case id, {file: text}, substrings the error output must contain)
CASES = [
    (
        "yaml-syntax",
        {"p.yaml": BASE + "autoscaling: {min_containers: 0, max_containers: 3\n"},
        ["p.yaml:3:1: invalid YAML", "expected ',' or '}'"],
    ),
    (
        "yaml-bad-indent",
        {"p.yaml": BASE + "autoscaling:\n  min_containers: 0\n max_containers: 3\n"},
        ["p.yaml:4:2: invalid YAML"],
    ),
    (
        "python-object-tag",
        {"p.yaml": BASE + "app: !!python/object/apply:os.system ['echo hi']\n"},
        ["p.yaml:2:6: app: a python/object/apply:os.system value is not accepted"],
    ),
    (
        "wrong-type",
        {"p.yaml": BASE + "autoscaling:\n  max_containers: three\n"},
        ['p.yaml:3:19: autoscaling.max_containers: expected integer, got string "three"'],
    ),
    (
        "misspelt-key",
        {"p.yaml": BASE + "autoscaling:\n  max_container: 3\n"},
        ["p.yaml:3:3: autoscaling.max_container: unknown field", "did you mean max_containers?"],
    ),
    (
        "unknown-top-level-key",
        {"p.yaml": BASE + "autoscale:\n  min_containers: 1\n"},
        ["p.yaml:2:1: autoscale: unknown field 'autoscale'", "did you mean autoscaling?"],
    ),
    (
        "out-of-range",
        {"p.yaml": BASE + "autoscaling:\n  scaledown_window: 5000\n"},
        ["p.yaml:3:21: autoscaling.scaledown_window: expected a value <= 3600, got integer 5000"],
    ),
    (
        "negative",
        {"p.yaml": BASE + "autoscaling:\n  min_containers: -1\n"},
        ["p.yaml:3:19: autoscaling.min_containers: expected a value >= 0"],
    ),
    (
        "fraction-too-large",
        {"p.yaml": BASE + "sglang:\n  mem_fraction_static: 1.5\n"},
        ["p.yaml:3:24: sglang.mem_fraction_static: expected a value <= 0.98, got number 1.5"],
    ),
    (
        "missing-required",
        {"p.yaml": "app:\n  name: x\n"},
        ["p.yaml:1:1: model: missing required field 'model'", "missing required field 'gpu'"],
    ),
    (
        "missing-nested-required",
        {"p.yaml": BASE + "volumes:\n  weights:\n    mount_path: /w\n    nam: w\n"},
        ["p.yaml:5:5: volumes.weights.nam: unknown field 'nam' (did you mean name?)"],
    ),
    (
        "extends-cycle",
        {"a.yaml": "extends: b\n", "b.yaml": "extends: a\n"},
        ["`extends` cycle: a -> b -> a"],
    ),
    (
        "extends-missing-parent",
        {"p.yaml": "extends: scale-to-zer\n", "scale-to-zero.yaml": BASE_PROFILE.read_text()},
        ["p.yaml:1:10: extends: profile not found: scale-to-zer", "did you mean scale-to-zero?"],
    ),
    (
        "enum-did-you-mean",
        {"p.yaml": BASE + "sglang:\n  kv_cache_dtype: bfloat61\n"},
        ["p.yaml:3:19: sglang.kv_cache_dtype: expected one of", "did you mean bfloat16?"],
    ),
    (
        "gpu-type",
        {"p.yaml": BASE + "gpu:\n  type: B300\n"},
        ['p.yaml:3:9: gpu.type: expected one of "B200", "H200", "H100"'],
    ),
    (
        "bad-revision",
        {"p.yaml": BASE + "model:\n  revision: 'v1 final'\n"},
        ['p.yaml:3:13: model.revision: string "v1 final" does not match'],
    ),
    (
        "duplicate-key",
        {"p.yaml": BASE + "app:\n  name: a\n  name: b\n"},
        ["p.yaml:4:3: app.name: duplicate key 'name'"],
    ),
    (
        "latest-tag",
        {"p.yaml": BASE + "images:\n  serve:\n    tag: latest\n"},
        ["p.yaml:4:10: [latest-image-tag] images.serve.tag:", "allow_latest"],
    ),
    (
        "image-version-mismatch",
        {"p.yaml": BASE + "sglang:\n  version: '0.5.10'\n"},
        ["[image-version-mismatch] images.serve.tag:", "sglang.version=0.5.10"],
    ),
    (
        "not-a-mapping",
        {"p.yaml": "- app\n- model\n"},
        ["p.yaml:1:1: a profile must be a mapping of fields, got list"],
    ),
    (
        "env-name",
        {"p.yaml": BASE + "env:\n  my_var: '1'\n"},
        ['p.yaml:3:3: env: string "my_var" does not match ^[A-Z_][A-Z0-9_]*$'],
    ),
    (
        "relative-mount",
        {"p.yaml": BASE + "volumes:\n  weights:\n    mount_path: model-cache\n"},
        ['p.yaml:4:17: volumes.weights.mount_path: string "model-cache" does not match'],
    ),
]


@pytest.mark.parametrize("files,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_profile(files, expected, profile_tree, cli, monkeypatch):
    root = profile_tree(files)
    monkeypatch.chdir(root)
    target = next(iter(files))
    output = root / "out" / "modal_app.py"
    code, out, err = cli("render", target, "-o", str(output))
    assert code == 1, (out, err)
    assert "Traceback" not in err
    for text in expected:
        assert text in err, f"{text!r} not in:\n{err}"
    assert not output.exists() and not (root / "out").exists()
    code, _, err2 = cli("validate", target)
    assert code == 1 and expected[0] in err2


def test_all_problems_reported_at_once(profile_tree, cli, monkeypatch):
    root = profile_tree(
        {"p.yaml": BASE + "autoscaling:\n  max_containers: 0\n  scaledown: 5\ngpu:\n  count: 9\n"}
    )
    monkeypatch.chdir(root)
    code, _, err = cli("validate", "p.yaml")
    assert code == 1
    assert "p.yaml:3:19: autoscaling.max_containers" in err
    assert "p.yaml:4:3: autoscaling.scaledown: unknown field" in err
    assert "p.yaml:6:10: gpu.count: expected a value <= 8" in err


def test_value_located_in_parent_profile(profile_tree, cli, monkeypatch):
    """A bad value inherited from a parent is reported where the parent set it."""
    root = profile_tree(
        {"base.yaml": BASE + "concurrency:\n  max_inputs: 0\n", "child.yaml": "extends: base\n"}
    )
    monkeypatch.chdir(root)
    code, _, err = cli("validate", "child.yaml")
    assert code == 1
    assert "base.yaml:3:15: concurrency.max_inputs" in err


def test_stale_output_is_kept_whole_on_failure(profile_tree, cli, monkeypatch):
    """A failed render leaves an earlier good file untouched, never half-written."""
    root = profile_tree({"good.yaml": BASE, "bad.yaml": BASE + "gpu:\n  count: 0\n"})
    monkeypatch.chdir(root)
    output = root / "app.py"
    assert cli("render", "good.yaml", "-o", str(output))[0] == 0
    before = output.read_bytes()
    assert cli("render", "bad.yaml", "-o", str(output))[0] == 1
    assert output.read_bytes() == before
    assert [p.name for p in root.iterdir() if p.name.startswith(".app.py")] == []


def test_no_traceback_from_the_real_command(profile_tree):
    root = profile_tree({"p.yaml": BASE + "autoscaling:\n  max_container: 3\n"})
    result = subprocess.run(
        [sys.executable, "-m", "generator", "validate", str(root / "p.yaml")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "did you mean max_containers?" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("args", [[], ["render"], ["frobnicate"], ["render", "prod", "--bogus"]])
def test_usage_errors_exit_2(cli, args):
    assert cli(*args)[0] == 2


def test_unknown_profile_name(cli):
    code, _, err = cli("render", "prdo")
    assert code == 1
    assert "profile not found: prdo (did you mean prod?)" in err
