"""The deployment model: a frozen, typed view of a validated profile plus the values derived from it."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any, get_args, get_type_hints

from generator.profile.load import Profile


def _build(cls, data: dict[str, Any]):
    """Build a (nested) frozen dataclass from validated profile data."""
    hints = get_type_hints(cls)
    kwargs = {}
    for f in fields(cls):
        value = data.get(f.name)
        hint = hints[f.name]
        # An optional section (`Pricing | None`) is built when present and stays None when absent.
        nested = next((t for t in (hint, *get_args(hint)) if is_dataclass(t)), None)
        if nested is not None and isinstance(value, dict):
            value = _build(nested, value)
        elif isinstance(value, dict):
            value = tuple(sorted(value.items()))
        elif isinstance(value, list):
            # A list of sections (`tuple[Fallback, ...]`) builds each item.
            item = next((t for t in get_args(hint) if is_dataclass(t)), None)
            value = tuple(_build(item, v) if item else v for v in value)
        kwargs[f.name] = value
    return cls(**kwargs)


@dataclass(frozen=True)
class Volume:
    name: str
    mount_path: str


@dataclass(frozen=True)
class Secret:
    name: str
    key: str


@dataclass(frozen=True)
class Model:
    id: str
    revision: str
    served_model_name: str
    trust_remote_code: bool

    @property
    def pinned(self) -> bool:
        """A commit sha, not a branch or tag that can move."""
        return re.fullmatch(r"[0-9a-f]{40}", self.revision) is not None


@dataclass(frozen=True)
class Fallback:
    """A GPU type Modal may start instead of the primary, and what differs on it."""

    type: str
    mem_fraction_static: float | None = None
    max_running_requests: int | None = None
    attention_backend: str | None = None
    enable_flashinfer_allreduce_fusion: bool | None = None
    sparse_prefill_backend: str | None = None
    sparse_decode_backend: str | None = None
    moe_runner_backend: str | None = None


@dataclass(frozen=True)
class Gpu:
    type: str
    count: int
    fallback: tuple[Fallback, ...] = ()

    @property
    def modal_spec(self) -> str:
        return f"{self.type}:{self.count}"

    @property
    def types(self) -> tuple[str, ...]:
        """The GPU types Modal may start, in the order it tries them."""
        return (self.type, *(f.type for f in self.fallback))

    @property
    def modal_specs(self) -> tuple[str, ...]:
        return tuple(f"{t}:{self.count}" for t in self.types)


@dataclass(frozen=True)
class Cluster:
    """One replica across several nodes: a Modal cluster of `nodes` containers, one per host."""

    nodes: int
    rdma: bool
    parallelism: str  # "tensor" (TP over every GPU) or "pipeline" (TP per node, a stage per node)

    @property
    def pipeline_parallel_size(self) -> int:
        return self.nodes if self.parallelism == "pipeline" else 1


@dataclass(frozen=True)
class DownloadImage:
    python_version: str
    huggingface_hub_version: str


@dataclass(frozen=True)
class ServeImage:
    repository: str
    tag: str
    allow_latest: bool

    @property
    def ref(self) -> str:
        return f"{self.repository}:{self.tag}"


@dataclass(frozen=True)
class Images:
    download: DownloadImage
    serve: ServeImage


@dataclass(frozen=True)
class Volumes:
    weights: Volume
    deepgemm_cache: Volume


@dataclass(frozen=True)
class Secrets:
    huggingface: Secret
    api_key: Secret
    extra: tuple[str, ...] = ()  # further Modal Secrets the serving containers read


@dataclass(frozen=True)
class Auth:
    require_api_key: bool


@dataclass(frozen=True)
class Serving:
    """How Modal exposes SGLang; the fields after `primitive` are a Server's only."""

    primitive: str  # "web_server" or "server"
    exit_grace_period: int
    target_concurrency: float | None
    max_concurrency: int | None
    routing_region: str
    compute_region: tuple[str, ...] | None
    proxy_auth: bool

    @property
    def is_server(self) -> bool:
        return self.primitive == "server"


@dataclass(frozen=True)
class Speculative:
    enabled: bool
    algorithm: str
    num_steps: int
    eagle_topk: int
    num_draft_tokens: int


