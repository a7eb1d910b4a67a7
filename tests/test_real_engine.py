"""The real-engine lane's parts that need no GPU (docs/real-engine.md).

The lane itself runs on a GPU machine with the real SGLang 0.5.17 (`make real-engine`). Here: its
profile renders through the normal pipeline into flags SGLang 0.5.17's manifest accepts; the
catalog's tiny model is the one scripts/real_engine/tiny_model.py writes; the wheel set's list,
trimming, packing and manifest; and the runner's whole sequence (start, key, smoke, bench,
drain, crash) against the tests' stand-in SGLang, so a broken runner fails here, not on the GPU.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import function_settings, load_modal_app

from generator import REPO_ROOT
from generator.catalog import entry
from generator.pipeline import load, render_to_file

sys.path.insert(0, str(REPO_ROOT / "scripts" / "real_engine"))
import run as lane_run  # noqa: E402
import tiny_model  # noqa: E402
import wheelset  # noqa: E402

PROFILE = "tiny-h100"


def _argv(loaded) -> dict[str, list[str]]:
    return {s.deployment.gpu.type: s.argv for s in loaded.flag_sets}


def test_profile_pins_0_5_17_and_the_flags_the_trimmed_wheels_can_run():
    loaded = load(PROFILE)
    assert loaded.deployment.sglang.version == wheelset.SGLANG_VERSION == "0.5.17"
    sets = _argv(loaded)
    assert set(sets) == {"H100", "H200"}
    for argv in sets.values():
        pairs = dict(zip(argv, [*argv[1:], ""], strict=True))
        # What is left in the trimmed sglang-kernel / xgrammar (wheelset.WHEELS `drop`).
        assert pairs["--attention-backend"] == "triton"
        assert pairs["--moe-runner-backend"] == "triton"
        assert "--grammar-backend" not in pairs  # xgrammar, SGLang's default: JSON mode is served
        assert pairs["--load-format"] == "dummy"
        assert pairs["--context-length"] == "4096"
        assert pairs["--tool-call-parser"] == "qwen"  # not the deprecated qwen25


def test_profile_renders_through_the_normal_pipeline(tmp_path):
    """The rendered app, imported with the real modal: the version, the dummy loader in each
    GPU type's flag set, and a Server class (enter/exit: the drain path the lane checks)."""
    app = load_modal_app(render_to_file(load(PROFILE), tmp_path / "modal_app.py"))
    assert app.SGLANG_VERSION == "0.5.17"
    for flags in app.SGLANG_FLAGS.values():
        assert ["--load-format", "dummy"] in [list(f) for f in flags]
    assert function_settings(app.SGLangServer)["is_server"]


def test_catalog_entry_is_the_model_the_lane_writes():
    recorded = entry("local/tiny-qwen3-moe").config
    written = tiny_model.config("qwen3_moe", {"<|endoftext|>": 0, "<|im_end|>": 2})
    for key, value in recorded.items():
        assert written[key] == value, key
    assert recorded["architectures"] == ["Qwen3MoeForCausalLM"]


def test_wheel_set_is_one_pin_per_package_and_names_why():
    names = [wheelset.canonical(w.name) for w in wheelset.WHEELS]
    assert len(names) == len(set(names))
    assert all(w.why for w in wheelset.WHEELS)
    pins = {w.name: w.version for w in wheelset.WHEELS}
    assert pins["sglang"] == "0.5.17" and pins["modal"] == "1.6.4"
    assert {w.name for w in wheelset.WHEELS if w.drop} == {"sglang-kernel", "xgrammar"}


def _wheel(path: Path, members: dict[str, bytes]) -> None:
    record = "".join(f"{n},sha256=x,{len(d)}\n" for n, d in members.items())
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
        z.writestr("pkg-1.0.dist-info/RECORD", record + "pkg-1.0.dist-info/RECORD,,\n")


