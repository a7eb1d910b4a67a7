"""Smoke test against the local fake SGLang server (see tests/fake_sglang.py)."""

from __future__ import annotations

import argparse
import json
import os
import socket
import time
from pathlib import Path
from unittest import mock

import pytest

from generator.operate import smoke
from tests.fake_sglang import DEFAULT_KEY, DEFAULT_MODEL, FakeSGLang

CHECKS = [
    "health",
    "models",
    "chat",
    "stream_reasoning",
    "tool_call",
    "typed_tool_call",
    "json_mode",
    "auth",
]
PROXY_TOKEN = ("wk-test-id", "ws-test-secret")
PROXY_ENV = ("MODAL_PROXY_TOKEN_ID", "MODAL_PROXY_TOKEN_SECRET")


def _report(path: Path) -> dict:
    return json.loads(path.read_text())


def _statuses(report: dict) -> dict[str, str]:
    return {c["name"]: c["status"] for c in report["checks"]}


def _cli(argv: list[str], key: str | None = None) -> int:
    """Run the command; `key` goes where users put it, the environment (API_KEY)."""
    parser = argparse.ArgumentParser()
    smoke.add_arguments(parser)
    with mock.patch.dict(os.environ, {} if key is None else {"API_KEY": key}):
        return smoke.main(parser.parse_args(argv))


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_healthy_server_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report_path = tmp_path / "nested" / "dir" / "report.json"
    with FakeSGLang() as url:
        rc = smoke.run_smoke(url, DEFAULT_KEY, DEFAULT_MODEL, timeout_s=10, report_path=report_path)
    assert rc == 0
    report = _report(report_path)
    assert report["passed"] is True
    assert list(_statuses(report)) == CHECKS
    assert set(_statuses(report).values()) == {"pass"}
    assert all(c["duration_s"] >= 0 and c["detail"] for c in report["checks"])
    assert [p.name for p in report_path.parent.iterdir()] == ["report.json"]  # no temp files left
    out = capsys.readouterr().out
    assert "smoke: PASS (8/8 checks)" in out
    for name in CHECKS:
        assert name in out


@pytest.mark.parametrize(
    ("switch", "failing"),
    [
        ("no_reasoning", {"stream_reasoning"}),
        ("tools_as_text", {"tool_call", "typed_tool_call"}),
        ("no_auth", {"auth"}),
        ("wrong_model", {"models"}),
        ("chat_500", {"chat", "stream_reasoning", "tool_call", "typed_tool_call", "json_mode"}),
        # What only the release gate caught before: smoke now runs the same checks (API_CHECKS).
        ("string_tool_args", {"typed_tool_call"}),  # sglang#35564: "4" for an integer
        ("broken_json", {"json_mode"}),
        # --grammar-backend none: SGLang refuses JSON mode with a 400 (the lane's H100 did).
        ("no_grammar", {"json_mode"}),
    ],
)
def test_each_broken_behaviour_fails(switch: str, failing: set[str], tmp_path: Path) -> None:
    report_path = tmp_path / "report.json"
    with FakeSGLang(**{switch: True}) as url:
        rc = smoke.run_smoke(url, DEFAULT_KEY, DEFAULT_MODEL, timeout_s=10, report_path=report_path)
    assert rc == 1
    report = _report(report_path)
    assert report["passed"] is False
    statuses = _statuses(report)
    assert {n for n, s in statuses.items() if s == "fail"} == failing
    assert {n for n, s in statuses.items() if s == "pass"} == set(CHECKS) - failing


@pytest.mark.parametrize(
    "family",
    [
        {},  # GLM-5.x (glm45/glm47) and Qwen3.5 (qwen3/qwen3_coder): enable_thinking
        {"thinking_switch": "thinking"},  # Kimi K2.x (kimi_k2): its template reads `thinking`
        {"thinking_switch": None, "long_thinking": True},  # MiniMax-M2.x (minimax): always thinks
    ],
    ids=["enable_thinking", "kimi", "minimax"],
)
def test_each_familys_parser_output_passes(family: dict, tmp_path: Path) -> None:
    """Every shipped family's parsers give the OpenAI fields smoke reads: reasoning_content in
    the stream, tool_calls, and an answer (or, for a model that always thinks, reasoning)."""
    report_path = tmp_path / "report.json"
    with FakeSGLang(output_tokens=80, **family) as url:
        rc = smoke.run_smoke(url, DEFAULT_KEY, DEFAULT_MODEL, timeout_s=10, report_path=report_path)
    statuses = _statuses(_report(report_path))
    assert rc == 0, statuses
    assert set(statuses.values()) == {"pass"}


