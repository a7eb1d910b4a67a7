"""Release gates and the correctness probe, against the stand-in SGLang (tests/fake_sglang.py):
each gate passes on a healthy endpoint and fails on the breakage it exists to catch."""

from __future__ import annotations

import io
import json
import time

import openai
import pytest

from generator.operate import gates, probe, smoke
from tests.fake_sglang import DEFAULT_KEY, DEFAULT_MODEL, FakeSGLang

FAST = gates.Targets(ttft_p50_ms=200, tpot_p50_ms=20, latency_requests=3)


def _client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=DEFAULT_KEY, max_retries=0, timeout=30)


# -- the correctness set ----------------------------------------------------------------------
def test_shipped_set_is_what_the_generator_makes():
    assert probe.SET_PATH.read_text(encoding="utf-8") == probe.dumps(probe.generate())
    assert probe.main(["--check"]) == 0


def test_set_is_deterministic_and_covers_every_category():
    questions = probe.generate()
    assert questions == probe.generate()
    assert questions != probe.generate(seed=probe.SEED + 1)
    assert len({q.id for q in questions}) == len(questions) == 32
    assert {q.category for q in questions} == set(probe.CATEGORIES)
    assert len({q.prompt for q in questions}) == len(questions)


def test_answers_are_right():
    """Recompute every answer from its question text, independently of the generator."""
    import re

    for q in probe.generate():
        if q.category == "arithmetic":
            expr = q.prompt.removeprefix("What is ").removesuffix("?")
            if "divided by" in expr:
                a, rest = expr.split(" divided by ")
                b, c = rest.split(", plus ")
                expected = int(a) // int(b) + int(c)
            else:
                expected = eval(expr, {"__builtins__": {}})  # digits and operators only
                assert re.fullmatch(r"[\d\s()+*-]+", expr)
            assert q.answer == str(expected), q
        elif q.category == "string" and "backwards" in q.prompt:
            word = q.prompt.split("'")[1]
            assert q.answer == word[::-1]
        elif q.category == "string" and "how many times" in q.prompt.lower():
            letter, word = q.prompt.split("'")[1], q.prompt.split("'")[3]
            assert q.answer == str(word.count(letter))


@pytest.mark.parametrize(
    ("reply", "right"),
    [
        ("ANSWER: 1295", True),
        ("Let me compute.\nANSWER: 1,295.", True),
        ("answer:1295", True),
        ("ANSWER: 1296", False),
        ("1295", False),  # no ANSWER: line, not graded as right
        ("ANSWER: 12950", False),
        ("ANSWER: 1295\nANSWER: 7", False),  # the last answer counts
        ("", False),
    ],
)
def test_grading_numbers(reply, right):
    q = probe.Question("t", "arithmetic", "What is 98 * 4 + 903?", "1295")
    assert probe.grade(q, reply) is right


@pytest.mark.parametrize(
    ("reply", "right"),
    [
        ("ANSWER: Dev", True),
        ("ANSWER: dev.", True),
        ('ANSWER: "Dev"', True),
        ("ANSWER: Fay", False),
    ],
)
def test_grading_words(reply, right):
    q = probe.Question("t", "logic", "Who is the shortest?", "Dev")
    assert probe.grade(q, reply) is right


# -- type comparison --------------------------------------------------------------------------
def test_type_errors_name_each_mistyped_argument():
    schema = gates.BOOKING_TOOL["function"]["parameters"]
    good = {
        "restaurant": "x",
        "party_size": 4,
        "outdoor": True,
        "contact": {"name": "a", "phone": "b"},
        "dietary": ["v"],
    }
    assert gates.type_errors(good, schema) == []
    bad = good | {"party_size": "4", "outdoor": "true", "contact": {"name": "a"}, "dietary": [1]}
    assert gates.type_errors(bad, schema) == [
        'party_size: integer expected, got string "4"',
        'outdoor: boolean expected, got string "true"',
        "contact.phone: missing",
        "dietary[0]: string expected, got integer 1",
    ]
    assert gates.type_errors(good | {"party_size": True}, schema) == [
        "party_size: integer expected, got boolean true"
    ]


