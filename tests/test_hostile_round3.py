# ruff: noqa: F811 (pytest fixtures imported from other test modules are redefined as arguments)
"""Hostile input, round 3 (issue 24): the mechanisms each case is fixed at, one section each.

Modal's servers cannot exist here: where they would answer, a stand-in says so. Every test here
failed on the code before its mechanism existed.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import threading
import time
from pathlib import Path

import pytest
from conftest import BASE_PROFILE, load_modal_app
from test_container import _get, running  # noqa: F401, F811 (a fixture)
from test_hostile import BASE, run_cli
from test_pin import hub, hub_config  # noqa: F401, F811 (fixtures: the Hub at its client boundary)

from generator import PROFILES_DIR
from generator.cli import main
from generator.errors import UserError
from generator.pipeline import load, render_to_file
from generator.rules.environment import env_refusal


def _refused(tmp_path: Path, text: str, base: str = BASE) -> str:
    """Validate and render a profile that must fail: exit 1, no traceback, nothing written
    (the CLI in-process: these are many, and a subprocess each costs a second)."""
    (tmp_path / "p.yaml").write_text(base + text, encoding="utf-8")
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["render", str(tmp_path / "p.yaml"), "-o", str(tmp_path / "a.py")])
    err = err.getvalue()
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
    argv = load(tmp_path / "c.yaml").flag_sets[0].argv
    assert argv[argv.index("--nnodes") + 1] == "2"


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


# --- The API key never reaches the container log; the log pump is bounded -----------------------


@pytest.mark.parametrize("version", ["0.5.10", "0.5.23"])
def test_the_api_key_is_masked_in_sglangs_start_line(running, version):  # noqa: F811
    """The real rendered app under the real modal package; the stand-in SGLang prints its
    `server_args=` line as each version does (tests/fake_sglang_pkg/sglang/launch_server.py)."""
    key = "k3y-with-'quote\"-" + version
    container, base, _ = running("server", SGLANG_API_KEY=key, FAKE_SGLANG_LOG_FORMAT=version)
    container.wait_for("[cold-start] total")
    assert _get(f"{base}/v1/models", key=key) == 200  # SGLang still got the real key
    start = next(line for _, line in container.lines if "server_args=" in line)
    masked = "api_key='<redacted>'" if version == "0.5.10" else "'api_key': '<redacted>'"
    assert masked in start and start.startswith("[20"), start
    assert key not in container.log and "k3y" not in container.log
    assert "[cold-start] +" in container.log and " sglang_started" in container.log


class _Process:
    def __init__(self, text: str) -> None:
        self.stdout = io.StringIO(text)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """The rendered app's module, loaded by the real modal package."""
    out = tmp_path_factory.mktemp("app") / "modal_app.py"
    return load_modal_app(render_to_file(load(BASE_PROFILE), out))


def _pump(app, text: str, key: str, capsys, timeline=None) -> str:
    app._stream_output(_Process(text), timeline, app._Redactor([key]))
    return capsys.readouterr().out


def test_a_long_line_is_cut_and_a_key_across_the_cut_is_masked(app, capsys):
    key = "secret-key-0123456789"
    limit = app.MAX_LOG_LINE
    for split in range(1, len(key)):  # the cut falls inside the key
        line = "x" * (limit - split) + key + "y" * 3 * limit + "\n"
        out = _pump(app, line + "next line\n", key, capsys)
        first, second = out.splitlines()
        assert len(first) <= limit + 40 and first.endswith("characters cut]")
        kept, cut = first.rsplit(" [", 1)
        assert kept == "x" * len(kept) and second == "next line"  # no piece of the key
        assert len(kept) + int(cut.split()[0]) == len(line) - 1  # every character counted


def test_the_key_is_masked_by_field_even_when_the_value_differs(app, capsys):
    out = _pump(
        app, "server_args={'api_key': 'other', 'admin_api_key': \"x'y\"}\n", "unrelated", capsys
    )
    assert out == "server_args={'api_key': '<redacted>', 'admin_api_key': '<redacted>'}\n"


