"""Clusters (`cluster:`): one replica across several nodes, as Modal and SGLang allow it.

Modal's rules are read from modal 1.6.4: `modal.clustered` (modal/_partial_function.py) says
each container must request all GPUs on its host, clustered web Functions are not supported (use a
Server), and Server requests go to rank 0 only; `_Function._from_local` (modal/_functions.py)
refuses min/max/buffer containers that are not multiples of the cluster size.
"""

from __future__ import annotations

from generator import catalog
from generator.profile.deployment import DIST_INIT_PORT, Deployment
from generator.rules.engine import Finding, rule

_CLUSTERED = "modal 1.6.4 modal/_partial_function.py `_clustered`"


@rule(
    "cluster-web-server",
    "error",
    "A cluster with the web_server primitive: Modal serves clustered HTTP only as a Server.",
    f'{_CLUSTERED} ("clustered Web Functions are not supported")',
)
def _cluster_web_server(d: Deployment):
    if d.cluster and not d.serving.is_server:
        yield Finding(
            "Modal does not support clustered web Functions; set serving.primitive: server "
            "(requests then go to rank 0, which runs SGLang's HTTP server). "
            f"Found: cluster.nodes={d.nodes}, serving.primitive={d.serving.primitive}",
            ("serving", "primitive"),
        )


@rule(
    "cluster-autoscaling-multiple",
    "error",
    "Autoscaling counts of a cluster that are not multiples of its size.",
    'modal 1.6.4 modal/_functions.py `_Function._from_local` ("must be a multiple of '
    '`cluster_size`")',
)
def _cluster_autoscaling(d: Deployment):
    if not d.cluster:
        return
    for field in ("min_containers", "max_containers", "buffer_containers"):
        value = getattr(d.autoscaling, field)
        if value % d.nodes:
            yield Finding(
                f"Modal counts containers, not replicas: with {d.nodes} nodes per replica, "
                f"{field} must be a multiple of {d.nodes} ({d.nodes} x replicas). "
                f"Found: autoscaling.{field}={value}, cluster.nodes={d.nodes}",
                ("autoscaling", field),
            )


@rule(
    "cluster-partial-host",
    "error",
    "A clustered container that does not take every GPU of its host.",
    f'{_CLUSTERED} ("Each container must request all GPUs on its host")',
)
def _cluster_partial_host(d: Deployment):
    if d.cluster:
        host = catalog.gpu(d.gpu.type).gpus_per_host
        if d.gpu.count != host:
            yield Finding(
                f"each container of a Modal cluster takes all {host} {d.gpu.type} GPUs of its "
                f"host; set gpu.count: {host}. Found: gpu.count={d.gpu.count}",
                ("gpu", "count"),
            )


@rule(
    "cluster-fallback-gpus",
    "error",
    "Fallback GPU types with a cluster: every rank must run one GPU type and one flag set.",
    _CLUSTERED,
)
def _cluster_fallback(d: Deployment):
    if d.cluster and d.gpu.fallback:
        yield Finding(
            "SGLang's ranks share one sharding and one set of kernels, so a cluster must be one "
            "GPU type; a ranked GPU list could start ranks of different types (and the container "
            "picks its flag set by its own GPU). Remove gpu.fallback. "
            f"Found: gpu.type={d.gpu.type}, gpu.fallback={[f.type for f in d.gpu.fallback]}",
            ("gpu", "fallback"),
        )


@rule(
    "cluster-layout",
    "error",
    "A cluster whose parallel sizes do not cover its GPUs as cluster.parallelism says.",
)
def _cluster_layout(d: Deployment):
    if not d.cluster:
        return
    tp, want = d.sglang.tensor_parallel_size, d.gpu.count
    if d.cluster.parallelism == "tensor":
        want = d.gpus_per_replica
    if tp != want:
        yield Finding(
            f"cluster.parallelism: {d.cluster.parallelism} runs "
            + (
                f"one TP group over all {d.nodes} x {d.gpu.count} GPUs"
                if d.cluster.parallelism == "tensor"
                else f"TP within each node and one pipeline stage per node (--pp-size {d.nodes})"
            )
            + f"; set sglang.tensor_parallel_size: {want}. "
            f"Found: tensor_parallel_size={tp}, cluster.nodes={d.nodes}, gpu.count={d.gpu.count}",
            ("sglang", "tensor_parallel_size"),
        )


@rule(
    "cluster-tensor-without-rdma",
    "warning",
    "Tensor parallelism across nodes without RDMA.",
    "modal.com/docs/guide/multi-node-clusters (3,200 Gbps RDMA vs the private network)",
)
def _cluster_without_rdma(d: Deployment):
    c = d.cluster
    if c and not c.rdma and c.parallelism == "tensor":
        yield Finding(
            "TP across nodes all-reduces every layer's activations between the nodes for every "
            "token; without RDMA that runs over the private IP network (Modal: 3,200 Gbps RDMA "
            "vs far less on the private network), adding latency to every token. Set "
            "cluster.rdma: true, or cluster.parallelism: pipeline (one hop per stage). "
            "Found: cluster.rdma=false, cluster.parallelism=tensor",
            ("cluster", "rdma"),
        )


@rule(
    "cluster-port-collision",
    "error",
    "sglang.port among the ports a cluster's rendezvous takes on rank 0.",
    "SGLang 0.5.23 srt/server_args.py (`port_base = dist_init_port + 1`, six ports)",
)
def _cluster_port(d: Deployment):
    taken = range(DIST_INIT_PORT, DIST_INIT_PORT + 7)
    if d.cluster and d.sglang.port in taken:
        yield Finding(
            f"rank 0 holds ports {taken.start}-{taken.stop - 1} for torch.distributed and "
            f"SGLang's own sockets (--dist-init-addr); choose another sglang.port. "
            f"Found: sglang.port={d.sglang.port}",
            ("sglang", "port"),
        )
