"""`python -m sglang.launch_server` stand-in: SGLang's flags in, SGLang's HTTP surface out.

Like SGLang 0.5.23 it logs to stdout, answers /health with 503 until loaded, takes the API key
from --api-key, writes a FlashInfer autotune result under SGLANG_CACHE_DIR at start, and on
SIGTERM drains as SGLang does: /health answers 503 but new requests are still served, running
ones finish, then it exits 0; a dead scheduler ends it by SIGKILL (exit code -9). It prints the
`server_args=` line with the API key in it, as SGLang does. Switches (environment):
FAKE_SGLANG_STARTUP_S (load time), FAKE_SGLANG_TPOT_S (per token), FAKE_SGLANG_EXIT_AT_START
(exit with this code while loading), FAKE_SGLANG_CRASH_AFTER_S (exit 3 this long after start),
FAKE_SGLANG_PID_FILE (write the pid, so a test can tear the "container" down),
FAKE_SGLANG_ARGV_FILE (write the argv it was started with, as JSON), FAKE_SGLANG_LOG_FORMAT
(0.5.10 or 0.5.23: the `server_args=` line as that version prints it, API key included),
FAKE_SGLANG_VERSION (0.5.17: that version's null prompt_tokens_details on a cache miss).

Across nodes (--nnodes > 1) it does what SGLang 0.5.23 does where a test can see it: the address
in --dist-init-addr is parsed as `NetworkAddress.parse` does (an IPv6 literal must be bracketed),
rank 0 listens there and answers /health only once every rank has joined; a rank >= 1 joins it,
serves no API, only SGLang's dummy /health once joined (engine.py
`launch_dummy_health_check_server`), ignores SIGTERM and exits when rank 0 stops
(the ShutdownReq broadcast). A rank whose peer vanishes dies, as NCCL would make it.
"""

from __future__ import annotations

import argparse
import dataclasses
import http.server
import ipaddress
import json
import logging
import os
import signal
import socket
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
    parser.add_argument("--nnodes", type=int, default=1)
    parser.add_argument("--node-rank", type=int, default=0)
    parser.add_argument("--dist-init-addr")
    parser.add_argument("--context-length", type=int)
    parser.add_argument("--enable-cache-report", action="store_true")
    parser.add_argument("--grammar-backend")
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
    if args.nnodes > 1 and args.node_rank > 0:
        return _follower(args)
    peers = _rendezvous(args) if args.nnodes > 1 else []
    config = FakeConfig(
        model=args.served_model_name,
        api_key=args.api_key or "",
        no_auth=args.api_key is None,
        startup_s=float(env.get("FAKE_SGLANG_STARTUP_S", "0")),
        tpot_s=float(env.get("FAKE_SGLANG_TPOT_S", "0")),
        log_requests=True,
        context_length=args.context_length,
        cache_report=args.enable_cache_report,
        no_grammar=args.grammar_backend == "none",
        server_info=_server_info(sys.argv[1:]),
        # FAKE_SGLANG_VERSION=0.5.17: that version's usage (the real-engine lane's SGLang).
        null_details_on_miss=env.get("FAKE_SGLANG_VERSION") == "0.5.17",
    )
    server = FakeSGLang(config)
    _log_server_args(args)
    threading.Thread(target=_load_log, args=(config.startup_s,), daemon=True).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    server.start_on(args.port)
    print(f"fake-sglang: serving on 127.0.0.1:{args.port}", flush=True)
    for peer in peers:  # a rank that vanishes takes the collectives down with it
        threading.Thread(target=_watch_peer, args=(peer, stop), daemon=True).start()
    crash_after = env.get("FAKE_SGLANG_CRASH_AFTER_S")
    if stop.wait(float(crash_after) if crash_after else None) and not _peer_lost.is_set():
        # tokenizer_manager.py:4067 (SignalHandler.sigterm_handler), then sigterm_watchdog.
        print("SIGTERM received. Draining requests and shutting down...", flush=True)
        print(f"fake-sglang: SIGTERM, draining {server.in_flight} request(s)", flush=True)
        server.drain(poll_s=0.2, log=lambda line: print(line, flush=True))
        server.stop()
        for peer in peers:  # the ShutdownReq broadcast: every rank stops
            peer.close()
        print("fake-sglang: drained, exiting", flush=True)
        return 0
    # A scheduler died: SGLang's watchdog logs it and sends itself SIGQUIT
    # (srt/utils/watchdog.py:216-221); the handler kills the process tree, itself included
    # (tokenizer_manager.py:4072-4081 -> srt/utils/common.py kill_process_tree: `itself.kill()`),
    # so the launcher ends by SIGKILL: exit code -9, as the real run showed.
    print("fake-sglang: scheduler died", flush=True)
    print(
        "Subprocess scheduler_0 (pid=0) crashed with exit code -9. Triggering SIGQUIT for "
        "cleanup...",
        flush=True,
    )
    time.sleep(0.5)  # the real one took seconds from this line to its end (real-engine-run.md)
    os.kill(os.getpid(), signal.SIGKILL)
    return 3  # not reached


