"""Every shipped profile validates, renders, compiles, and loads as a real Modal app."""

from __future__ import annotations

import py_compile
import subprocess
import sys

import pytest
from conftest import SHIPPED_PROFILES, function_settings, load_modal_app

from generator import catalog
from generator.pipeline import load, render_to_file
from generator.sglang.fallback import variants
from generator.sglang.flags import server_args
from generator.sglang.recipes import recipe_flags, recipe_of


@pytest.fixture(scope="module", params=SHIPPED_PROFILES)
def rendered(request, tmp_path_factory):
    loaded = load(request.param)
    path = render_to_file(loaded, tmp_path_factory.mktemp(request.param) / "modal_app.py")
    return loaded, path, load_modal_app(path)


def test_shipped_profiles_include_the_guide_set():
    assert {"scale-to-zero", "always-warm", "long-context", "prod"} <= set(SHIPPED_PROFILES)


def test_profiles_start_with_schema_modeline():
    from generator import PROFILES_DIR

    for path in PROFILES_DIR.glob("*.yaml"):
        first = path.read_text().splitlines()[0]
        assert first == "# yaml-language-server: $schema=../generator/profile/schema.json", path


def test_rendered_file_compiles_and_is_formatted(rendered):
    _, path, _ = rendered
    py_compile.compile(str(path), doraise=True)
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--isolated", "--check", str(path)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _serving(module, d):
    """The serving object: a Server class for `server`, the `serve` Function for `web_server`."""
    return module.SGLangServer if d.serving.is_server else module.serve


def test_modal_app_functions(rendered):
    loaded, _, module = rendered
    d = loaded.deployment
    assert module.app.name == d.app_name
    serve = function_settings(_serving(module, d))
    spec = serve["spec"]
    # A ranked list when the profile has fallbacks: Modal starts the first type it can get.
    assert spec.gpus == (list(d.gpu.modal_specs) if d.gpu.fallback else d.gpu.modal_spec)
    # Serving only reads the Volumes: both are mounted read-only.
    assert serve["volumes"] == {
        "/model-cache": (d.volumes.weights.name, True),
        "/dg-cache": (d.volumes.deepgemm_cache.name, True),
    }
    scaler = serve["autoscaler"]
    assert scaler.min_containers == d.autoscaling.min_containers
    assert scaler.max_containers == d.autoscaling.max_containers
    assert scaler.scaledown_window == d.autoscaling.scaledown_window
    assert [s.name for s in serve["secrets"]] == [d.secrets.api_key.name]

    download = function_settings(module.download_model)
    assert download["spec"].gpus is None  # CPU only
    assert [s.name for s in download["secrets"]] == [d.secrets.huggingface.name]
    assert download["volumes"] == {"/model-cache": (d.volumes.weights.name, False)}

    # A cluster: one replica is d.nodes containers on Modal's private network; setup warms the
    # caches on the same shape.
    warm = function_settings(module.warm_compile_caches)
    for settings in (serve, warm):
        assert settings["cluster_size"] == (d.cluster.nodes if d.cluster else None)
        assert settings["rdma"] == (d.cluster.rdma if d.cluster else None)
        assert settings["i6pn"] is (d.cluster is not None)
    assert warm["spec"].gpus == spec.gpus  # kernels compiled on the serving GPU
    assert warm["volumes"] == {  # the one writer of the caches
        "/model-cache": (d.volumes.weights.name, False),
        "/dg-cache": (d.volumes.deepgemm_cache.name, False),
    }


def test_serving_settings_reach_modal(rendered):
    """A server profile renders a Modal Server; a web_server one keeps the guide's Function."""
    loaded, _, module = rendered
    d = loaded.deployment
    if d.serving.is_server:
        _check_server(module, d)
    else:
        _check_web_server(module, d)


def _check_server(module, d):
    assert not hasattr(module, "serve")
    serve = function_settings(module.SGLangServer)
    assert serve["is_server"] and serve["webhook"] is None
    http = serve["http"]
    assert http.port == 8000
    # Modal's default startup wait is 30 s; an 8-GPU, 700 GB start needs far longer.
    assert http.startup_timeout == serve["startup_timeout"] == d.timeouts.startup >= 1200
    assert http.exit_grace_period == d.serving.exit_grace_period >= 60
    # app.server takes no `timeout`: FunctionCreate carries _Function._from_local's default, 300 s,
    # a Function's per-input execution limit; a Server runs no inputs (see the README).
    assert serve["timeout"] == 300 and d.timeouts.container == 86400
    assert http.unauthenticated is (not d.serving.proxy_auth)
    assert list(http.proxy_regions) == [d.serving.routing_region]
    assert serve["max_concurrent_inputs"] == d.serving.max_concurrency
    # app.server sends the target as a float in the autoscaler settings.
    assert serve["autoscaler"].target_concurrency_float == pytest.approx(
        d.serving.target_concurrency
    )
    assert serve["regions"] == (
        list(d.serving.compute_region) if d.serving.compute_region else None
    )


