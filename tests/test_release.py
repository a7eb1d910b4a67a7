"""Canary deploys and release gates, end to end through `generator deploy`.

Modal's servers and a GPU serving GLM-5.1 cannot exist here. The real `modal` CLI (modal 1.6.4)
runs every command against tests/fake_modal_plane.py, a stand-in control plane that speaks
Modal's gRPC API and keeps each app's versions and state; a wrapper in front of the CLI records
the command lines release.py gives it. Each app's endpoint is a stand-in SGLang
(tests/fake_sglang.py), healthy or broken in one way, whose URL the real CLI prints as Modal's.
"""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import pytest
from conftest import load_modal_app

from generator import PROFILES_DIR, REPO_ROOT
from generator.operate import deploy as deploy_module
from tests.fake_modal_plane import FakeModalPlane
from tests.fake_sglang import DEFAULT_KEY, FakeSGLang

PINNED = "model:\n  revision: 0123456789abcdef0123456789abcdef01234567\n"
RELEASE = """
release:
  ttft_p50_ms: 500
  tpot_p50_ms: 50
  latency_requests: 2
  wait_timeout: 60
"""
PROXY = ("wk-id", "ws-secret")

# Between release.py and the real CLI: records the command line, then runs `modal` itself.
RECORDING_MODAL = """#!{python}
import json, os, sys
open({calls!r}, "a").write(json.dumps(sys.argv[1:]) + "\\n")
os.execv({modal!r}, [{modal!r}, *sys.argv[1:]])
"""