def test_matching_happens_off_the_draining_thread(app, capsys):
    """A timeline stuck matching cannot hold the log back."""
    timeline = app._Timeline()
    stuck, entered = threading.Event(), threading.Event()

    class Stuck(dict):
        def items(self):
            entered.set()
            stuck.wait()
            return {}.items()

    markers, app.COLD_START_MARKERS = app.COLD_START_MARKERS, Stuck()
    try:
        done = threading.Event()
        text = "".join(f"line {i}\n" for i in range(10_000))
        threading.Thread(
            target=lambda: (_pump(app, text, "k", capsys, timeline), done.set())
        ).start()
        assert done.wait(30), "the pump waited for the matcher"
        assert entered.wait(5), "the matcher never ran: the test would prove nothing"
    finally:
        stuck.set()
        app.COLD_START_MARKERS = markers


def test_markers_are_literal_pieces_found_in_order(app, capsys):
    assert all(
        isinstance(pieces, tuple) and all(isinstance(p, str) for p in pieces)
        for pieces in app.COLD_START_MARKERS.values()
    )
    timeline = app._Timeline()
    text = "graph end. then Capture nothing\n" + "Capture " * 8000 + "\n"
    _pump(app, text + "Capture decode CUDA graph end.\n", "k", capsys, timeline)
    deadline = time.monotonic() + 10
    while "cuda_graphs_captured" not in timeline.seen and time.monotonic() < deadline:
        time.sleep(0.01)
    assert list(timeline.seen) == ["cuda_graphs_captured"]


# --- Committed records: read and written only as regular files, never through a link ------------


def _record(profile: str = "prod") -> dict:
    from generator.operate import deploy as deploy_module

    return deploy_module.make_record(load(profile), "app")


@pytest.fixture
def deploys(tmp_path, monkeypatch):
    from generator.operate import deploy as deploy_module

    repo = tmp_path / "repo"
    (repo / "deploys").mkdir(parents=True)
    monkeypatch.setattr(deploy_module, "DEPLOYS_DIR", repo / "deploys")
    return repo / "deploys"


def test_history_is_never_written_through_a_link_inside_the_repository(deploys):
    from generator.operate import deploy as deploy_module

    (deploys / "prod").mkdir()
    (deploys / "other").mkdir()
    elsewhere = deploys / "other" / "history.json"  # another profile's record: still refused
    elsewhere.write_text("[]\n")
    (deploys / "prod" / "history.json").symlink_to(elsewhere)
    with pytest.raises(UserError, match="history.json: is a symbolic link"):
        deploy_module.write_record(_record(), "app")
    assert elsewhere.read_text() == "[]\n"


def test_a_rendered_copy_is_never_written_through_a_linked_folder(deploys):
    from generator.operate import deploy as deploy_module

    record = _record()
    (deploys / "prod").mkdir()
    target = deploys.parent / "generator"
    target.mkdir()
    (deploys / "prod" / record["tag"]).symlink_to(target)
    with pytest.raises(UserError, match="is a symbolic link"):
        deploy_module.write_record(record, "print('pwned')")
    assert list(target.iterdir()) == []


def test_a_fifo_history_is_refused_without_blocking(deploys):
    from generator.operate import deploy as deploy_module

    (deploys / "prod").mkdir()
    os.mkfifo(deploys / "prod" / "history.json")
    done = []
    worker = threading.Thread(
        target=lambda: done.append(_raises(deploy_module.read_history, "prod")), daemon=True
    )
    worker.start()
    worker.join(10)
    assert done and "not a regular file" in done[0]


def _raises(function, *args) -> str:
    try:
        function(*args)
    except UserError as exc:
        return str(exc)
    return "no error"


def test_a_history_record_of_another_app_is_refused(deploys, cli):
    from generator.operate import deploy as deploy_module

    first, second = _record(), _record()
    second["app_name"] = "someone-elses-app"
    (deploys / "prod").mkdir()
    (deploys / "prod" / "history.json").write_text(json.dumps([first, second]))
    assert deploy_module.read_history("prod")  # the shape alone is fine
    code, _, err = cli("rollback", "prod", "--dry-run")
    assert code == 1 and "record [1] lacks or mistypes app_name 'someone-elses-app'" in err
    assert "modal app rollback" not in err