def _check_web_server(module, d):
    assert not hasattr(module, "SGLangServer")
    serve = function_settings(module.serve)
    assert serve["webhook"].web_server_port == 8000
    # Modal's default startup wait is 5 s; an 8-GPU, 700 GB start needs far longer.
    assert serve["webhook"].web_server_startup_timeout == d.timeouts.startup >= 1200
    assert serve["webhook"].requires_proxy_auth is d.serving.proxy_auth
    assert serve["timeout"] == d.timeouts.container
    assert serve["max_concurrent_inputs"] == d.concurrency.max_inputs


def test_primitive_per_profile():
    primitives = {name: load(name).deployment.serving.primitive for name in SHIPPED_PROFILES}
    assert primitives == {
        "scale-to-zero": "web_server",
        "prod": "server",
        "always-warm": "server",
        "long-context": "server",
        "high-availability": "server",
        "glm51-bf16-cluster": "server",  # Modal serves a cluster only as a Server
        "glm52": "server",
        "glm52-throughput": "server",
        "kimi-k26": "server",
        "minimax-m27": "server",
        "qwen35": "server",
        "tiny-h100": "server",  # the real-engine lane: enter, serve, exit with a drain
    }


# SGLang 0.5.23 kernels that exist only on SM100 (Blackwell): trtllm DSA attention and the
# flashinfer_trtllm MoE runner (facts.md; sglang/srt/arg_groups/overrides.py picks them on SM100).
SM100_ONLY = {"trtllm", "flashinfer_trtllm"}


def test_app_carries_one_flag_set_per_gpu_type(rendered):
    loaded, _, module = rendered
    variants_ = variants(loaded.deployment)
    assert list(module.SGLANG_FLAGS) == [v.gpu.modal_spec for v in variants_]
    for v in variants_:
        args = [arg for flag in module.SGLANG_FLAGS[v.gpu.modal_spec] for arg in flag]
        assert args == server_args(v)
        assert args[args.index("--kv-cache-dtype") + 1] == "bfloat16"  # intent: one setting
        # TP over every GPU of the replica: 8 on one node, 16 on a two-node cluster.
        assert args[args.index("--tp-size") + 1] == str(v.gpus_per_replica)
        if v.cluster:  # the rank's own --node-rank and --dist-init-addr come at start
            assert args[args.index("--nnodes") + 1] == str(v.cluster.nodes)
            assert "--node-rank" not in args and "--dist-init-addr" not in args
        recipe = catalog.entry(v.model.id).recipe  # each family's own parsers and drafting
        if recipe.speculative:
            assert args[args.index("--speculative-algorithm") + 1] == recipe.speculative
        else:
            assert "--speculative-algorithm" not in args
        assert args[args.index("--reasoning-parser") + 1] == recipe.reasoning_parser
        assert args[args.index("--tool-call-parser") + 1] == recipe.tool_call_parser
        assert ("--trust-remote-code" in args) is recipe.trust_remote_code
        assert "--api-key" not in args  # added at run time from the Secret
        family = catalog.entry(v.model.id).family
        if family == "tiny-test":  # the real-engine lane: the trimmed wheels have Triton only
            assert args[args.index("--attention-backend") + 1] == "triton"
        elif family != "glm5":
            assert "--dsa-prefill-backend" not in args
            if "--attention-backend" in args:  # only where the model's upstream recipe sets one
                wanted = recipe_flags(recipe_of(v), v.sglang.version)["attention_backend"]
                assert args[args.index("--attention-backend") + 1] == wanted.values[0]
        elif v.sglang.moe_a2a_backend:  # the DeepEP recipe leaves the kernels to SGLang
            assert "--moe-runner-backend" not in args and "--dsa-prefill-backend" not in args
        elif v.gpu.type == "B200" and catalog.entry(v.model.id).quantization.startswith("FP8"):
            # the guide's kernels (its FP8 recipe)
            assert args[args.index("--dsa-prefill-backend") + 1] == "trtllm"
            assert args[args.index("--moe-runner-backend") + 1] == "flashinfer_trtllm"
        names = catalog.gpu(v.gpu.type).nvidia_smi_names
        assert {module.GPU_TYPES_BY_NAME[n] for n in names} == {v.gpu.modal_spec}


def test_guide_profile_values():
    d = load("scale-to-zero").deployment
    assert (d.autoscaling.min_containers, d.autoscaling.max_containers) == (0, 3)
    assert d.autoscaling.scaledown_window == 900
    assert d.concurrency.max_inputs == 20
    assert d.timeouts.container == 86400
    assert d.model.id == "zai-org/GLM-5.1-FP8"
    assert d.gpu.modal_spec == "B200:8"
    assert d.auth.require_api_key


