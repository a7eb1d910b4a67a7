"""Benchmark against the local fake SGLang server with known TTFT/TPOT (see tests/fake_sglang.py)."""

from __future__ import annotations

import argparse
import json
import os
import socket
from pathlib import Path
from unittest import mock

import pytest

from generator.operate import bench
from tests.fake_sglang import DEFAULT_KEY, DEFAULT_MODEL, FakeSGLang

TTFT_MS, TPOT_MS, OUTPUT_TOKENS = 100.0, 10.0, 20
OVERHEAD_MS = 100.0
REQUIRED_KEYS = {
    "concurrency",
    "ttft_ms_p50",
    "ttft_ms_p99",
    "tpot_ms_p50",
    "tpot_ms_p99",
    "itl_ms_p50",
    "itl_ms_p99",
    "e2e_ms_p50",
    "e2e_ms_p99",
    "requests_per_s",
    "output_tokens_per_s",
    "num_requests",
    "failed",
}


def _cli(argv: list[str], key: str | None = None) -> int:
    """Run the command; `key` goes where users put it, the environment (API_KEY)."""
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    with mock.patch.dict(os.environ, {} if key is None else {"API_KEY": key}):
        return bench.main(parser.parse_args(argv))


def _run(url: str, out_dir: Path, **kw: object) -> dict:
    args: dict = dict(requests_per_level=4, input_tokens=64, output_tokens=OUTPUT_TOKENS)
    args.update(kw)
    return bench.run_bench(url, DEFAULT_KEY, DEFAULT_MODEL, [1, 4], out_dir=out_dir, **args)


def test_measures_configured_ttft_and_tpot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeSGLang(ttft_s=TTFT_MS / 1000, tpot_s=TPOT_MS / 1000) as url:
        result = _run(url, tmp_path)
    e2e_ms = TTFT_MS + (OUTPUT_TOKENS - 1) * TPOT_MS
    for level in result["levels"]:
        assert REQUIRED_KEYS <= level.keys()
        assert level["failed"] == 0 and level["num_requests"] == 4
        assert level["total_output_tokens"] == 4 * OUTPUT_TOKENS  # usage honoured ignore_eos
        # TTFT and E2E carry a fixed client + loopback cost (5-16 ms idle, up to ~80 ms at c=4 with
        # both cores busy elsewhere), so they get an additive allowance. The server cannot send the
        # first token sooner than TTFT_MS, so the lower bounds are exact: a TTFT taken from the
        # empty role chunk (~5 ms) or at the end of the stream (~290 ms) fails. TPOT/ITL: +-25%.
        assert TTFT_MS <= level["ttft_ms_p50"] <= TTFT_MS + OVERHEAD_MS
        assert e2e_ms <= level["e2e_ms_p50"] <= e2e_ms + OVERHEAD_MS
        assert 0.75 * TPOT_MS <= level["tpot_ms_p50"] <= 1.25 * TPOT_MS
        assert 0.75 * TPOT_MS <= level["itl_ms_p50"] <= 1.25 * TPOT_MS
        expected_rps = level["concurrency"] / (e2e_ms / 1000)
        assert 0.6 * expected_rps <= level["requests_per_s"] <= 1.05 * expected_rps
        rps = level["requests_per_s"]
        assert level["output_tokens_per_s"] == pytest.approx(rps * OUTPUT_TOKENS, rel=0.01)
    comp = result["comparison"]
    assert comp["tpot_ms"]["snapshot"] == bench.SNAPSHOT_TPOT_MS
    assert comp["tpot_ms"]["ratio"] == pytest.approx(
        result["levels"][0]["tpot_ms_p50"] / bench.SNAPSHOT_TPOT_MS, rel=0.01
    )
    out = capsys.readouterr().out
    assert "vs guide snapshot" in out and "TPOT p50" in out


def test_writes_json_and_png(tmp_path: Path) -> None:
    out_dir = tmp_path / "bench"
    with FakeSGLang(ttft_s=0.01, tpot_s=0.002) as url:
        result = _run(url, out_dir, requests_per_level=2, output_tokens=8)
    files = {k: Path(v) for k, v in result["files"].items()}
    assert files["json"].name.startswith("bench-") and files["latest_json"].name == "latest.json"
    for key in ("json", "latest_json"):
        data = json.loads(files[key].read_text())
        assert [lv["concurrency"] for lv in data["levels"]] == [1, 4]
        assert all(REQUIRED_KEYS <= lv.keys() for lv in data["levels"])
        assert data["snapshot"] == {
            "ttft_ms": 246.0,
            "tpot_ms": 7.7,
            "output_tokens_per_s": 4600.0,
            "replica_hour_usd": 50.0,  # 8 x B200 at $6.25 per GPU-hour
            "usd_per_million_output_tokens": 3.019,
        }
    for key in ("png", "latest_png"):
        png = files[key].read_bytes()
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 1000
    assert not [p for p in out_dir.iterdir() if p.name.endswith(".tmp")]


def test_counts_chunks_without_usage_and_with_thinking(tmp_path: Path) -> None:
    with FakeSGLang(no_usage=True) as url:
        result = _run(url, tmp_path, requests_per_level=2, output_tokens=12, thinking=True)
    for level in result["levels"]:
        assert level["failed"] == 0
        assert level["total_output_tokens"] == level["num_requests"] * 12
        assert level["mean_prompt_tokens"] is None


def test_make_prompt_is_deterministic_and_sized() -> None:
    a, b = bench.make_prompt("c1-r0", 500), bench.make_prompt("c1-r1", 500)
    assert a == bench.make_prompt("c1-r0", 500) and a != b
    assert 500 * bench.CHARS_PER_TOKEN <= len(a) <= 500 * bench.CHARS_PER_TOKEN + 20


def test_cli_bad_key_and_unreachable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--model", "m", "--out-dir", str(tmp_path), "--concurrency", "1", "--requests", "1"]
    with FakeSGLang() as url:
        assert _cli(["--url", url] + base, key="wrong") == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("error: warm-up request")
    assert "HTTP 401: Unauthorized (API key rejected" in err

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert _cli(["--url", f"http://127.0.0.1:{port}"] + base, key="k") == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "cannot connect" in err
    assert list(tmp_path.iterdir()) == []


def test_cli_rejects_bad_concurrency(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _cli(["--url", "http://x", "--model", "m", "--concurrency", "0,8"])
    assert "positive integers" in capsys.readouterr().err


def test_sends_the_modal_proxy_token_when_given(tmp_path: Path) -> None:
    token = ("wk-bench", "ws-bench")
    headers = {"Modal-Key": token[0], "Modal-Secret": token[1]}
    with FakeSGLang(modal_proxy_token=token) as url:
        with pytest.raises(bench.BenchError, match="warm-up"):
            _run(url, tmp_path / "a", requests_per_level=1)
        result = _run(url, tmp_path / "b", requests_per_level=1, proxy_headers=headers)
    assert all(level["failed"] == 0 for level in result["levels"])


def test_result_names_the_gpu_type_that_served(tmp_path: Path) -> None:
    """A profile with fallback GPUs: the result says which type's flag set /server_info shows."""
    sets = {"B200:8": ["--dsa-decode-backend", "trtllm"], "H200:8": ["--dsa-decode-backend", "fa3"]}
    with FakeSGLang(server_info={"dsa_decode_backend": "fa3"}) as url:
        result = _run(url, tmp_path, flag_sets=sets)
    assert result["served_gpu"] == "H200:8"
    assert json.loads((tmp_path / "latest.json").read_text())["served_gpu"] == "H200:8"