@dataclass(frozen=True)
class Attention:
    backend: str | None
    sparse_prefill_backend: str | None
    sparse_decode_backend: str | None


@dataclass(frozen=True)
class SGLang:
    version: str
    port: int
    tensor_parallel_size: int
    data_parallel_size: int
    enable_dp_attention: bool
    expert_parallel_size: int
    moe_a2a_backend: str | None
    deepep_mode: str | None
    moe_dense_tp_size: int | None
    kv_cache_dtype: str
    mem_fraction_static: float
    max_running_requests: int
    context_length: int | None
    chunked_prefill_size: int | None
    max_prefill_tokens: int | None
    reasoning_parser: str | None
    tool_call_parser: str | None
    speculative: Speculative
    attention: Attention
    moe_runner_backend: str | None
    enable_flashinfer_allreduce_fusion: bool
    enable_metrics: bool
    enable_cache_report: bool
    watchdog_timeout: float | None
    recipe: str | None  # the upstream recipe's mode to check against; None: chosen by TP
    extra_args: tuple[str, ...]
    env: tuple[tuple[str, str], ...]

    @property
    def attention_dp_size(self) -> int:
        """Attention data-parallel groups inside the TP group (1 without DP attention)."""
        return self.data_parallel_size if self.enable_dp_attention else 1

    @property
    def attention_tp_size(self) -> int:
        """GPUs one attention group spans: TP / DP under DP attention (SGLang's attn_tp_size)."""
        return max(1, self.tensor_parallel_size // self.attention_dp_size)


@dataclass(frozen=True)
class Autoscaling:
    min_containers: int
    max_containers: int
    buffer_containers: int
    scaledown_window: int
    idle_cost_acknowledged: bool


@dataclass(frozen=True)
class Concurrency:
    max_inputs: int
    target_inputs: int | None


@dataclass(frozen=True)
class Timeouts:
    container: int
    startup: int
    download: int
    precompile: int

    @property
    def compile_deep_gemm(self) -> int:
        """compile_deep_gemm's own wait: what the setup function's timeout leaves after the full
        start that follows it (startup) and 5 minutes for the commit."""
        return max(60, self.precompile - self.startup - 300)


@dataclass(frozen=True)
class Pricing:
    """A profile's own GPU price; absent, `make plan` uses the hardware catalog's."""

    gpu_hour_usd: float
    source: str | None


@dataclass(frozen=True)
class Release:
    """The release gates a canary must pass before it is promoted (generator/operate/release.py)."""

    canary: bool
    smoke: bool
    probe_min_accuracy: float | None
    ttft_p50_ms: float | None
    tpot_p50_ms: float | None
    latency_requests: int
    cold_start_max_ratio: float | None
    wait_timeout: int
    smoke_after_promote: bool


@dataclass(frozen=True)
class Deployment:
    """Everything the rendered app needs, typed, with derived values as properties."""

    profile_name: str
    # How `make` names it: PROFILE=prod, or PROFILE=prod DUMMY=1 for the dummy-weights variant
    # (whose profile_name, prod-dummy, is no file make can find).
    make_args: str
    profile_path: Path
    profile_hash: str
    app_name: str
    model: Model
    gpu: Gpu
    images: Images
    volumes: Volumes
    secrets: Secrets
    auth: Auth
    serving: Serving
    sglang: SGLang
    autoscaling: Autoscaling
    concurrency: Concurrency
    timeouts: Timeouts
    env: tuple[tuple[str, str], ...]
    pricing: Pricing | None = None
    cluster: Cluster | None = None
    release: Release | None = None

    @property
    def deploy_tag(self) -> str:
        """The tag `make deploy` gives this version: <profile>-<merged profile hash, 12 hex>."""
        return f"{self.profile_name}-{self.profile_hash[:12]}"

    @property
    def nodes(self) -> int:
        """Containers (hosts) per replica: 1 unless the profile sets a cluster."""
        return self.cluster.nodes if self.cluster else 1

    @property
    def gpus_per_replica(self) -> int:
        return self.nodes * self.gpu.count

    @property
    def download_env(self) -> dict[str, str]:
        """The download image's environment: the generator's own only. Its function holds the
        Hugging Face token, so no profile variable reaches it (rules/environment.py)."""
        return dict(DOWNLOAD_ENV)

    @property
    def serve_env(self) -> dict[str, str]:
        """The serving image's environment: the profile's env and sglang.env, then the
        generator's own, which win (a profile cannot set them: rules/environment.py)."""
        return {**dict(self.env), **dict(self.sglang.env), **SERVE_ENV}

    @property
    def model_dir(self) -> str:
        """Weights live at <mount>/<repo id>/<revision>, so a new revision never mixes with the old."""
        return f"{self.volumes.weights.mount_path}/{self.model.id}/{self.model.revision}"

    @property
    def config_dir(self) -> str:
        """The revision's config.json, tokenizer files and remote code alone, fetched first by
        setup (a few MB): all SGLang's dummy loader reads (a dry run needs no weights)."""
        return (
            f"{self.volumes.weights.mount_path}/config-only/{self.model.id}/{self.model.revision}"
        )

    @property
    def dummy_weights(self) -> bool:
        """SGLang runs with `--load-format dummy`: random weights of the real shapes. Its
        DummyModelLoader reads no weight file (sglang 0.5.23 srt/model_loader/loader.py,
        `DummyModelLoader.download_model` is a no-op; `load_model` builds the model from the
        config), so --model-path can be the config folder."""
        args = list(self.sglang.extra_args)
        return "--load-format=dummy" in args or ("--load-format", "dummy") in zip(
            args, args[1:], strict=False
        )

    @property
    def model_path(self) -> str:
        """SGLang's --model-path: the weights, or for dummy weights the config folder alone."""
        return self.config_dir if self.dummy_weights else self.model_dir

    @property
    def compile_cache_dir(self) -> str:
        """SGLANG_CACHE_DIR on the cache Volume, as the setup function writes it."""
        return f"{self.volumes.deepgemm_cache.mount_path}/{self.deepgemm_cache_key}"

    @property
    def deepgemm_cache_dir(self) -> str:
        """SGLANG_DG_CACHE_DIR: SGLang 0.5.23's default place under SGLANG_CACHE_DIR
        (srt/environ.py `_default_cache_subdir("deep_gemm")`), set explicitly for older versions."""
        return f"{self.compile_cache_dir}/deep_gemm"

    @property
    def deepgemm_cache_key(self) -> str:
        """Compiled kernels are locked to a GPU architecture and to the SGLang, DeepGEMM and CUDA
        build: the image tag (which must name the SGLang version) pins the build. A cluster's
        kernels are built for its sharding, so its layout is in the key: a single-node cache is
        never used by a cluster, nor one cluster layout's by another."""
        key = f"{self.gpu.type.lower()}-{self.images.serve.tag}"
        if self.cluster:
            c = self.cluster
            key += f"-{c.nodes}x{self.gpu.count}-tp{self.sglang.tensor_parallel_size}"
            key += f"-pp{c.pipeline_parallel_size}"
        return key


# Where a cluster's ranks meet: torch.distributed's rendezvous on rank 0 (SGLang's
# --dist-init-addr), and SGLang's next few ports (server_args.py `port_base = dist_init_port + 1`).
DIST_INIT_PORT = 20000

# The generator's own variables per image. Download: Xet's high-performance transfers. Serve:
# weights come from the Volume, so the Hub is never reached at serve time.
DOWNLOAD_ENV = {"HF_XET_HIGH_PERFORMANCE": "1"}
SERVE_ENV = {"HF_HUB_OFFLINE": "1"}


def profile_hash(data: dict[str, Any]) -> str:
    """sha256 of the merged profile in canonical JSON: equal settings, equal hash."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def build_deployment(profile: Profile) -> Deployment:
    """Turn a validated, merged profile into the deployment model."""
    data = {k: v for k, v in profile.data.items() if k not in ("description", "app", "silence")}
    return _build(
        Deployment,
        {
            **data,
            "profile_name": profile.name,
            "make_args": f"PROFILE={profile.dummy_of} DUMMY=1"
            if profile.dummy_of
            else f"PROFILE={profile.name}",
            "profile_path": profile.path,
            "profile_hash": profile_hash(profile.data),
            "app_name": profile.data["app"]["name"],
        },
    )