def test_a_renamed_app_still_gets_its_deploy_record(deploys):
    """Records of the app's old name stay history: the write after a deploy of the renamed app
    appends (refusing them is rollback's and diff's, which act on the app a record names)."""
    from generator.operate import deploy as deploy_module

    old = _record()
    old["app_name"] = "glm51-old-name"
    (deploys / "prod").mkdir()
    (deploys / "prod" / "history.json").write_text(json.dumps([old]))
    record = deploy_module.make_record(load("prod"), "deploy")
    deploy_module.write_record(record, None)
    assert [r["app_name"] for r in deploy_module.read_history("prod")] == [
        "glm51-old-name",
        record["app_name"],
    ]


def test_non_finite_numbers_are_refused_in_committed_json(deploys):
    from generator.operate import deploy as deploy_module

    (deploys / "prod").mkdir()
    (deploys / "prod" / "history.json").write_text('[{"x": 1e999}]')
    assert "not a finite number" in _raises(deploy_module.read_history, "prod")
    record = _record()
    record["settings"] = {"gates": {"slo": float("inf")}}
    (deploys / "prod" / "history.json").unlink()
    assert "Out of range float values are not JSON compliant" in _raises(
        deploy_module.write_record, record, None
    )
    assert not (deploys / "prod" / "history.json").exists()


def test_a_lock_is_parsed_once_per_version_of_the_file(tmp_path, monkeypatch):
    from generator.profile import committed

    path = tmp_path / "lock.json"
    path.write_text('{"a": 1}')
    parses = []
    real = committed._parse
    monkeypatch.setattr(committed, "_parse", lambda *a: parses.append(1) or real(*a))
    for _ in range(50):
        assert committed.read_json(path, "restore", tmp_path) == {"a": 1}
    assert len(parses) == 1
    path.write_text('{"a": 22}')
    assert committed.read_json(path, "restore", tmp_path) == {"a": 22} and len(parses) == 2


def test_bench_outputs_are_never_written_through_links(tmp_path):
    from generator.operate.bench import plot  # noqa: F401 (the writer bench uses)
    from generator.render.write import write_committed

    out = tmp_path / "bench"
    out.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("keep")
    (out / "latest.json").symlink_to(victim)
    with pytest.raises(UserError, match="latest.json: is a symbolic link"):
        write_committed(out / "latest.json", "{}", out)
    assert victim.read_text() == "keep"


# --- The lock's config.json against the catalog ----------------------------------------------------

LOCK_KEY = "zai-org/GLM-5.1-FP8@0123456789abcdef0123456789abcdef01234567"
PINNED = "model:\n  revision: 0123456789abcdef0123456789abcdef01234567\n"


def _lock_config(**changes) -> dict:
    from generator import catalog

    config = dict(catalog.entry("zai-org/GLM-5.1-FP8").config)
    for name, value in changes.items():
        if value is None:
            config.pop(name)
        else:
            config[name] = value
    return config


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"architectures": ["DeepseekV3ForCausalLM"]}, "cannot change the model's class"),
        ({"index_topk": None}, "config.json lacks `index_topk`, which the catalog's config"),
        ({"kv_lora_rank": None}, "config.json lacks `kv_lora_rank`"),
        ({"num_hidden_layers": 10**9}, "`num_hidden_layers` = 1000000000 is outside"),
        ({"hidden_size": 1 << 40}, "`hidden_size` = 1099511627776 is outside"),
        ({"vocab_size": -1}, "`vocab_size` must be an integer >= 1"),
        ({"num_experts_per_tok": 2.5}, "`num_experts_per_tok` must be an integer"),
        ({"max_position_embeddings": "202752"}, "`max_position_embeddings` must be an integer"),
        ({"text_config": {"num_hidden_layers": 78}}, "`text_config` nesting differs"),
    ],
)
def test_a_lock_config_is_checked_against_the_catalog(tmp_path, changes, message):
    """validate --format json still prints JSON, with the other profile's verdict beside it."""
    (tmp_path / "p.yaml").write_text(BASE + PINNED)
    entry = {"bytes": 757_000_000_000, "source": "Hub", "config": _lock_config(**changes)}
    (tmp_path / "checkpoints.lock.json").write_text(json.dumps({LOCK_KEY: entry}))
    (tmp_path / "good.yaml").write_text(BASE)
    code, out, err = run_cli(
        "validate", "--format", "json", str(tmp_path / "p.yaml"), str(tmp_path / "good.yaml")
    )
    assert code == 1 and "Traceback" not in err, err
    verdicts = {p["profile"]: p for p in json.loads(out)["profiles"]}
    assert verdicts["good"]["status"] == "ok" and verdicts["p"]["status"] == "invalid"
    messages = [q["message"] for q in verdicts["p"]["problems"] if q["severity"] == "error"]
    assert any(message in m and "checkpoints.lock.json" in m for m in messages), messages