# -- gates against the stand-in ---------------------------------------------------------------
def _smoke(**breakage) -> gates.Gate:
    with FakeSGLang(**breakage) as url, _client(url) as client:
        return gates.smoke_gate(client, DEFAULT_MODEL)


def test_smoke_gate_passes_healthy():
    gate = _smoke()
    assert gate.passed, gate.details
    # the same checks as `make smoke` (generator/operate/smoke.py API_CHECKS)
    assert gate.numbers == {"checks_passed": 6, "checks": 6}
    assert [d.split(":")[0] for d in gate.details] == list(smoke.API_CHECKS)


@pytest.mark.parametrize(
    ("breakage", "failing", "detail"),
    [
        (
            {"string_tool_args": True},
            "typed_tool_call",
            'party_size: integer expected, got string "4"',
        ),
        ({"no_reasoning": True}, "stream_reasoning", "thinking tags in content"),
        ({"broken_json": True}, "json_mode", "does not parse"),
        ({"tools_as_text": True}, "typed_tool_call", "no streamed book_table call"),
        ({"wrong_model": True}, "models", "not served"),
    ],
)
def test_smoke_gate_fails_on_its_breakage(breakage, failing, detail):
    gate = _smoke(**breakage)
    assert not gate.passed
    assert failing in gate.summary.split("failed: ")[1].split(", ")
    [line] = [d for d in gate.details if d.startswith(failing + ":")]
    assert "FAIL" in line and detail in line
    failed = gate.summary.split("failed: ")[1].split(", ")
    assert sum("PASS" in d for d in gate.details) == 6 - len(failed)  # the others still pass


@pytest.mark.parametrize("wrong", [False, True])
def test_probe_gate(wrong):
    with FakeSGLang(wrong_answers=wrong) as url, _client(url) as client:
        gate = gates.probe_gate(client, DEFAULT_MODEL, 0.9)
    assert gate.passed is not wrong
    assert gate.numbers["questions"] == 32
    assert gate.numbers["correct"] == (0 if wrong else 32)
    assert "does not rank models" in gate.summary
    if wrong:
        assert gate.details[0].startswith("arithmetic-0: expected ")


def test_probe_gate_on_dummy_weights_says_why_it_fails():
    with FakeSGLang(wrong_answers=True) as url, _client(url) as client:
        gate = gates.probe_gate(client, DEFAULT_MODEL, 0.9, dummy_weights=True)
    assert not gate.passed and "dummy weights are random" in gate.summary


@pytest.mark.parametrize(("ttft_s", "passed"), [(0.0, True), (0.3, False)])
def test_latency_gate(ttft_s, passed):
    with FakeSGLang(ttft_s=ttft_s, tpot_s=0.002, output_tokens=64) as url:
        gate = gates.latency_gate(url, DEFAULT_KEY, DEFAULT_MODEL, FAST)
    assert gate.passed is passed, gate
    assert gate.numbers["requests"] == 3 and gate.numbers["failed"] == 0
    assert (gate.numbers["ttft_p50_ms"] >= 300) is not passed
    if not passed:
        assert gate.details[0].startswith("TTFT p50 ") and "> 200 ms" in gate.details[0]


def test_latency_gate_fails_on_slow_decode():
    one = gates.Targets(ttft_p50_ms=200, tpot_p50_ms=20, latency_requests=1)
    with FakeSGLang(tpot_s=0.03, output_tokens=64) as url:
        gate = gates.latency_gate(url, DEFAULT_KEY, DEFAULT_MODEL, one)
    assert not gate.passed and "TPOT p50" in gate.details[0]


