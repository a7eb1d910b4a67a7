"""bench's agent traffic, cost per token and cold start, against the stand-in SGLang
(tests/fake_sglang.py; with cache_report it counts cached_tokens as SGLang's
--enable-cache-report does: the prompt's prefix shared with an earlier request)."""

from __future__ import annotations

import argparse
import io
import json
import os
from pathlib import Path
from unittest import mock

import pytest

from generator.operate import bench
from tests.fake_sglang import DEFAULT_KEY, DEFAULT_MODEL, FakeSGLang


def _agent(url: str, out_dir: Path, out: io.StringIO, **kw) -> dict:
    args = dict(turns=3, system_tokens=2000, user_tokens=32, output_tokens=8, out_dir=out_dir)
    return bench.run_agent_bench(url, DEFAULT_KEY, DEFAULT_MODEL, [1, 3], out=out, **args | kw)


def test_agent_traffic_reports_ttft_per_turn_and_cache_hits(tmp_path: Path) -> None:
    out = io.StringIO()
    with FakeSGLang(cache_report=True, ttft_s=0.02) as url:
        result = _agent(url, tmp_path, out, replica_hour_usd=50.0)
    first, second = result["levels"]
    assert [t["turn"] for t in first["turns"]] == [1, 2, 3]
    assert all(t["completed"] == t["requests"] for lv in result["levels"] for t in lv["turns"])
    assert [t["requests"] for t in second["turns"]] == [3, 3, 3]
    # Turn 1 of the very first conversation has nothing cached; later turns extend their own
    # prompt and every later conversation shares the system prompt and tools.
    assert first["turns"][0]["cache_hit_rate"] == 0.0
    assert first["turns"][1]["cache_hit_rate"] > 0.8
    assert second["turns"][0]["cache_hit_rate"] > 0.8
    prompts = [t["mean_prompt_tokens"] for t in first["turns"]]
    assert prompts == sorted(prompts) and prompts[0] > 400  # turns grow on a long system prompt
    assert all(t["ttft_ms_p50"] >= 20 for lv in result["levels"] for t in lv["turns"])
    assert first["cache_note"] is None
    assert first["usd_per_million_output_tokens"] == pytest.approx(
        50 / (first["output_tokens_per_s"] * 3600) * 1e6, rel=1e-3
    )
    text = out.getvalue()
    assert "prefix-cache hit rate" in text and "cached_tokens / prompt_tokens" in text
    saved = json.loads((tmp_path / "latest-agent.json").read_text())
    assert saved["levels"] == result["levels"]


def test_a_null_prompt_tokens_details_on_a_miss_counts_as_zero_cached(tmp_path: Path) -> None:
    """SGLang 0.5.17 sends prompt_tokens_details: null on a cache miss (0.5.23 sends
    {cached_tokens: 0}): the hit rate must be the same, not the hits' alone."""
    rates = []
    for null_on_miss in (False, True):
        with FakeSGLang(cache_report=True, null_details_on_miss=null_on_miss) as url:
            result = _agent(url, tmp_path / str(null_on_miss), io.StringIO())
        rates.append([lv["cache_hit_rate"] for lv in result["levels"]])
        assert result["levels"][0]["turns"][0]["cache_hit_rate"] == 0.0
    assert rates[0] == rates[1]


def test_agent_traffic_without_cache_report_says_which_flag(tmp_path: Path) -> None:
    out = io.StringIO()
    with FakeSGLang() as url:
        result = _agent(url, tmp_path, out)
    assert result["levels"][0]["cache_hit_rate"] is None
    assert "--enable-cache-report" in result["levels"][0]["cache_note"]
    assert "--enable-cache-report" in out.getvalue()


def test_a_prompt_longer_than_the_servers_context_is_named(tmp_path: Path) -> None:
    """The real-engine run: every first turn refused with SGLang's 400, and bench said only
    "no agent turn completed"; now it names the context and the fix."""
    with FakeSGLang(context_length=1024) as url:
        with pytest.raises(bench.BenchError) as caught:
            _agent(url, tmp_path, io.StringIO())
    message = str(caught.value)
    assert message.startswith("the agent prompt is longer than the server's context (a ")
    assert "-token request, a 1,024-token context)" in message
    assert "--system-tokens 2000" in message and "sglang.context_length" in message