_peer_lost = threading.Event()


@dataclasses.dataclass
class ServerArgs:
    """A few of SGLang's ServerArgs fields, in its order (api_key after the port's group)."""

    model_path: str
    port: int
    api_key: str | None
    admin_api_key: str | None = None
    watermark_key: str | None = None


def _log_server_args(args: argparse.Namespace) -> None:
    """The start line SGLang prints, through logging with SGLang's format (srt/utils/common.py
    `configure_logger`: "[%(asctime)s] %(message)s"). 0.5.10 srt/entrypoints/engine.py:181
    `logger.info(f"{server_args=}")` prints the dataclass repr; 0.5.23 engine.py:311
    `logger.info(f"server_args={_server_args_for_logging(server_args)}")` prints a dict
    (`resolved_dict()` with only the watermark secrets hidden)."""
    version = os.environ.get("FAKE_SGLANG_LOG_FORMAT")
    if not version:
        # 0.5.17's form, as a real run printed it (../shared/reference/real-engine-run.md),
        # the key included: SGLang does not hide it.
        key = "None" if args.api_key is None else repr(args.api_key)
        print(
            f"server_args=ServerArgs(model_path='fake', port={args.port}, api_key={key})",
            flush=True,
        )
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("[%(asctime)s] %(message)s", "%Y-%m-%d %H:%M:%S"))
    logger = logging.getLogger("sglang.srt.entrypoints.engine")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    server_args = ServerArgs("/models/fake", args.port, args.api_key)
    if version == "0.5.10":
        logger.info(f"{server_args=}")
    else:
        resolved = {**dataclasses.asdict(server_args), "watermark_key": None}
        logger.info(f"server_args={resolved}")
    handler.flush()


def _server_info(argv: list[str]) -> dict:
    """/server_info: SGLang returns every ServerArgs field (`dataclasses.asdict`), `api_key`
    too (0.5.17 http_server.py:781-800; the real-engine lane found the key there); here the ones
    the flags set, by dest, values as given."""
    info = {}
    for option, value in zip(argv, [*argv[1:], ""], strict=True):
        if option.startswith("--"):
            has_value = value and not value.startswith("--")
            info[option[2:].replace("-", "_")] = value if has_value else True
    return info


def _address(text: str) -> tuple[str, int]:
    """`host:port` as SGLang's NetworkAddress.parse reads it: IPv6 only in brackets."""
    if text.startswith("["):
        host, _, port = text[1:].partition("]:")
        ipaddress.IPv6Address(host)
        return host, int(port)
    host, _, port = text.rpartition(":")
    if ":" in host:
        raise ValueError(f"bare IPv6 address is ambiguous: {text!r}")
    return host, int(port)


def _rendezvous(args) -> list[socket.socket]:
    """Rank 0: listen at --dist-init-addr until every other rank has joined."""
    host, port = _address(args.dist_init_addr)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", port))
    listener.listen()
    print(f"fake-sglang: rank 0 waiting for {args.nnodes - 1} rank(s) at {host}:{port}", flush=True)
    peers = []
    while len(peers) < args.nnodes - 1:
        peer, _ = listener.accept()
        rank = peer.recv(16).decode().strip()
        print(f"fake-sglang: rank {rank} joined", flush=True)
        peers.append(peer)
    listener.close()
    return peers


def _watch_peer(peer: socket.socket, stop: threading.Event) -> None:
    try:
        data = peer.recv(1)
    except OSError:  # closed by this rank's own shutdown
        return
    if not data and not stop.is_set():
        print("fake-sglang: a rank left the process group", flush=True)
        _peer_lost.set()
        stop.set()


def _follower(args) -> int:
    """Rank >= 1: join rank 0, serve only /health, exit when rank 0 stops."""
    host, port = _address(args.dist_init_addr)
    deadline = time.monotonic() + 30
    while True:
        try:
            link = socket.create_connection((host, port), timeout=5)
            break
        except OSError:
            if time.monotonic() > deadline:
                print(f"fake-sglang: rank 0 at {args.dist_init_addr} never answered", flush=True)
                return 1
            time.sleep(0.2)
    link.sendall(f"{args.node_rank}\n".encode())
    print(f"fake-sglang: rank {args.node_rank} joined {args.dist_init_addr}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: print("fake-sglang: SIGTERM ignored", flush=True))

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200 if self.path.startswith("/health") else 404)
            self.end_headers()

        def log_message(self, *_):
            pass

    health = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Health)
    threading.Thread(target=health.serve_forever, daemon=True).start()
    link.settimeout(None)
    link.recv(1)  # rank 0's ShutdownReq (or its death)
    print("fake-sglang: rank 0 stopped; exiting", flush=True)
    return 0


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