@pytest.fixture
def control_plane(tmp_path, monkeypatch):
    """The real modal CLI against tests/fake_modal_plane.py; a wrapper records its command lines."""
    calls = tmp_path / "modal-calls.jsonl"
    real = Path(sys.executable).with_name("modal")
    assert real.is_file(), "the modal package's CLI is installed beside the interpreter"
    script = tmp_path / "modal"
    script.write_text(
        RECORDING_MODAL.format(python=sys.executable, calls=str(calls), modal=str(real))
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setattr(deploy_module, "_modal", lambda: str(script))
    monkeypatch.setattr(deploy_module, "DEPLOYS_DIR", tmp_path / "deploys")
    monkeypatch.setenv("MODAL_TOKEN_ID", "ak-test")
    monkeypatch.setenv("MODAL_TOKEN_SECRET", "as-test")
    monkeypatch.setenv("API_KEY", DEFAULT_KEY)
    monkeypatch.setenv("MODAL_PROXY_TOKEN_ID", PROXY[0])
    monkeypatch.setenv("MODAL_PROXY_TOKEN_SECRET", PROXY[1])
    monkeypatch.chdir(tmp_path)  # the live smoke's report goes under build/

    class Plane:
        def __init__(self, fake: FakeModalPlane) -> None:
            self.fake = fake

        def state(self) -> dict:
            apps = {
                n: {"versions": a["versions"], "state": a["state"]}
                for n, a in self.fake.apps.items()
            }
            return {"apps": apps}

        def calls(self) -> list[list[str]]:
            lines = calls.read_text().splitlines() if calls.exists() else []
            return [json.loads(line) for line in lines]

        def set(self, urls: dict | None = None, apps: dict | None = None) -> None:
            self.fake.urls.update(urls or {})
            for name, app in (apps or {}).items():
                self.fake.deployed(name, app["versions"])

        def history(self, profile: str = "prod") -> list[dict]:
            return json.loads((deploy_module.DEPLOYS_DIR / profile / "history.json").read_text())

    with FakeModalPlane() as fake:
        monkeypatch.setenv("MODAL_SERVER_URL", fake.url)
        yield Plane(fake)


@pytest.fixture
def released_prod(profile_tree):
    root = profile_tree({"prod.yaml": f"extends: {PROFILES_DIR / 'prod.yaml'}\n{PINNED}{RELEASE}"})
    return str(root / "prod.yaml")


def _fake(**breakage) -> FakeSGLang:
    return FakeSGLang(model="glm-5.1-fp8", modal_proxy_token=PROXY, output_tokens=32, **breakage)


LIVE_BEFORE = {"glm51-prod": {"versions": ["prod-old"], "state": "deployed"}}


def test_passing_canary_promotes_and_stops_the_canary(control_plane, cli, released_prod):
    with _fake() as canary, _fake() as live:
        control_plane.set(urls={"glm51-prod-canary": canary, "glm51-prod": live}, apps=LIVE_BEFORE)
        code, out, err = cli("deploy", released_prod)
    assert code == 0, out + err
    calls = [c[:1] + c[2:4] if c[0] == "deploy" else c for c in control_plane.calls()]
    assert calls == [
        ["deploy", "--name", "glm51-prod-canary"],
        ["deploy", "--name", "glm51-prod"],
        ["app", "stop", "glm51-prod-canary", "--yes"],
    ]
    apps = control_plane.state()["apps"]
    [record] = control_plane.history()
    assert apps["glm51-prod"] == {"versions": ["prod-old", record["tag"]], "state": "deployed"}
    assert apps["glm51-prod-canary"]["state"] == "stopped"
    assert record["action"] == "deploy" and record["release"]["outcome"] == "promoted"
    steps = [s["step"] for s in record["release"]["steps"]]
    assert steps == ["canary_deploy", "gates", "promote", "stop_canary", "smoke_live"]
    assert all(s["ok"] for s in record["release"]["steps"])
    gates = {g["name"]: g for g in record["release"]["gates"]}
    assert list(gates) == ["cold_start", "smoke", "probe", "latency"]
    assert all(g["passed"] for g in gates.values())
    assert gates["probe"]["numbers"]["correct"] == 32
    assert gates["cold_start"]["numbers"]["estimated_s"] > 0
    assert "release: PROMOTED" in out and "smoke: PASS" in out
    assert (deploy_module.DEPLOYS_DIR / "prod" / record["tag"] / "modal_app.py").is_file()


def _deploys(plane: FakeModalPlane) -> list[dict]:
    """What each `modal deploy` sent the control plane, split at its AppPublish."""
    deploys, current = [], {"volumes": set(), "secrets": set(), "server": None}
    for rpc, request in plane.calls:
        if rpc == "VolumeGetOrCreate":
            current["volumes"].add(request.deployment_name)
        elif rpc == "SecretGetOrCreate":
            current["secrets"].add(request.deployment_name)
        elif rpc == "FunctionCreate":
            data = request.function_data
            fn = data.ranked_functions[0].function if data.ranked_functions else request.function
            if fn.is_server:
                current["server"] = fn
        elif rpc == "AppPublish":
            deploys.append(current | {"name": request.name, "tag": request.deployment_tag})
            current = {"volumes": set(), "secrets": set(), "server": None}
    return deploys


def test_canary_mounts_the_same_volumes_read_only_with_the_same_secrets(
    control_plane, cli, released_prod
):
    """As the real CLI sent them: the canary's Server and the promoted one are the same."""
    with _fake() as canary, _fake() as live:
        control_plane.set(urls={"glm51-prod-canary": canary, "glm51-prod": live})
        assert cli("deploy", released_prod)[0] == 0
    canary_deploy, live_deploy = _deploys(control_plane.fake)
    assert (canary_deploy["name"], live_deploy["name"]) == ("glm51-prod-canary", "glm51-prod")
    assert canary_deploy["tag"] == live_deploy["tag"]
    assert (
        canary_deploy["volumes"]
        == live_deploy["volumes"]
        == {
            "glm51-model-weights",
            "glm51-deepgemm-cache",
        }
    )
    assert canary_deploy["secrets"] == live_deploy["secrets"]
    for deployed in (canary_deploy, live_deploy):
        mounts = {m.mount_path: m.read_only for m in deployed["server"].volume_mounts}
        assert mounts == {"/model-cache": True, "/dg-cache": True}
        assert len(deployed["server"].secret_ids) == 1  # the API key Secret


@pytest.mark.parametrize(
    ("breakage", "gate"),
    [
        ({"wrong_answers": True}, "probe"),
        ({"string_tool_args": True}, "smoke"),
        ({"no_reasoning": True}, "smoke"),
        ({"ttft_s": 0.7}, "latency"),
    ],
)
def test_failing_canary_leaves_the_live_app_alone(
    control_plane, cli, released_prod, breakage, gate
):
    with _fake(**breakage) as canary:
        control_plane.set(urls={"glm51-prod-canary": canary}, apps=LIVE_BEFORE)
        code, out, err = cli("deploy", released_prod)
    assert code == 1
    assert control_plane.state()["apps"]["glm51-prod"] == LIVE_BEFORE["glm51-prod"]
    assert control_plane.state()["apps"]["glm51-prod-canary"]["state"] == "stopped"
    assert [c[:3] for c in control_plane.calls()][1:] == [["app", "stop", "glm51-prod-canary"]]
    [record] = control_plane.history()
    assert record["action"] == "canary"
    assert record["release"]["outcome"] == f"rejected: {gate} failed"
    assert [s["step"] for s in record["release"]["steps"]] == [
        "canary_deploy",
        "gates",
        "stop_canary",
    ]
    assert f"release: REJECTED ({gate} failed); glm51-prod is untouched" in out
    assert [line for line in out.splitlines() if line.startswith(gate)][0].split()[1] == "FAIL"
    assert deploy_module.live_records(control_plane.history()) == []


def test_canary_that_never_serves_is_stopped(control_plane, cli, profile_tree, monkeypatch):
    from generator.operate import smoke

    monkeypatch.setattr(smoke, "REFUSED_GIVE_UP_S", 0.5)
    release = RELEASE.replace("wait_timeout: 60", "wait_timeout: 60\n  cold_start_max_ratio: 2")
    root = profile_tree({"prod.yaml": f"extends: {PROFILES_DIR / 'prod.yaml'}\n{PINNED}{release}"})
    # Nothing listens there: the wait ends in seconds (a 503 would wait the whole wait_timeout;
    # tests/test_gates.py covers a replica that never turns healthy).
    control_plane.set(urls={"glm51-prod-canary": "http://127.0.0.1:9"}, apps=LIVE_BEFORE)
    code, out, _ = cli("deploy", str(root / "prod.yaml"))
    assert code == 1
    [record] = control_plane.history()
    [gate] = record["release"]["gates"]
    assert gate["name"] == "cold_start" and not gate["passed"]
    assert "never served" in gate["summary"]
    assert control_plane.state()["apps"]["glm51-prod"] == LIVE_BEFORE["glm51-prod"]
    assert control_plane.state()["apps"]["glm51-prod-canary"]["state"] == "stopped"


def test_failing_live_smoke_rolls_back(control_plane, cli, released_prod):
    with _fake() as canary, _fake(chat_500=True) as live:
        control_plane.set(urls={"glm51-prod-canary": canary, "glm51-prod": live}, apps=LIVE_BEFORE)
        code, out, _ = cli("deploy", released_prod)
    assert code == 1
    assert control_plane.calls()[-1] == ["app", "rollback", "glm51-prod"]
    deployed, rolled_back = control_plane.history()
    versions = control_plane.state()["apps"]["glm51-prod"]["versions"]
    assert versions == ["prod-old", deployed["tag"], "prod-old"]
    assert deployed["release"]["outcome"] == "promoted, live smoke failed, rolled back"
    assert [s["step"] for s in deployed["release"]["steps"]][-2:] == ["smoke_live", "rollback"]
    assert rolled_back["action"] == "rollback"
    assert rolled_back["rolled_back_from"] == deployed["tag"]
    assert "smoke of the live app failed" in rolled_back["reason"]
    assert "the live smoke FAILED after the promote; rolled glm51-prod back" in out


def test_dry_run_prints_the_release_commands(control_plane, cli, released_prod):
    code, out, _ = cli("deploy", released_prod, "--dry-run")
    assert code == 0
    assert control_plane.calls() == []
    assert "--name glm51-prod-canary --tag prod-" in out
    assert "app stop glm51-prod-canary --yes" in out
    assert "canary cost ~$" in out and "/replica-hour" in out


def test_release_needs_the_api_key_before_deploying(control_plane, cli, released_prod, monkeypatch):
    monkeypatch.delenv("API_KEY")
    code, _, err = cli("deploy", released_prod)
    assert code == 1 and "set API_KEY" in err
    assert control_plane.calls() == []


def test_without_release_section_deploy_is_direct(control_plane, cli, profile_tree):
    # prod turns the gates on; `release: null` removes the section (its default: none)
    root = profile_tree(
        {"prod.yaml": f"extends: {PROFILES_DIR / 'prod.yaml'}\n{PINNED}release: null\n"}
    )
    assert cli("deploy", str(root / "prod.yaml"))[0] == 0
    assert [c[2:4] for c in control_plane.calls()] == [["--name", "glm51-prod"]]


def test_canary_name_too_long_is_refused(cli, profile_tree, control_plane):
    name = "a" * 60
    root = profile_tree(
        {
            "p.yaml": f"extends: {PROFILES_DIR / 'prod.yaml'}\napp:\n  name: {name}\n{PINNED}{RELEASE}"
        }
    )
    code, _, err = cli("deploy", str(root / "p.yaml"))
    assert code == 1 and "over Modal's 64" in err
    assert control_plane.calls() == []


def test_the_canary_url_comes_from_modal_not_from_the_deploy_output(
    control_plane, cli, released_prod, monkeypatch
):
    """An image build's log (or a profile value) printed in `modal deploy`'s output can hold any
    URL; the gates call the URL Modal's API reports (FunctionGet in the stand-in plane)."""
    from generator.operate import release

    real_capture = release._capture
    evil = "https://evil.example/collect"

    def capture_with_a_build_log(command):
        code, out = real_capture(command)
        return code, f"Step 3/9 RUN echo {evil}\n{out}"

    monkeypatch.setattr(release, "_capture", capture_with_a_build_log)
    with _fake() as canary, _fake() as live:
        control_plane.set(urls={"glm51-prod-canary": canary, "glm51-prod": live}, apps=LIVE_BEFORE)
        code, out, err = cli("deploy", released_prod)
    assert code == 0, out + err
    [record] = control_plane.history()
    first = record["release"]["steps"][0]
    assert first["step"] == "canary_deploy" and first["detail"].endswith(f"endpoint {canary}")
    assert evil not in json.dumps(record)


@pytest.mark.parametrize(
    ("url", "usable"),
    [
        ("https://ws--glm51-prod-canary-sglangserver.modal.run", True),
        ("http://127.0.0.1:8000", True),  # a stand-in on this machine
        ("http://ws--app.modal.run", False),  # the key would cross the network in clear
        ("https://user:pass@ws--app.modal.run", False),
        ("https://ws--app.modal.run/\x1b[2J", False),
        ("javascript:alert(1)", False),
        (None, False),
        (["https://x.modal.run"], False),
    ],
)
def test_only_a_plausible_endpoint_url_is_used(url, usable):
    from generator.operate.release import _plausible_url

    assert _plausible_url(url) is usable


def test_dummy_weights_run_never_touches_the_live_app(control_plane, cli, released_prod):
    """Random weights (the stand-in's wrong answers): the serving path passes, the probe fails
    as expected, and everything happens under <app>-dummy with records of its own."""
    with _fake(wrong_answers=True) as dummy:
        control_plane.set(urls={"glm51-prod-dummy": dummy}, apps=LIVE_BEFORE)
        code, out, err = cli("deploy", released_prod, "--dummy-weights")
    assert code == 0, out + err
    deploy_call, stop_call = control_plane.calls()
    assert deploy_call[2:4] == ["--name", "glm51-prod-dummy"]
    rendered = open(deploy_call[1]).read()
    assert '["--load-format", "dummy"],' in rendered
    # SGLang's dummy loader reads the config folder alone, and the app's setup fetches only it:
    # no weights Volume download before a dry run (`make setup DUMMY=1`, a few MB).
    assert '["--model-path", CONFIG_DIR],' in rendered and "MODEL_DIR]" not in rendered
    assert _entrypoint_calls(rendered) == ["download_config.remote"]
    assert deploy_call[1].endswith("build/prod-dummy/modal_app.py")
    # What the app tells a reader to run names the real profile: prod-dummy is no file.
    assert load_modal_app(Path(deploy_call[1])).SETUP_COMMAND == "make setup PROFILE=prod DUMMY=1"
    assert "make deploy PROFILE=prod DUMMY=1" in rendered and "PROFILE=prod-dummy" not in rendered
    assert stop_call == ["app", "stop", "glm51-prod-dummy", "--yes"]
    apps = control_plane.state()["apps"]
    assert apps["glm51-prod"] == LIVE_BEFORE["glm51-prod"]
    assert apps["glm51-prod-dummy"]["state"] == "stopped"
    assert not (deploy_module.DEPLOYS_DIR / "prod" / "history.json").exists()
    [record] = control_plane.history("prod-dummy")
    assert record["action"] == "dummy-run" and record["dummy_weights"] is True
    assert record["app_name"] == "glm51-prod-dummy"
    gates = {g["name"]: g for g in record["release"]["gates"]}
    assert not gates["probe"]["passed"] and "dummy weights are random" in gates["probe"]["summary"]
    assert all(g["passed"] for name, g in gates.items() if name != "probe")
    assert "the probe failed, as expected on random weights" in out


def test_dummy_weights_run_fails_when_the_serving_path_does(control_plane, cli, released_prod):
    with _fake(string_tool_args=True) as dummy:
        control_plane.set(urls={"glm51-prod-dummy": dummy})
        code, out, _ = cli("deploy", released_prod, "--dummy-weights")
    assert code == 1 and "dummy run: FAIL" in out
    assert control_plane.state()["apps"]["glm51-prod-dummy"]["state"] == "stopped"


def _entrypoint_calls(source: str) -> list[str]:
    """The calls `modal run` makes: the body of the app's local entrypoint, main()."""
    import ast

    main = next(
        n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef) and n.name == "main"
    )
    body = ast.Module(main.body, [])  # the decorator is not a call it makes
    return [ast.unparse(n.func) for n in ast.walk(body) if isinstance(n, ast.Call)]