def test_trim_drops_the_files_and_their_record_lines(tmp_path):
    src, dst = tmp_path / "pkg-1.0-py3-none-any.whl", tmp_path / "slim.whl"
    _wheel(src, {"pkg/keep.so": b"k" * 100, "pkg/flash_ops.abi3.so": b"f" * 1000})
    dropped = wheelset.trim(src, dst, (r"pkg/flash_ops\.abi3\.so$",))
    assert dropped == ["pkg/flash_ops.abi3.so"]
    with zipfile.ZipFile(dst) as z:
        assert "pkg/flash_ops.abi3.so" not in z.namelist()
        record = z.read("pkg-1.0.dist-info/RECORD").decode()
    assert "flash_ops" not in record and "pkg/keep.so" in record
    assert wheelset.slim_name(src) == "pkg-1.0-1slim-py3-none-any.whl"


def test_trim_refuses_a_pattern_that_matches_nothing(tmp_path):
    src = tmp_path / "pkg-1.0-py3-none-any.whl"
    _wheel(src, {"pkg/keep.so": b"k"})
    with pytest.raises(SystemExit, match="layout changed"):
        wheelset.trim(src, tmp_path / "slim.whl", (r"pkg/gone\.so$",))


def test_pack_keeps_every_part_under_the_limit():
    mib = wheelset.MIB
    sizes = {"sglang": 21 * mib, "kernel": 14 * mib, "flashinfer": 14 * mib, "xgrammar": 13 * mib}
    sizes |= {"transformers": 11 * mib, "torchvision": 7 * mib}
    sizes |= {f"small{i}": mib // 2 for i in range(30)}
    parts = wheelset.pack(sizes, 58 * mib)
    assert sorted(n for p in parts for n in p) == sorted(sizes)
    assert all(sum(sizes[n] for n in p) <= 58 * mib for p in parts)
    assert len(parts) == 2
    with pytest.raises(SystemExit, match="over the 10 MiB part size"):
        wheelset.pack({"big": 11 * mib}, 10 * mib)


def test_manifest_records_each_file_with_its_part_and_checksum(tmp_path):
    files = {}
    for name, data in (("a-1-py3-none-any.whl", b"aaa"), ("b-2-py3-none-any.whl", b"bbbb")):
        (tmp_path / name).write_bytes(data)
        files[name] = tmp_path / name
    data = wheelset.manifest(files, [["a-1-py3-none-any.whl"], ["b-2-py3-none-any.whl"]])
    assert data["sglang_version"] == "0.5.17"
    rows = {f["file"]: f for f in data["files"]}
    assert rows["b-2-py3-none-any.whl"] == {
        "file": "b-2-py3-none-any.whl",
        "part": 2,
        "bytes": 4,
        "sha256": hashlib.sha256(b"bbbb").hexdigest(),
    }
    assert "sglang-kernel==0.4.5" in data["trimmed"]


def test_the_runner_passes_its_whole_sequence_against_the_stand_in(tmp_path):
    """scripts/real_engine/run.py --engine fake: two container starts, key, smoke, both bench
    workloads, the drain and the crash, as on the GPU; every check must pass (the stand-in keeps
    the key out of its lines and has no random-weights limits) but plan_kv_pool, `info` here:
    the stand-in sizes no KV pool."""
    app = tmp_path / "modal_app.py"
    render_to_file(load(PROFILE), app)
    local = tmp_path / "local-disk"
    local.mkdir()
    env = {**os.environ, "TMPDIR": str(local), "FAKE_SGLANG_TPOT_S": "0.001"}
    out = tmp_path / "report"
    argv = [sys.executable, str(REPO_ROOT / "scripts" / "real_engine" / "run.py"), "--engine"]
    argv += ["fake", "--app", str(app), "--profile", PROFILE, "--out", str(out)]
    argv += ["--healthy-within", "60", "--drain-tokens", "3000"]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    report = json.loads((out / "report.json").read_text())
    by_name = {c["name"]: c for c in report["checks"]}
    expected = {"start_cold", "cold_start_timeline", "api_key_not_logged", "api_key_enforced"}
    expected |= {"bench_sweep", "bench_agent_context_error", "bench_agent", "drain_on_sigterm"}
    expected |= {"start_warm", "crash_ends_container", "smoke.tool_call", "smoke.auth"}
    expected |= {"api_key_not_logged_after_run"}
    assert expected <= set(by_name), sorted(by_name)
    failed = {n: c["detail"] for n, c in by_name.items() if c["status"] not in ("pass", "info")}
    assert not failed, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert by_name["plan_kv_pool"]["status"] == "info"  # the stand-in sizes no KV pool
    assert proc.returncode == 0
    assert (out / "report.txt").read_text().startswith("real-engine lane: PASS")
    drain = by_name["drain_on_sigterm"]["figures"]
    assert drain["request"]["finish_reason"] == "length" and drain["left_running"] == []
    assert "--system-tokens" in by_name["bench_agent_context_error"]["detail"]


# `make smoke`'s items as the real SGLang 0.5.17 answered them on the lane's H100 with random
# weights (docs/real-engine.md, first run), and how the lane reports each.
REAL_SMOKE_ITEMS = [
    ("chat", "pass", "64 tokens: '44444444444444444444444444444444'", "pass"),
    ("tool_call", "fail", "finish_reason='length', 0 tool_calls, content='4<|endoftext|>4'", "cannot-pass"),
    ("typed_tool_call", "fail", "no streamed book_table call in 514 chunks (finish='length')", "cannot-pass"),
    ("json_mode", "fail", "HTTP 400: Grammar-based generation (json_schema, regex, ebnf, structural_tag) is not supported when the server is launched with --grammar-backend none", "fail"),
    ("json_mode", "fail", "JSON-mode answer does not parse: '{ \"city\": \"4444'", "cannot-pass"),
    ("json_mode", "pass", "parses, matches its schema: {}", "pass"),
    ("stream_reasoning", "pass", "74 chunks: 208 reasoning chars apart from 0 content chars", "pass"),
    ("auth", "fail", "no key -> HTTP 200", "fail"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "status", "detail", "reported"), REAL_SMOKE_ITEMS)
def test_lane_reports_what_random_weights_cannot_pass_and_keeps_real_failures(
    name, status, detail, reported
):
    """A check that needs a real model is `cannot-pass` (reported with why, never dropped); a
    refusal by the server (json_mode's HTTP 400 under --grammar-backend none, the first run's
    profile) and a broken auth stay failures; the stand-in's items are taken as they are."""
    item = {"name": name, "status": status, "detail": detail}
    check = lane_run.smoke_check(item, "real")
    assert (check.name, check.status) == (f"smoke.{name}", reported)
    assert detail in check.detail
    if reported == "cannot-pass" or name in ("stream_reasoning", "json_mode") and status == "pass":
        assert "note:" in check.detail or "random weights" in check.detail
    assert lane_run.smoke_check(item, "fake").status == ("pass" if status == "pass" else "fail")


@pytest.fixture(scope="module")
def planned_gpu_types() -> list[dict]:
    """`make plan PROFILE=tiny-h100 --json`'s gpu_types, as the runner reads them."""
    from generator.operate import plan

    text, _ = plan.run(PROFILE, 0.3, as_json=True)
    return json.loads(text)["gpu_types"]


@pytest.mark.parametrize(
    ("sglang_tokens", "status"),
    [(10_268_848, "pass"), (10_346_432, "pass"), (9_000_000, "fail"), (0, "fail")],
)
def test_lane_compares_plans_kv_pool_with_sglangs(planned_gpu_types, sglang_tokens, status):
    """plan's KV tokens for the GPU that served against SGLang's max_total_num_tokens, 1%
    bound; 10,268,848 is what SGLang 0.5.17 sized on the lane's H100 at mem 0.5."""
    check = lane_run.kv_pool_check(planned_gpu_types, "H100:1", sglang_tokens)
    assert check.status == status, check.detail
    assert lane_run.kv_pool_check(planned_gpu_types, "B200:8", 10_268_848).status == "fail"