def test_cold_start_gate_measures_against_the_estimate():
    with FakeSGLang(startup_s=0.6) as url:
        started = time.monotonic()
        gate = gates.cold_start_gate(
            url,
            DEFAULT_KEY,
            DEFAULT_MODEL,
            started=started,
            estimate_s=1.0,
            timeout_s=10,
            targets=gates.Targets(cold_start_max_ratio=5),
            err=io.StringIO(),
        )
    assert gate.passed, gate
    assert 0.6 <= gate.numbers["measured_s"] < 5
    assert gate.numbers["ratio"] == pytest.approx(gate.numbers["measured_s"], abs=0.1)
    assert "measured/estimated" in gate.summary


def test_cold_start_gate_fails_when_it_never_serves():
    with FakeSGLang(startup_s=float("inf")) as url:
        gate = gates.cold_start_gate(
            url,
            DEFAULT_KEY,
            DEFAULT_MODEL,
            started=time.monotonic(),
            estimate_s=600,
            timeout_s=1.5,
            targets=gates.Targets(),
            err=io.StringIO(),
        )
    assert not gate.passed and gate.summary.startswith("never served: not healthy within 1.5s")


def test_gate_report_escapes_control_characters():
    out = io.StringIO()
    gates.print_gates([gates.Gate("probe", False, "got '\x1b[31mred'", {}, ["\x07bell"])], out)
    assert "\x1b" not in out.getvalue() and "\x07" not in out.getvalue()
    assert "\\x1b[31mred" in out.getvalue()
    json.dumps(gates.Gate("x", True, "s").as_dict())


# -- `make gates URL=...`: the gates against an endpoint already live ------------------------
PROXY = ("wk-gates", "ws-gates")


def _gates_cli(cli, monkeypatch, url: str, report) -> tuple[int, str]:
    monkeypatch.setenv("API_KEY", DEFAULT_KEY)
    monkeypatch.setenv("MODAL_PROXY_TOKEN_ID", PROXY[0])
    monkeypatch.setenv("MODAL_PROXY_TOKEN_SECRET", PROXY[1])
    code, out, _ = cli("gates", "--profile", "prod", "--url", url, "--report", str(report))
    return code, out


def test_gates_command_runs_the_release_gates_on_a_live_endpoint(cli, monkeypatch, tmp_path):
    """Smoke, probe and latency with prod's thresholds; nothing deployed, no cold start."""
    from generator.pipeline import load

    served = load("prod").deployment.model.served_model_name
    with FakeSGLang(model=served, modal_proxy_token=PROXY) as url:
        code, out = _gates_cli(cli, monkeypatch, url, tmp_path / "g.json")
    assert code == 0, out
    report = json.loads((tmp_path / "g.json").read_text())
    assert [g["name"] for g in report["gates"]] == ["smoke", "probe", "latency"]
    assert report["passed"] is True and "gates: PASS" in out


def test_gates_command_fails_on_a_breakage_smoke_alone_once_missed(cli, monkeypatch, tmp_path):
    from generator.pipeline import load

    served = load("prod").deployment.model.served_model_name
    with FakeSGLang(model=served, modal_proxy_token=PROXY, string_tool_args=True) as url:
        code, out = _gates_cli(cli, monkeypatch, url, tmp_path / "g.json")
    assert code == 1
    assert "typed_tool_call: FAIL" in out and 'party_size: integer expected, got string "4"' in out


def test_gates_report_is_never_written_through_a_link(cli, monkeypatch, tmp_path):
    """The report is written as smoke's and bench's are (write_committed): a link named as the
    report is refused even where it points beside it (a plain atomic write would follow it and
    overwrite that file), and the command fails after printing the gates."""
    from generator.pipeline import load

    victim = tmp_path / "profile.yaml"
    victim.write_text("keep\n")
    (tmp_path / "g.json").symlink_to(victim)
    served = load("prod").deployment.model.served_model_name
    with FakeSGLang(model=served, modal_proxy_token=PROXY) as url:
        code, out = _gates_cli(cli, monkeypatch, url, tmp_path / "g.json")
    assert code == 1 and "smoke" in out
    assert victim.read_text() == "keep\n"
