"""A clustered replica's container code, two ranks on two stand-in hosts.

Modal's cluster and two 8x B200 nodes cannot exist here. Each rank runs the rendered app's own
container code (tests/container_runner.py, as in test_container.py) in a network namespace of
its own, the two joined by a veth pair with IPv6 addresses, as Modal gives a cluster's containers
on its private network; the runner sets the cluster context Modal's control plane would answer
(rank, container IPs). SGLang is the stand-in of tests/fake_sglang_pkg, which does SGLang's
multi-node start where a test can see it (see its docstring).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from test_container import API_KEY, Container, _render

from generator import PROFILES_DIR, REPO_ROOT
from generator.pipeline import load

sys.path.insert(0, str(REPO_ROOT / "scripts"))
from sglang_manifest import real_parse  # noqa: E402

CLUSTER_PROFILE = PROFILES_DIR / "glm51-bf16-cluster.yaml"
ADDRESSES = ("fd18::1", "fd18::2")  # the two stand-in hosts, on a private IPv6 subnet


@pytest.fixture
def hosts():
    """Two network namespaces joined by a veth pair; each entry: (command prefix, IPv6)."""
    if os.geteuid() != 0 or not shutil.which("ip"):
        pytest.skip("network namespaces need root and iproute2")
    tag = str(os.getpid() % 100000)
    names, devices = (f"mc{tag}a", f"mc{tag}b"), (f"mc{tag}va", f"mc{tag}vb")

    def ip(*args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)

    try:
        for name in names:
            ip("netns", "add", name)
        ip("link", "add", devices[0], "type", "veth", "peer", "name", devices[1])
        for name, device, address in zip(names, devices, ADDRESSES, strict=True):
            ip("link", "set", device, "netns", name)
            ip("-n", name, "link", "set", "lo", "up")
            ip("-n", name, "addr", "add", f"{address}/64", "dev", device, "nodad")
            ip("-n", name, "link", "set", device, "up")
        yield [
            (("ip", "netns", "exec", name), address)
            for name, address in zip(names, ADDRESSES, strict=True)
        ]
    finally:
        for name in names:  # deleting a namespace deletes its end of the veth pair
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)


@pytest.fixture
def cluster(tmp_path, hosts):
    """cluster(**switches) -> (rank 0, rank 1, port): both containers of one replica."""
    app, port, _ = _render(tmp_path, "server", parent=CLUSTER_PROFILE)
    started: list[Container] = []

    def start(rank: int, **switches: str) -> Container:
        prefix, _ = hosts[rank]
        container = Container(
            app,
            "server",
            tmp_path,
            prefix=prefix,
            FAKE_CLUSTER_RANK=str(rank),
            FAKE_CLUSTER_IPS=",".join(ADDRESSES),
            FAKE_SGLANG_ARGV_FILE=str(tmp_path / f"argv{rank}.json"),
            **switches,
        )
        started.append(container)
        return container

    yield start, port, hosts
    for container in started:
        container.tear_down()


def _argv(tmp: Path, rank: int) -> list[str]:
    return json.loads((tmp / f"argv{rank}.json").read_text())


def _value(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def test_rank_0_is_ready_only_after_rank_1_joined(cluster, tmp_path):
    start, _, _ = cluster
    rank0 = start(0)
    rank0.wait_for("fake-sglang: rank 0 waiting for 1 rank(s) at fd18::1:20000")
    time.sleep(1.5)
    assert "runner: ready" not in rank0.log  # its /health waits for the other rank
    rank1 = start(1)
    joined = rank0.wait_for("fake-sglang: rank 1 joined")
    assert rank0.wait_for("runner: ready") >= joined
    assert rank1.wait_for("runner: ready") >= rank1.wait_for("joined [fd18::1]:20000")
    assert "cluster rank 1 of 2; rank 0 at fd18::1" in rank1.log

    # Each rank its own --node-rank, one --dist-init-addr (IPv6 in brackets, as SGLang parses it).
    argvs = [_argv(tmp_path, rank) for rank in (0, 1)]
    assert [_value(a, "--node-rank") for a in argvs] == ["0", "1"]
    assert {_value(a, "--dist-init-addr") for a in argvs} == {"[fd18::1]:20000"}
    assert all(_value(a, "--nnodes") == "2" and _value(a, "--tp-size") == "16" for a in argvs)


@pytest.mark.slow
def test_every_ranks_argv_is_accepted_by_the_real_parser(cluster, tmp_path):
    """What each container really started SGLang with, judged by the pinned SGLang's parser."""
    start, _, _ = cluster
    ranks = [start(0), start(1)]
    for container in ranks:
        container.wait_for("runner: ready")
    version = load(CLUSTER_PROFILE).deployment.sglang.version
    verdicts = real_parse(version, [_argv(tmp_path, rank) for rank in (0, 1)])
    assert all(v["ok"] and not v["warnings"] for v in verdicts), verdicts


def test_killing_rank_1s_sglang_ends_its_container(cluster):
    start, _, _ = cluster
    rank0, rank1 = start(0), start(1)
    rank1.wait_for("runner: ready")
    os.kill(rank1._sglang_pid()[0], signal.SIGKILL)
    assert rank1.exit_code(timeout=20) == 1
    assert "SGLang exited with code -9; stopping the container" in rank1.log
    # The stand-in's rank 0 then loses its peer, as NCCL would fail it: that container ends too.
    assert rank0.exit_code(timeout=20) == 1
    assert "fake-sglang: a rank left the process group" in rank0.log


def test_sigterm_on_rank_0_drains_an_in_flight_request(cluster):
    start, port, hosts = cluster
    rank0, rank1 = start(0, FAKE_SGLANG_TPOT_S="0.1"), start(1)
    rank0.wait_for("runner: ready")
    rank1.wait_for("runner: ready")
    client_code = textwrap.dedent(f"""
        import json, urllib.request
        body = {{"model": "glm-5.1", "messages": [{{"role": "user", "content": "hi"}}],
                 "max_tokens": 30, "ignore_eos": True}}
        request = urllib.request.Request(
            "http://127.0.0.1:{port}/v1/chat/completions", data=json.dumps(body).encode(),
            headers={{"Authorization": "Bearer {API_KEY}", "Content-Type": "application/json"}})
        with urllib.request.urlopen(request, timeout=60) as response:
            print(json.loads(response.read())["usage"]["completion_tokens"])
    """)
    # The client runs on rank 0's host: Modal routes every request to rank 0.
    client = subprocess.Popen(
        [*hosts[0][0], sys.executable, "-c", client_code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    rank0.wait_for("fake-sglang: request in, 1 running")
    rank0.process.send_signal(signal.SIGTERM)  # Modal stopping the replica
    assert rank0.exit_code(timeout=30) == 0, rank0.log
    out, err = client.communicate(timeout=30)
    assert out.strip() == "30", err
    assert "fake-sglang: drained, exiting" in rank0.log
    rank1.wait_for("fake-sglang: rank 0 stopped; exiting")