def test_profiles_compose():
    warm = load("always-warm").deployment
    base = load("scale-to-zero").deployment
    assert warm.autoscaling.min_containers >= 1
    assert warm.sglang == base.sglang  # only what always-warm sets differs
    long = load("long-context").deployment
    assert long.sglang.context_length == 202752
    assert long.sglang.max_running_requests < base.sglang.max_running_requests
    assert long.sglang.speculative == base.sglang.speculative


def test_rendering_is_deterministic(tmp_path):
    loaded = load("prod")
    first = render_to_file(loaded, tmp_path / "a.py").read_bytes()
    second = render_to_file(load("prod"), tmp_path / "b.py").read_bytes()
    assert first.replace(b"/a.py", b"") == second.replace(b"/b.py", b"")


def test_cli_render_default_output(cli):
    from generator import BUILD_DIR

    code, out, _ = cli("render", "prod")
    assert code == 0
    assert (BUILD_DIR / "prod" / "modal_app.py").is_file()
    assert "build/prod/modal_app.py" in out


def test_public_endpoint_is_an_explicit_opt_out(profile_tree, tmp_path):
    from conftest import BASE_PROFILE

    root = profile_tree({"p.yaml": f"extends: {BASE_PROFILE}\nauth:\n  require_api_key: false\n"})
    module = load_modal_app(render_to_file(load(root / "p.yaml"), tmp_path / "app.py"))
    assert module.API_KEY_ENV is None
    assert not hasattr(module, "api_key_secret")
    assert function_settings(module.serve)["secrets"] == []
    preflight = load_modal_app(tmp_path / "preflight.py")
    assert [name for name, _, _ in preflight.SECRETS] == ["huggingface-secret"]


def test_readme_matches_what_is_rendered():
    """The README's profile table, Server name and client credentials are the rendered ones."""
    from generator import REPO_ROOT
    from generator.operate.smoke import PROXY_TOKEN_ENV_VARS

    readme = (REPO_ROOT / "README.md").read_text()
    for name in SHIPPED_PROFILES:
        d = load(name).deployment
        assert f"| `{name}` | `{d.serving.primitive}` |" in readme, name
    for variable in PROXY_TOKEN_ENV_VARS:
        assert f'"Modal-Key": os.environ["{PROXY_TOKEN_ENV_VARS[0]}"]' in readme
        assert f"${variable}" in readme
    assert 'modal.Server.from_name("glm51-prod", "SGLangServer")' in readme
    assert load("prod").deployment.app_name == "glm51-prod"


def test_server_regions_auth_and_unlimited_concurrency(profile_tree, tmp_path):
    from generator import PROFILES_DIR

    root = profile_tree(
        {
            "p.yaml": f"extends: {PROFILES_DIR / 'prod.yaml'}\n"
            "serving:\n  routing_region: us-west\n  compute_region: [us-west, us-east]\n"
            "  proxy_auth: false\n  max_concurrency: null\n  target_concurrency: 1.5\n"
        }
    )
    module = load_modal_app(render_to_file(load(root / "p.yaml"), tmp_path / "app.py"))
    serve = function_settings(module.SGLangServer)
    assert serve["regions"] == ["us-west", "us-east"]
    assert list(serve["http"].proxy_regions) == ["us-west"]
    assert serve["http"].unauthenticated is True
    assert serve["max_concurrent_inputs"] is None  # unlimited: Modal never answers 429
    assert serve["autoscaler"].target_concurrency_float == pytest.approx(1.5)


def test_web_server_with_proxy_auth(profile_tree, tmp_path):
    from conftest import BASE_PROFILE

    root = profile_tree({"p.yaml": f"extends: {BASE_PROFILE}\nserving:\n  proxy_auth: true\n"})
    module = load_modal_app(render_to_file(load(root / "p.yaml"), tmp_path / "app.py"))
    assert function_settings(module.serve)["webhook"].requires_proxy_auth is True


def test_setup_warms_the_caches_on_every_gpu_type(tmp_path, monkeypatch):
    """`modal run` (the local entrypoint) downloads once, then warms the compile caches on each
    GPU type Modal may start. Modal's servers are not here: Function.remote is replaced with a
    recorder that reads the real Function's name and the GPU its options ask for."""
    import modal
    from modal._utils.async_utils import synchronizer

    loaded = load("high-availability")
    module = load_modal_app(render_to_file(loaded, tmp_path / "modal_app.py"))
    ran = []

    def remote(self, *args, **kwargs):
        impl = synchronizer._translate_in(self)
        options = getattr(impl, "_options", None)
        gpu = options.resources.gpu_config if options and options.resources else None
        ran.append((impl._tag, f"{gpu.gpu_type}:{gpu.count}" if gpu else None))

    monkeypatch.setattr(modal.Function, "remote", remote)
    module.main()
    assert ran == [
        ("download_config", None),  # first: all a dummy-weights dry run reads
        ("download_model", None),
        ("warm_compile_caches", "B200:8"),
        ("warm_compile_caches", "H200:8"),
    ]