def test_the_real_apps_setup_fetches_the_config_folder_first(released_prod, tmp_path, cli):
    assert cli("render", released_prod, "-o", str(tmp_path / "app.py"))[0] == 0
    calls = _entrypoint_calls((tmp_path / "app.py").read_text())
    assert calls[:2] == ["download_config.remote", "download_model.remote"]


def test_dummy_setup_runs_the_dummy_app(control_plane, cli, released_prod):
    code, out, _ = cli("setup", released_prod, "--dummy-weights", "--dry-run")
    assert code == 0 and control_plane.calls() == []
    assert out.rstrip().endswith(" run " + str(REPO_ROOT / "build/prod-dummy/modal_app.py")), out


def test_dummy_weights_dry_run(control_plane, cli, released_prod):
    code, out, _ = cli("deploy", released_prod, "--dummy-weights", "--dry-run")
    assert code == 0 and control_plane.calls() == []
    assert "--name glm51-prod-dummy" in out and "never the live app" in out


def test_rollback_record_names_the_version_it_returned_to(control_plane, cli, profile_tree):
    root = profile_tree(
        {"prod.yaml": f"extends: {PROFILES_DIR / 'prod.yaml'}\n{PINNED}release: null\n"}
    )
    profile = root / "prod.yaml"
    with _fake() as canary, _fake(chat_500=True) as live:
        control_plane.set(urls={"glm51-prod-canary": canary, "glm51-prod": live})
        assert cli("deploy", str(profile))[0] == 0  # no release section: straight to live
        profile.write_text(profile.read_text().replace("release: null\n", RELEASE))
        assert cli("deploy", str(profile))[0] == 1
    first, promoted, rolled_back = control_plane.history()
    assert [r["action"] for r in (first, promoted, rolled_back)] == ["deploy", "deploy", "rollback"]
    assert rolled_back["tag"] == first["tag"] and rolled_back["settings"] == first["settings"]
    assert control_plane.state()["apps"]["glm51-prod"]["versions"] == [
        first["tag"],
        promoted["tag"],
        first["tag"],
    ]
    code, out, _ = cli("rollback", str(profile))  # Modal's rule: back once more is the promote
    assert code == 0 and f"to {promoted['tag']}" in out
