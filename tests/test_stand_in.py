"""The stand-in SGLang (tests/fake_sglang_pkg) behaves as SGLang does where the app depends on
it; each behaviour is cited in the stand-in's source. The container tests read its log."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

TESTS = Path(__file__).parent


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _health(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except urllib.error.URLError:
        return 0


def _start(port: int, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "sglang.launch_server", "--port", str(port), "--api-key", "k-9"],
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(TESTS / "fake_sglang_pkg"), str(TESTS)]),
            **env,
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_it_logs_server_args_with_the_key_and_exits_0_after_a_drain():
    """SGLang prints the key in its `server_args=` line (engine.py); redaction is the app's job."""
    port = _port()
    process = _start(port)
    deadline = time.monotonic() + 20
    while _health(port) != 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _health(port) == 200, "the stand-in never served"
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=20)
    assert "server_args=ServerArgs(" in out and "api_key='k-9'" in out
    assert "Gracefully exiting... Remaining number of requests 0." in out
    assert process.returncode == 0


def test_a_dead_scheduler_ends_it_by_sigkill():
    process = _start(_port(), FAKE_SGLANG_CRASH_AFTER_S="0.5")
    out, _ = process.communicate(timeout=20)
    assert "crashed with exit code -9. Triggering SIGQUIT" in out
    assert process.returncode == -signal.SIGKILL