def test_a_model_that_only_leaks_think_tags_still_fails(tmp_path: Path) -> None:
    report_path = tmp_path / "report.json"
    with FakeSGLang(thinking_switch=None, long_thinking=True, no_reasoning=True) as url:
        rc = smoke.run_smoke(url, DEFAULT_KEY, DEFAULT_MODEL, timeout_s=10, report_path=report_path)
    assert rc == 1
    assert _statuses(_report(report_path))["stream_reasoning"] == "fail"


def test_waits_out_startup_period(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report_path = tmp_path / "report.json"
    with FakeSGLang(startup_s=2.0) as url:
        rc = smoke.run_smoke(url, DEFAULT_KEY, DEFAULT_MODEL, timeout_s=20, report_path=report_path)
    assert rc == 0
    health = _report(report_path)["checks"][0]
    assert health["status"] == "pass" and health["duration_s"] >= 1.9
    err = capsys.readouterr().err
    assert "waiting for" in err and "HTTP 503" in err  # progress lines (stderr is not a TTY)


def test_times_out_cleanly_when_never_healthy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report_path = tmp_path / "report.json"
    t0 = time.monotonic()
    with FakeSGLang(startup_s=float("inf")) as url:
        rc = smoke.run_smoke(
            url, DEFAULT_KEY, DEFAULT_MODEL, timeout_s=1.0, report_path=report_path
        )
    assert rc == 1
    assert time.monotonic() - t0 < 5
    statuses = _statuses(_report(report_path))
    assert statuses.pop("health") == "fail"
    assert set(statuses.values()) == {"skip"}
    out = capsys.readouterr().out
    assert "not healthy within 1s (last: HTTP 503)" in out


def test_wrong_key_is_one_clear_failure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report_path = tmp_path / "report.json"
    with FakeSGLang() as url:
        rc = smoke.run_smoke(url, "wrong", DEFAULT_MODEL, timeout_s=10, report_path=report_path)
    assert rc == 1
    statuses = _statuses(_report(report_path))
    assert statuses["health"] == "pass" and statuses["models"] == "fail"
    assert {statuses[n] for n in CHECKS[2:]} == {"skip"}
    assert "HTTP 401: Unauthorized (API key rejected" in capsys.readouterr().out


def test_cli_key_from_env_and_v1_suffix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("API_KEY", raising=False)
    monkeypatch.setenv("SGLANG_API_KEY", DEFAULT_KEY)
    report_path = tmp_path / "r.json"
    with FakeSGLang() as url:
        rc = _cli(["--url", f"{url}/v1/", "--model", DEFAULT_MODEL, "--report", str(report_path)])
    assert rc == 0
    assert _report(report_path)["url"] == url


def test_cli_unreachable_url(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    report_path = tmp_path / "r.json"
    rc = _cli(
        ["--url", url, "--model", "m", "--timeout", "1", "--report", str(report_path)], key="k"
    )
    assert rc == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    assert "health: not healthy within 1s (last: cannot connect" in captured.out
    assert _report(report_path)["passed"] is False


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--url", "localhost:8000"], "error: no API key"),
        (["--url", "http://127.0.0.1:1"], "error: no API key"),
    ],
)
def test_cli_usage_errors(
    argv: list[str],
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("API_KEY", raising=False)
    monkeypatch.delenv("SGLANG_API_KEY", raising=False)
    assert _cli(argv + ["--model", "m"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1


def test_generator_cli_takes_the_model_name_from_the_profile(
    tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`python -m generator smoke --profile prod`: /v1/models must list prod's served name, and
    prod's Modal proxy auth takes the token from the environment."""
    from generator.pipeline import load

    monkeypatch.setenv("API_KEY", DEFAULT_KEY)
    monkeypatch.setenv("MODAL_PROXY_TOKEN_ID", PROXY_TOKEN[0])
    monkeypatch.setenv("MODAL_PROXY_TOKEN_SECRET", PROXY_TOKEN[1])
    served = load("prod").deployment.model.served_model_name
    report = str(tmp_path / "r.json")
    with FakeSGLang(model=served, modal_proxy_token=PROXY_TOKEN) as url:
        code, out, _ = cli("smoke", "--url", url, "--report", report)
    assert code == 0, out
    with FakeSGLang(modal_proxy_token=PROXY_TOKEN) as url:  # another name: models fails
        code, _, _ = cli("smoke", "--url", url, "--report", report)
    assert code == 1
    assert _statuses(_report(Path(report)))["models"] == "fail"


def test_behind_modal_proxy_auth_every_request_carries_the_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stand-in answers like Modal's edge: 401 without Modal-Key/Modal-Secret."""
    report_path = tmp_path / "report.json"
    with FakeSGLang(modal_proxy_token=PROXY_TOKEN) as url:
        rc = smoke.run_smoke(url, DEFAULT_KEY, DEFAULT_MODEL, timeout_s=5, report_path=report_path)
        assert rc == 1
        assert "auth in front" in _report(report_path)["checks"][0]["detail"]
        monkeypatch.setenv("MODAL_PROXY_TOKEN_ID", PROXY_TOKEN[0])
        monkeypatch.setenv("MODAL_PROXY_TOKEN_SECRET", PROXY_TOKEN[1])
        headers = smoke.resolve_proxy_headers()
        rc = smoke.run_smoke(
            url,
            DEFAULT_KEY,
            DEFAULT_MODEL,
            timeout_s=5,
            report_path=report_path,
            proxy_headers=headers,
        )
    assert rc == 0, _report(report_path)
    assert headers == {"Modal-Key": PROXY_TOKEN[0], "Modal-Secret": PROXY_TOKEN[1]}
    # With Modal's token but no SGLang key, SGLang itself still refuses.
    assert "no key -> HTTP 401" in _statuses_detail(_report(report_path), "auth")


def _statuses_detail(report: dict, name: str) -> str:
    return next(c["detail"] for c in report["checks"] if c["name"] == name)


def test_proxy_auth_profile_without_a_token_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MODAL_PROXY_TOKEN_ID", raising=False)
    monkeypatch.setenv("MODAL_PROXY_TOKEN_SECRET", "ws-only-half")
    parser = argparse.ArgumentParser()
    smoke.add_arguments(parser)
    args = parser.parse_args(["--url", "http://127.0.0.1:9"])
    args.proxy_auth = True  # what the CLI sets from serving.proxy_auth
    monkeypatch.setenv("API_KEY", DEFAULT_KEY)
    assert smoke.main(args) == 2
    err = capsys.readouterr().err
    assert "MODAL_PROXY_TOKEN_ID and MODAL_PROXY_TOKEN_SECRET" in err
    assert "ws-only-half" not in err


@pytest.mark.parametrize(("gpu", "role"), [("B200", "the primary"), ("H200", "a fallback")])
def test_smoke_says_which_gpu_type_served(
    tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch, gpu: str, role: str
) -> None:
    """high-availability may start on B200 or H200: /server_info's resolved settings (here the
    stand-in's, set to what SGLang would report for that GPU's flag set) name the type."""
    from generator.pipeline import load
    from generator.sglang.fallback import variants

    deployment = load("high-availability").deployment
    [variant] = [v for v in variants(deployment) if v.gpu.type == gpu]
    s = variant.sglang
    info = {
        "mem_fraction_static": s.mem_fraction_static,
        "dsa_prefill_backend": s.attention.sparse_prefill_backend,
        "dsa_decode_backend": s.attention.sparse_decode_backend,
        "moe_runner_backend": s.moe_runner_backend or "auto",
        "api_key": DEFAULT_KEY,  # SGLang returns it there too (docs/real-engine.md)
    }
    for name, value in (("API_KEY", DEFAULT_KEY), *zip(PROXY_ENV, PROXY_TOKEN, strict=True)):
        monkeypatch.setenv(name, value)
    report = tmp_path / "r.json"
    model = deployment.model.served_model_name
    with FakeSGLang(model=model, modal_proxy_token=PROXY_TOKEN, server_info=info) as url:
        code, out, _ = cli(
            "smoke", "--profile", "high-availability", "--url", url, "--report", str(report)
        )
    assert code == 0, out
    assert DEFAULT_KEY not in out and DEFAULT_KEY not in report.read_text()
    assert _statuses_detail(_report(report), "gpu") == f"{gpu}:8, {role}" + (
        " (gpu.fallback)" if role == "a fallback" else ""
    )


def test_server_info_matching_no_flag_set_fails_the_gpu_check() -> None:
    sets = {"B200:8": ["--dsa-decode-backend", "trtllm"], "H200:8": ["--dsa-decode-backend", "fa3"]}
    assert smoke.match_flag_set({"dsa_decode_backend": "fa3"}, sets) == "H200:8"
    with pytest.raises(smoke.CheckFailed, match="matches none"):
        smoke.match_flag_set({"dsa_decode_backend": "flashmla_kv"}, sets)