def test_sweep_reports_cost_per_million_tokens(tmp_path: Path) -> None:
    out = io.StringIO()
    with FakeSGLang(tpot_s=0.002) as url:
        result = bench.run_bench(
            url,
            DEFAULT_KEY,
            DEFAULT_MODEL,
            [1, 2],
            requests_per_level=2,
            input_tokens=16,
            output_tokens=16,
            out_dir=tmp_path,
            out=out,
            replica_hour_usd=50.0,
        )
    for level in result["levels"]:
        expected = 50.0 / (level["output_tokens_per_s"] * 3600) * 1e6
        assert level["usd_per_million_output_tokens"] == pytest.approx(expected, rel=1e-3)
    comp = result["comparison"]["usd_per_million_output_tokens"]
    assert comp["snapshot"] == pytest.approx(3.019, abs=0.001)  # 4,600 tok/s at $50/replica-hour
    assert "$/M out" in out.getvalue() and "= $3.02/M" in out.getvalue()


def test_sweep_without_price_has_no_cost(tmp_path: Path) -> None:
    with FakeSGLang() as url:
        result = bench.run_bench(
            url,
            DEFAULT_KEY,
            DEFAULT_MODEL,
            [1],
            requests_per_level=1,
            input_tokens=16,
            output_tokens=4,
            out_dir=tmp_path,
            out=io.StringIO(),
        )
    assert result["levels"][0]["usd_per_million_output_tokens"] is None
    assert "usd_per_million_output_tokens" not in result["comparison"]


def _cli(argv: list[str], **attrs) -> int:
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    args = parser.parse_args(argv)
    for name, value in attrs.items():
        setattr(args, name, value)
    with mock.patch.dict(os.environ, {"API_KEY": DEFAULT_KEY}):
        return bench.main(args)


def test_cold_start_measured_beside_the_estimate(capsys) -> None:
    with FakeSGLang(startup_s=5.5) as url:
        code = _cli(["--url", url, "--cold-start"], model=DEFAULT_MODEL, cold_start_estimate_s=11)
    out = capsys.readouterr().out
    assert code == 0
    line = next(x for x in out.splitlines() if x.startswith("cold start: "))
    assert "plan's estimate 11 s" in line
    ratio = float(line.rsplit("measured/estimated ", 1)[1].rstrip("x"))
    assert 0.5 <= ratio < 1.0  # 5.5 s + a poll interval, over 11 s
    assert "not a cold start" not in out


def test_cold_start_against_a_warm_endpoint_says_so(capsys) -> None:
    with FakeSGLang() as url:
        assert _cli(["--url", url, "--cold-start"], model=DEFAULT_MODEL) == 0
    out = capsys.readouterr().out
    assert "plan's estimate none" in out and "this was not a cold start" in out


def test_failing_cold_start_is_an_error(capsys) -> None:
    with FakeSGLang(startup_s=float("inf")) as url:
        code = _cli(
            ["--url", url, "--cold-start", "--cold-start-timeout", "1"], model=DEFAULT_MODEL
        )
    assert code == 1
    assert "cold start: never served: not healthy within 1s" in capsys.readouterr().err


def test_agent_workload_from_the_command_line(tmp_path: Path, capsys) -> None:
    with FakeSGLang(cache_report=True) as url:
        argv = ["--url", url, "--workload", "agent", "--concurrency", "2", "--turns", "2"]
        argv += ["--system-tokens", "256", "--output-tokens", "4", "--out-dir", str(tmp_path)]
        code = _cli(argv, model=DEFAULT_MODEL, replica_hour_usd=50.0)
    assert code == 0
    assert "agent traffic: conversations of 2 turns" in capsys.readouterr().out


@pytest.mark.parametrize(
    "error,said",
    [
        (
            "HTTP 400: The input (13156 tokens) is longer than the model's context length "
            "(4096 tokens).",
            "a 13,156-token request, a 4,096-token context",
        ),
        (
            "HTTP 400: Requested token count exceeds the model's maximum context length of 4096 "
            "tokens. You requested a total of 4160 tokens: 4096 tokens from the input messages...",
            "a 4,160-token request, a 4,096-token context",
        ),
        ("HTTP 500: The input (13156 tokens) is longer than the model's context length", ""),
        ("request timed out", ""),
    ],
)
def test_sglangs_two_context_refusals_are_recognised(error: str, said: str) -> None:
    """SGLang 0.5.23 tokenizer_manager.py words a too-long prompt two ways (the first also as
    seen from 0.5.17 in the real-engine run); only a 400 is a refusal."""
    assert bench._context_refusal([error]) == said
