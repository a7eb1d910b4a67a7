"""What a replica costs and how long it takes to start (and so how much a start is billed).

Prices come from the hardware catalog (or the profile's `pricing`), start-up terms from
generator/catalog/platform.yaml; the weights read scales with the checkpoint size capacity/memory.py
resolves. `plan` and the rules both read this module; it imports neither.
"""

from __future__ import annotations

from dataclasses import dataclass

from generator import catalog
from generator.capacity.memory import GB, checkpoint
from generator.profile.checkpoint import known_model
from generator.profile.deployment import Deployment

# --- Cold start --------------------------------------------------------------------------


@dataclass(frozen=True)
class ColdStart:
    components: tuple[tuple[str, float], ...]  # with the DeepGEMM cache warm
    deepgemm_jit_seconds: float
    deepgemm_cached_seconds: float
    volume_read_gbps: float

    @property
    def seconds(self) -> float:
        """Cold start with a precompiled DeepGEMM cache (after `make setup`)."""
        return sum(seconds for _, seconds in self.components)

    @property
    def seconds_jit(self) -> float:
        """Cold start when the DeepGEMM cache is empty for this GPU and SGLang build."""
        return self.seconds - self.deepgemm_cached_seconds + self.deepgemm_jit_seconds


def cold_start(d: Deployment) -> ColdStart | None:
    """image pull + checkpoint GB / volume GB/s + SGLang init + DeepGEMM + CUDA graph capture.

    Every term is a catalog assumption (generator/catalog/platform.yaml) except the weights read,
    which scales with the model's checkpoint. EAGLE adds the draft model's graph capture.
    """
    model = known_model(d)
    if model is None:
        return None
    # Every node of a cluster reads its own part of the weights, all at once.
    checkpoint_gb = checkpoint(d, model).bytes / GB / d.nodes
    a = catalog.platform().cold_start
    graphs = a.cuda_graph_capture_seconds
    if d.sglang.speculative.enabled:
        graphs += a.cuda_graph_capture_speculative_extra_seconds
    components = (
        ("image pull", a.image_pull_seconds),
        (
            "weights read from volume" + (f" (1/{d.nodes} per node)" if d.cluster else ""),
            checkpoint_gb / a.volume_read_gbps,
        ),
        ("SGLang and NCCL init", a.sglang_init_seconds),
        ("DeepGEMM kernels (cached)", a.deepgemm_cached_seconds),
        ("CUDA graph capture", graphs),
    )
    return ColdStart(
        components, a.deepgemm_jit_seconds, a.deepgemm_cached_seconds, a.volume_read_gbps
    )


# --- Cost ------------------------------------------------------------------------------------


def gpu_hour_price(d: Deployment) -> tuple[float, str]:
    """The profile's `pricing.gpu_hour_usd` if set, else the hardware catalog's, with its source;
    times Modal's region multiplier when serving.compute_region pins the containers."""
    if d.pricing is not None:
        price, source = d.pricing.gpu_hour_usd, d.pricing.source or "profile pricing.gpu_hour_usd"
    else:
        gpu = catalog.gpu(d.gpu.type)
        price, source = gpu.gpu_hour_usd, f"catalog: {gpu.price_source} (seen {gpu.price_seen})"
    regions = d.serving.compute_region if d.serving.is_server else None
    if regions:
        m = catalog.platform().region_multiplier
        # Several regions: the broadest one's (smaller) multiplier, as Modal's page says.
        factor = m.broad if any("-" not in r for r in regions) else m.narrow
        price, source = price * factor, f"{source}; x{factor} for compute_region ({m.source})"
    return price, source


def replica_hour_usd(d: Deployment) -> float:
    """GPU price x GPUs per replica, every node of a cluster included (CPU and memory of the
    containers are not included)."""
    return gpu_hour_price(d)[0] * d.gpus_per_replica


def idle_cost_per_month_usd(d: Deployment) -> float:
    """min_containers x replica-hour x hours per month: billed with no traffic at all.

    buffer_containers only add replicas while the function is busy, so they are not in the floor.
    """
    return d.autoscaling.min_containers * replica_hour_usd(d) * catalog.platform().hours_per_month


def scaledown_tail_usd(d: Deployment) -> float:
    """replica-hour x scaledown_window / 3600: what a replica costs idling after its last request."""
    return replica_hour_usd(d) * d.autoscaling.scaledown_window / 3600


def cost_per_month_usd(d: Deployment, utilization: float) -> float:
    """replica-hour x hours per month x max(utilization, min_containers).

    utilization = average replicas busy over the month (0.3: one replica busy 30% of the time).
    Scaledown tails and cold starts of each burst come on top (see their own figures).
    """
    busy = max(utilization, d.autoscaling.min_containers)
    return replica_hour_usd(d) * catalog.platform().hours_per_month * busy
