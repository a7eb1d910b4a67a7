"""`python -m sglang.launch_server` stand-in: SGLang's flags in, SGLang's HTTP surface out.

Like SGLang 0.5.23 it logs to stdout, answers /health with 503 until loaded, takes the API key
from --api-key, writes a FlashInfer autotune result under SGLANG_CACHE_DIR at start, and on
SIGTERM refuses new requests, lets running ones finish, then exits 0. Switches (environment):
FAKE_SGLANG_STARTUP_S (load time), FAKE_SGLANG_TPOT_S (per token), FAKE_SGLANG_EXIT_AT_START
(exit with this code while loading), FAKE_SGLANG_CRASH_AFTER_S (exit 3 this long after start),
FAKE_SGLANG_PID_FILE (write the pid, so a test can tear the "container" down),
FAKE_SGLANG_ARGV_FILE (write the argv it was started with, as JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

from fake_sglang import FakeConfig, FakeSGLang


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--api-key")
    parser.add_argument("--served-model-name", default="fake")
    args, _ = parser.parse_known_args()
    env = os.environ
    if env.get("FAKE_SGLANG_PID_FILE"):
        Path(env["FAKE_SGLANG_PID_FILE"]).write_text(str(os.getpid()))
    if env.get("FAKE_SGLANG_ARGV_FILE"):
        Path(env["FAKE_SGLANG_ARGV_FILE"]).write_text(json.dumps(sys.argv[1:]))
    cache_root = env.get("SGLANG_CACHE_DIR", "")
    print(f"fake-sglang: port {args.port}, SGLANG_CACHE_DIR={cache_root}", flush=True)
    if env.get("FAKE_SGLANG_EXIT_AT_START"):
        time.sleep(0.5)
        print("fake-sglang: failed while loading weights", flush=True)
        return int(env["FAKE_SGLANG_EXIT_AT_START"])
    autotune = Path(cache_root, "flashinfer", "autotune", "sm100", "rank_tp0.json")
    if cache_root and not autotune.exists():
        autotune.parent.mkdir(parents=True, exist_ok=True)
        autotune.write_text('{"tactics": "tuned"}')
        print(f"fake-sglang: autotuned, wrote {autotune}", flush=True)
    config = FakeConfig(
        model=args.served_model_name,
        api_key=args.api_key or "",
        no_auth=args.api_key is None,
        startup_s=float(env.get("FAKE_SGLANG_STARTUP_S", "0")),
        tpot_s=float(env.get("FAKE_SGLANG_TPOT_S", "0")),
        log_requests=True,
    )
    server = FakeSGLang(config)
    print(f"server_args=ServerArgs(model_path='fake', port={args.port})", flush=True)
    threading.Thread(target=_load_log, args=(config.startup_s,), daemon=True).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    server.start_on(args.port)
    print(f"fake-sglang: serving on 127.0.0.1:{args.port}", flush=True)
    crash_after = env.get("FAKE_SGLANG_CRASH_AFTER_S")
    if stop.wait(float(crash_after) if crash_after else None):
        print(f"fake-sglang: SIGTERM, draining {server.in_flight} request(s)", flush=True)
        server.drain()
        server.stop()
        print("fake-sglang: drained, exiting", flush=True)
        return 0
    print("fake-sglang: scheduler died", flush=True)
    return 3


def _load_log(startup_s: float) -> None:
    """SGLang 0.5.23's own start-up lines (generator/sglang/logs.py cites each), spread over
    the load time: weights by 40%, CUDA graphs by 90%, ready at 100%."""
    start = time.monotonic()
    for share, line in (
        (0.3, "Load weight end. elapsed=1.00 s, type=GlmMoeDsaForCausalLM, avail mem=1.00 GB."),
        (0.4, "Load weight end. elapsed=0.10 s, type=GlmMoeDsaForCausalLMNextN (the draft)."),
        (0.8, "Capture target verify CUDA graph end. elapsed=1.00 s, mem usage=1.00 GB."),
        (0.9, "Capture draft decode CUDA graph end. elapsed=0.50 s, mem usage=0.50 GB."),
        (1.0, "The server is fired up and ready to roll!"),
    ):
        time.sleep(max(0.0, start + share * startup_s - time.monotonic()))
        print(line, flush=True)


if __name__ == "__main__":
    sys.exit(main())
