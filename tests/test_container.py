"""The rendered app's own container code, run in a test process against a stand-in SGLang.

Modal's servers and an 8x B200 SGLang cannot exist here. tests/container_runner.py imports the
rendered app with the real `modal` and runs its container code the way modal 1.6.4's container
entrypoint does (enter, wait for SIGTERM, exit); only Volume.reload/commit are replaced. SGLang
is tests/fake_sglang_pkg: `python -m sglang.launch_server` with SGLang's HTTP surface, its
SIGTERM drain and its cache variables. A web_server Function has no exit hook in Modal, so the
drain test is the Server's alone.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from conftest import BASE_PROFILE

from generator import PROFILES_DIR
from generator.pipeline import load, render_to_file
from generator.sglang.fallback import variants
from generator.sglang.flags import server_args

TESTS = Path(__file__).parent
API_KEY = "container-test-key-3f9a"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Container:
    """One container process running the app's code; its output is collected line by line."""

    def __init__(
        self, app: Path, kind: str, tmp: Path, prefix: tuple[str, ...] = (), **switches: str
    ) -> None:
        """`prefix` runs the container elsewhere, e.g. in a network namespace (a host of its own)."""
        self.pid_file = tmp / f"sglang-{kind}{switches.get('FAKE_CLUSTER_RANK', '')}.pid"
        local = tmp / "local-disk"
        local.mkdir(exist_ok=True)
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(TESTS / "fake_sglang_pkg"), str(TESTS)]),
            "SGLANG_API_KEY": API_KEY,  # what the Modal Secret puts in the environment
            "TMPDIR": str(local),  # the container's local disk
            "FAKE_SGLANG_PID_FILE": str(self.pid_file),
            **switches,
        }
        self.lines: list[tuple[float, str]] = []
        self.process = subprocess.Popen(
            [*prefix, sys.executable, str(TESTS / "container_runner.py"), str(app), kind],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    @property
    def log(self) -> str:
        return "\n".join(line for _, line in self.lines)

    def wait_for(self, text: str, timeout: float = 30) -> float:
        """When `text` appeared in the log (waits for it)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for at, line in list(self.lines):
                if text in line:
                    return at
            if self.process.poll() is not None and not any(text in x for _, x in self.lines):
                time.sleep(0.2)  # let the reader drain the pipe
                if not any(text in line for _, line in self.lines):
                    break
            time.sleep(0.05)
        raise AssertionError(f"{text!r} not in the container log:\n{self.log}")

    def exit_code(self, timeout: float) -> int:
        return self.process.wait(timeout=timeout)

    def tear_down(self) -> None:
        """What Modal does to a container that has ended: every process in it is killed."""
        for pid in [self.process.pid, *self._sglang_pid()]:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self.process.wait(timeout=10)

    def _sglang_pid(self) -> list[int]:
        return [int(self.pid_file.read_text())] if self.pid_file.is_file() else []

    def sglang_alive(self) -> bool:
        try:
            os.kill(self._sglang_pid()[0], 0)
        except (IndexError, ProcessLookupError):
            return False
        return True


def _render(
    tmp: Path, primitive: str, parent: Path | None = None, weights: bool = True
) -> tuple[Path, int, Path]:
    port = _free_port()
    cache_mount = tmp / "dg-cache"
    parent = parent or (PROFILES_DIR / "prod.yaml" if primitive == "server" else BASE_PROFILE)
    profile = {
        "extends": str(parent),
        "sglang": {"port": port},
        "volumes": {
            "weights": {"name": "w", "mount_path": str(tmp / "model-cache")},
            "deepgemm_cache": {"name": "c", "mount_path": str(cache_mount)},
        },
    }
    path = tmp / f"{primitive}.yaml"
    path.write_text(yaml.safe_dump(profile))
    loaded = load(path)
    assert loaded.deployment.serving.primitive == primitive
    if weights:  # what `make setup` leaves on the Volume (the fake SGLang reads none of it)
        model_dir = Path(loaded.deployment.model_dir)
        model_dir.mkdir(parents=True, exist_ok=True)
        (model_dir / "config.json").write_text("{}")
        (model_dir / "model.safetensors").write_bytes(b"")
    app = render_to_file(loaded, tmp / primitive / "modal_app.py")
    return app, port, Path(loaded.deployment.compile_cache_dir)


@pytest.fixture
def running(tmp_path):
    """Start a container: running(primitive, **switches) -> (container, base URL, cache dir)."""
    started: list[Container] = []

    def start(primitive: str, kind: str | None = None, **switches: str):
        app, port, cache_dir = _render(tmp_path, primitive)
        container = Container(app, kind or primitive, tmp_path, **switches)
        started.append(container)
        return container, f"http://127.0.0.1:{port}", cache_dir

    yield start
    for container in started:
        container.tear_down()


def _get(url: str, key: str | None = API_KEY) -> int:
    request = urllib.request.Request(url)
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except urllib.error.URLError:
        return 0  # not listening


def _chat(base: str, max_tokens: int) -> dict:
    body = {
        "model": "glm-5.1-fp8",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": max_tokens,
        "ignore_eos": True,
    }
    request = urllib.request.Request(
        f"{base}/v1/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def test_server_is_ready_only_once_sglang_is_healthy(running):
    container, base, _ = running("server", FAKE_SGLANG_STARTUP_S="2")
    serving = container.wait_for("fake-sglang: serving on")
    ready = container.wait_for("runner: ready")
    assert _get(f"{base}/health", key=None) == 200  # at once: enter() returned after /health
    assert ready - serving >= 1.5  # enter() waited through the 503s while SGLang loaded
    assert "SGLang is healthy" in container.log
    assert "no compile cache in" in container.log  # no setup ran: it says so, then starts cold


def test_sglang_dying_while_starting_fails_the_server_start(running):
    container, _, _ = running("server", FAKE_SGLANG_EXIT_AT_START="5")
    assert container.exit_code(timeout=20) != 0
    assert "SGLang exited with code 5 while starting" in container.log
    assert "runner: ready" not in container.log


@pytest.mark.parametrize("primitive", ["server", "web_server"])
def test_sglang_dying_after_startup_ends_the_container(running, primitive):
    container, base, _ = running(primitive, FAKE_SGLANG_CRASH_AFTER_S="2")
    container.wait_for("runner: ready")
    died = container.wait_for("fake-sglang: scheduler died")
    assert container.exit_code(timeout=10) == 1
    assert time.monotonic() - died < 10
    # SGLang's watchdog SIGQUITs itself and its handler kills the tree, itself included (-9)
    assert "SGLang exited with code -9; stopping the container" in container.log
    assert "runner: weights_volume.reload()" not in container.log


def test_sigterm_lets_an_in_flight_generation_finish(running):
    container, base, _ = running("server", FAKE_SGLANG_TPOT_S="0.1")
    container.wait_for("runner: ready")
    result: dict = {}

    def generate() -> None:
        try:
            result["response"] = _chat(base, max_tokens=30)  # ~3 s of decoding
        except Exception as exc:  # noqa: BLE001 - the assertion below reports it
            result["error"] = exc

    client = threading.Thread(target=generate)
    client.start()
    container.wait_for("fake-sglang: request in, 1 running")
    container.process.send_signal(signal.SIGTERM)  # Modal stopping the replica
    container.wait_for("Gracefully exiting... Remaining number of requests 1")
    # The drain as SGLang does it (and as the exit hook's comment says): health is 503, but a
    # request that still arrives is accepted and served, not refused.
    assert _get(f"{base}/health", key=None) == 503
    late = _chat(base, max_tokens=2)
    assert late["usage"]["completion_tokens"] == 2
    code = container.exit_code(timeout=30)
    container.tear_down()  # Modal kills whatever is left once the container has ended
    client.join(timeout=30)
    assert code == 0, container.log
    assert "error" not in result, f"{result.get('error')}\n{container.log}"
    assert result["response"]["usage"]["completion_tokens"] == 30
    assert "fake-sglang: drained, exiting" in container.log
    assert "stopping the container" not in container.log  # an intentional stop is no crash
    assert "SGLang still running after" not in container.log  # drained within the grace
    assert ".reload()" not in container.log  # read-only mounts: the serving path calls no Volume


@pytest.mark.parametrize("primitive", ["server", "web_server"])
def test_api_key_comes_from_the_secret_and_output_reaches_the_log(running, primitive):
    container, base, _ = running(primitive)
    container.wait_for("runner: ready")
    if primitive == "web_server":  # Modal polls the port itself; so does this test
        deadline = time.monotonic() + 20
        while _get(f"{base}/health", key=None) != 200 and time.monotonic() < deadline:
            time.sleep(0.1)
    assert _get(f"{base}/v1/models") == 200
    assert _get(f"{base}/v1/models", key="wrong") == 401
    assert _get(f"{base}/v1/models", key=None) == 401
    assert "fake-sglang: serving on" in container.log  # SGLang's output in the container log
    app_dir = Path(container.process.args[2]).parent
    for rendered in app_dir.iterdir():
        assert API_KEY not in rendered.read_text()


def test_setup_warms_every_cache_and_replicas_read_a_local_copy(running, tmp_path):
    setup, _, cache_dir = running("server", kind="setup")
    assert setup.exit_code(timeout=60) == 0, setup.log
    assert (cache_dir / "deep_gemm" / "kernel.cubin").is_file()  # compile_deep_gemm
    autotune = cache_dir / "flashinfer" / "autotune" / "sm100" / "rank_tp0.json"
    assert autotune.is_file()  # the full start's FlashInfer autotune
    info = json.loads((cache_dir / "build-info.json").read_text())
    assert info["gpu"] == "B200:8" and info["image"].endswith(info["sglang_version"])
    assert "runner: cache_volume.commit()" in setup.log
    before = sorted(p.relative_to(cache_dir) for p in cache_dir.rglob("*"))

    serving, _, _ = running("server")
    serving.wait_for("runner: ready")
    local = tmp_path / "local-disk" / "sglang-cache"
    assert f"SGLANG_CACHE_DIR={local}" in serving.log
    assert (local / "deep_gemm" / "kernel.cubin").is_file()
    assert "autotuned" not in serving.log  # the warm result was found, not recomputed
    assert sorted(p.relative_to(cache_dir) for p in cache_dir.rglob("*")) == before


# --- Fallback GPUs: the container picks its flag set by the GPU it got ------------------------


def _nvidia_smi(tmp: Path, name: str) -> str:
    """A stand-in `nvidia-smi` (no GPU here) that names the GPU the way the real one does for
    `--query-gpu=name --format=csv,noheader`: one line per GPU."""
    bin_dir = tmp / "bin"
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / "nvidia-smi"
    script.write_text(f"#!/bin/sh\nfor i in 0 1 2 3 4 5 6 7; do echo {shlex.quote(name)}; done\n")
    script.chmod(0o755)
    return f"{bin_dir}{os.pathsep}{os.environ['PATH']}"


@pytest.mark.parametrize(
    ("smi_name", "gpu_type"), [("NVIDIA B200", "B200"), ("NVIDIA H200", "H200")]
)
def test_each_gpu_type_launches_with_its_own_flag_set(tmp_path, smi_name, gpu_type):
    app, _, _ = _render(tmp_path, "server", PROFILES_DIR / "high-availability.yaml")
    loaded = load(tmp_path / "server.yaml")
    [variant] = [v for v in variants(loaded.deployment) if v.gpu.type == gpu_type]
    argv_file = tmp_path / "argv.json"
    container = Container(
        app,
        "server",
        tmp_path,
        PATH=_nvidia_smi(tmp_path, smi_name),
        FAKE_SGLANG_ARGV_FILE=str(argv_file),
    )
    try:
        container.wait_for("runner: ready")
        assert f"GPU {smi_name}: starting SGLang with the {gpu_type}:8 flag set" in container.log
        assert json.loads(argv_file.read_text()) == [*server_args(variant), "--api-key", API_KEY]
        assert f"/{gpu_type.lower()}-" in container.log  # its own compile-cache folder
    finally:
        container.tear_down()


def test_a_gpu_without_a_flag_set_fails_with_a_clear_message(tmp_path):
    app, _, _ = _render(tmp_path, "server", PROFILES_DIR / "high-availability.yaml")
    container = Container(
        app, "server", tmp_path, PATH=_nvidia_smi(tmp_path, "NVIDIA A100-SXM4-80GB")
    )
    try:
        assert container.exit_code(timeout=30) != 0
        assert "no SGLang flag set for GPU 'NVIDIA A100-SXM4-80GB'" in container.log
        assert "fake-sglang" not in container.log  # SGLang never started
    finally:
        container.tear_down()


@pytest.mark.parametrize("primitive", ["server", "web_server"])
def test_cold_start_phase_timeline_from_sglangs_own_lines(running, primitive):
    container, _, _ = running(primitive, FAKE_SGLANG_STARTUP_S="1.5")
    summary = container.wait_for("[cold-start] total")
    phases = [line.split()[3] for _, line in container.lines if line.startswith("[cold-start] +")]
    assert phases == [
        "compile_cache_copied",
        "sglang_started",
        "weights_loaded",
        "cuda_graphs_captured",
        "healthy",
    ]
    line = next(x for _, x in container.lines if x.startswith("[cold-start] total"))
    total = float(line.split()[2])
    assert 1.3 <= total < 10  # the stand-in's 1.5 s load, from the serving code's start
    # The repeated lines (target and draft weights, two graph captures) count at their last.
    seen = dict(part.rsplit(" +", 1) for part in line.split(": ", 1)[1].split(", "))
    assert float(seen["cuda_graphs_captured"].removesuffix(" s")) >= 0.9 * 1.5 - 0.2
    assert float(seen["weights_loaded"].removesuffix(" s")) >= 0.4 * 1.5 - 0.2
    assert float(seen["healthy"].removesuffix(" s")) == total
    assert summary >= container.wait_for("The server is fired up and ready to roll!")


@pytest.mark.parametrize("primitive", ["server", "web_server"])
def test_missing_weights_say_so_in_one_line_and_never_start_sglang(tmp_path, primitive):
    """A replica whose Volume lacks the weights (setup never ran, or another revision): one line
    naming what is missing and how to fix it, a non-zero exit, and no SGLang process."""
    app, _, _ = _render(tmp_path, primitive, weights=False)
    container = Container(app, primitive, tmp_path)
    try:
        assert container.exit_code(timeout=60) != 0
        container.wait_for("weights missing from the Volume:")
        [line] = [x for x in container.log.splitlines() if "weights missing" in x]
        assert "has no config.json; run `make setup PROFILE=" in line
        assert "fake-sglang" not in container.log and not container.sglang_alive()
    finally:
        container.tear_down()