def test_a_layer_count_changed_within_bounds_is_still_sized_by_the_lock(tmp_path):
    """A new commit may change a value (pin-revision records it so): only the class and the
    presence of the fields are fixed (test_pin.py sizes 80 layers from a lock)."""
    from generator.profile.checkpoint import model_spec

    (tmp_path / "p.yaml").write_text(BASE + PINNED)
    entry = {
        "bytes": 757_000_000_000,
        "source": "Hub",
        "config": _lock_config(num_hidden_layers=80),
    }
    (tmp_path / "checkpoints.lock.json").write_text(json.dumps({LOCK_KEY: entry}))
    assert model_spec(load(tmp_path / "p.yaml").deployment).num_layers == 80


def test_every_catalog_config_is_inside_the_bounds():
    from generator import catalog

    for model_id, entry in catalog.entries().items():
        catalog.spec(model_id, entry.config, "test")  # parse applies CONFIG_BOUNDS


# --- Release thresholds: bounded, and null means off ---------------------------------------------


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("probe_min_accuracy: 0", "release.probe_min_accuracy"),
        ("probe_min_accuracy: 0.1", "release.probe_min_accuracy"),
        ("ttft_p50_ms: 1.0e+300", "release.ttft_p50_ms"),
        ("tpot_p50_ms: 100000", "release.tpot_p50_ms"),
        ("cold_start_max_ratio: 1000", "release.cold_start_max_ratio"),
    ],
)
def test_a_threshold_that_gates_nothing_is_refused(tmp_path, text, where):
    err = _refused(tmp_path, f"release:\n  {text}\n")
    assert f"{where}:" in err


def test_null_turns_a_gate_off_even_over_an_inherited_value(tmp_path):
    (tmp_path / "parent.yaml").write_text(BASE + "release:\n  probe_min_accuracy: 0.95\n")
    child = "extends: parent\nrelease:\n  probe_min_accuracy: null\n  ttft_p50_ms: null\n"
    (tmp_path / "child.yaml").write_text(child)
    release = load(tmp_path / "child.yaml").deployment.release
    assert release.probe_min_accuracy is None and release.ttft_p50_ms is None
    assert release.tpot_p50_ms == 30  # untouched: the default
    (tmp_path / "plain.yaml").write_text(BASE + "release:\n  tpot_p50_ms: null\n")
    assert load(tmp_path / "plain.yaml").deployment.release.tpot_p50_ms is None


def test_null_is_a_setting_exactly_where_the_schema_says_so():
    """Every nullable field whose default is not null: null there must not mean the default."""
    from generator.profile.load import NULL_IS_A_SETTING
    from generator.profile.validate import _resolve, schema

    found = set()

    def walk(node, path):
        for key, prop in _resolve(node).get("properties", {}).items():
            prop = _resolve(prop)
            kinds = prop.get("type")
            if isinstance(kinds, list) and "null" in kinds and prop.get("default") is not None:
                found.add((*path, key))
            walk(prop, (*path, key))

    walk(schema(), ())
    assert found == set(NULL_IS_A_SETTING)


# --- Non-finite numbers, and what a gate keeps in the history --------------------------------------


@pytest.mark.parametrize("number", ["NaN", "Infinity", "1e999"])
def test_a_hub_config_with_a_non_finite_number_is_not_recorded(
    profile_tree,
    cli,
    hub,
    hub_config,
    monkeypatch,
    number,  # noqa: F811
):
    from huggingface_hub import HfApi

    def download(self, repo_id, filename, *, revision=None, local_dir=None, **kwargs):
        path = Path(local_dir) / filename
        path.write_text(json.dumps(hub_config)[:-1] + f', "rope_theta": {number}}}')
        return str(path)

    monkeypatch.setattr(HfApi, "hf_hub_download", download)
    root = profile_tree({"p.yaml": BASE_PROFILE.read_text()})
    code, _, err = cli("pin-revision", str(root / "p.yaml"))
    assert code == 1 and "config.json is not JSON" in err and "Traceback" not in err
    assert not (root / "checkpoints.lock.json").exists()


def test_gate_details_kept_in_the_history_are_bounded_and_finite():
    from generator.operate.gates import Gate

    gate = Gate(
        "smoke",
        False,
        "x" * 1_000_000,
        {"ttft_p50_ms": float("nan"), "rate": float("inf"), "n": 3, "deep": [[[[[1]]]]]},
        ["detail"] * 10_000,
    )
    kept = gate.as_dict()
    text = json.dumps(kept, allow_nan=False)  # strict JSON
    assert len(text) < 50_000 and kept["numbers"]["ttft_p50_ms"] is None
    assert kept["numbers"]["n"] == 3 and kept["summary"].endswith("(999,500 characters cut)")


# --- Smaller: dummy variants, the revision's folder, Volumes over the image -----------------------


@pytest.mark.parametrize(
    "revision", ["main/../../../../usr/lib", "..", "a/./b", "main/.hidden", "a//b", "main/"]
)
def test_a_revision_cannot_leave_the_weights_folder(tmp_path, revision):
    err = _refused(tmp_path, f"model:\n  revision: '{revision}'\n")
    assert "model.revision" in err


def test_a_branch_with_slashes_is_still_a_revision(tmp_path):
    (tmp_path / "p.yaml").write_text(BASE + "model:\n  revision: release/v1.2\n")
    assert load(tmp_path / "p.yaml").deployment.model_dir.endswith("/release/v1.2")


@pytest.mark.parametrize(
    "mount",
    [
        "/usr/local/lib/python3.12/dist-packages",
        "/opt/conda/lib/python3.11/site-packages",
        "/root/.local/lib",
        "/home/user/.local",
        "/sgl-workspace/sglang/python",
        "/var/lib",
        "/tmp/sglang-cache",
        "/tmp/sglang-cache/deep_gemm",
    ],
)
def test_a_volume_cannot_hide_the_images_python_or_sglang(tmp_path, mount):
    text = f"volumes:\n  weights:\n    name: w\n    mount_path: {mount}\n"
    err = _refused(tmp_path, text)
    assert "[volume-mounts] volumes.weights.mount_path" in err and "hides the image" in err


def test_a_dummy_variant_cannot_take_a_real_profiles_name_app_or_records(profile_tree, cli):
    root = profile_tree(
        {
            "prod.yaml": f"extends: {PROFILES_DIR / 'prod.yaml'}\n",
            "other.yaml": f"extends: {PROFILES_DIR / 'prod.yaml'}\napp:\n  name: glm51-prod-dummy\n",
        }
    )
    code, _, err = cli("deploy", str(root / "prod.yaml"), "--dummy-weights", "--dry-run")
    assert code == 1 and "other.yaml" in err and "its app is glm51-prod-dummy" in err
    (root / "other.yaml").unlink()
    (root / "prod-dummy.yaml").write_text(f"extends: {PROFILES_DIR / 'prod.yaml'}\n")
    code, _, err = cli("deploy", str(root / "prod.yaml"), "--dummy-weights", "--dry-run")
    assert code == 1 and "a real profile is named prod-dummy" in err
    (root / "prod-dummy.yaml").unlink()
    (root / "prod.yaml").write_text(f"extends: {PROFILES_DIR / 'prod.yaml'}\n{PINNED}")
    code, out, err = cli("deploy", str(root / "prod.yaml"), "--dummy-weights", "--dry-run")
    assert code == 0, err


def test_a_dummy_variant_cannot_write_into_a_real_profiles_history(profile_tree, cli, deploys):
    root = profile_tree({"prod.yaml": f"extends: {PROFILES_DIR / 'prod.yaml'}\n"})
    record = _record()
    record.update(profile="prod-dummy", tag="prod-dummy-0123456789ab")
    (deploys / "prod-dummy").mkdir()
    (deploys / "prod-dummy" / "history.json").write_text(json.dumps([record]))
    code, _, err = cli("deploy", str(root / "prod.yaml"), "--dummy-weights", "--dry-run")
    assert code == 1 and "holds records of a real profile named prod-dummy" in err
