"""A checkpoint's config.json read into the attention design SGLang sizes its memory by.

`parse(config, where)` reads the fields the memory model needs (text_config nesting followed,
as SGLang's `get_hf_text_config` does) and names the design:

- ``mla``: DeepSeek-V3-style multi-head latent attention (Kimi K2.x): `kv_lora_rank` present, no
  DSA indexer.
- ``mla_dsa``: MLA with DeepSeek sparse attention's indexer (GLM-5.x, DeepSeek-V3.2): `index_topk`
  present; `indexer_types` "shared" layers hold no indexer cache.
- ``gqa``: grouped-query attention on every layer (MiniMax-M2.x): `num_key_value_heads`.
- ``hybrid_gdn``: Gated DeltaNet linear attention beside full-attention GQA layers (Qwen3.5,
  Qwen3-Next): `linear_num_value_heads` and `full_attention_interval`.

Anything else (DeepSeek-V4's compressed sliding-window pools, sliding-window or other hybrid
designs, sparse variants SGLang sizes with other code) is refused with `Unmodelled`, naming the
config field that shows the design and what the generator lacks for it: never a wrong number.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from generator.errors import UserError

DESIGNS = ("mla", "mla_dsa", "gqa", "hybrid_gdn")

# What each design is, for the plan and the README.
DESIGN_NAMES = {
    "mla": "MLA (compressed latent, every attention rank holds it all)",
    "mla_dsa": "MLA + DSA indexer",
    "gqa": "GQA (KV heads split over TP, replicated below one per rank)",
    "hybrid_gdn": "hybrid linear attention (Gated DeltaNet + full-attention GQA)",
}

# Designs SGLang 0.5.23 sizes with pools this generator does not model, by what shows them in
# config.json, with the SGLang code that sizes them.
_REFUSED = (
    (
        lambda c, t: "DeepseekV4" in _arch(c) or t.get("model_type") == "deepseek_v4",
        "DeepSeek-V4's compressed sliding-window attention",
        "its SWA, C4 and C128 compressed-state pools (SGLang 0.5.23 `DSV4PoolConfigurator` in "
        "model_executor/pool_configurator.py)",
    ),
    (
        lambda c, t: "compress_ratios" in t or "compress_ratio" in t,
        "compressed KV layers (`compress_ratios`)",
        "compressed-KV pools (SGLang's DSV4/QSA pool code)",
    ),
    (
        lambda c, t: "sparse_attention_config" in t,
        "MiniMax sparse attention (`sparse_attention_config`)",
        "the MiniMax sparse KV and indexer pools (`is_minimax_sparse` in pool_configurator.py)",
    ),
    (
        lambda c, t: (
            bool(t.get("sliding_window"))
            or any("sliding" in str(x) for x in _list(t.get("layer_types")))
        ),
        "sliding-window attention layers (`sliding_window` / `layer_types`)",
        "the hybrid SWA pools (SGLang `HybridSWAPoolConfigurator`)",
    ),
    (
        lambda c, t: "linear_attn_config" in t or "kda_layers" in str(t.get("linear_attn_config")),
        "Kimi Delta Attention / other linear attention (`linear_attn_config`)",
        "its KDA state pool sizing",
    ),
)


class Unmodelled(UserError):
    """A config.json whose attention design the memory model does not cover, or cannot read."""

    field: str | None = None  # the config key the problem is at, when there is one


class IncompleteConfig(Unmodelled):
    """A config.json that lacks a field its own design needs, or holds a near-miss of one: a
    mistake in the recorded config (a typo reads as another design), not a design to refuse."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


# The attention design each architecture class has, by config.json `architectures[0]` and, for a
# config that names none SGLang knows, `model_type`. SGLang 0.5.23 configs/model_config.py
# `is_deepseek_nsa` runs DSA for GlmMoeDsaForCausalLM, DeepseekV32ForCausalLM (and
# DeepseekV3ForCausalLM) when `index_topk` is set: a DSA class without it would be served as
# plain MLA, so a missing indexer field in a DSA class is refused, never read as MLA.
DESIGNS_OF_CLASS: dict[str, tuple[str, ...]] = {
    "GlmMoeDsaForCausalLM": ("mla_dsa",),
    "DeepseekV32ForCausalLM": ("mla_dsa",),
    "DeepseekV3ForCausalLM": ("mla", "mla_dsa"),  # V3/R1 are MLA, V3.2-style configs add index_topk
    "KimiK25ForConditionalGeneration": ("mla",),
    "KimiK2ForCausalLM": ("mla",),
    "MiniMaxM2ForCausalLM": ("gqa",),
    "Qwen3_5MoeForConditionalGeneration": ("hybrid_gdn",),
    "Qwen3NextForCausalLM": ("hybrid_gdn",),
}
DESIGNS_OF_MODEL_TYPE: dict[str, tuple[str, ...]] = {
    "glm_moe_dsa": ("mla_dsa",),
    "deepseek_v32": ("mla_dsa",),
    "deepseek_v3": ("mla", "mla_dsa"),
    "kimi_k25": ("mla",),
    "kimi_k2": ("mla",),
    "minimax_m2": ("gqa",),
    "qwen3_5_moe": ("hybrid_gdn",),
    "qwen3_next": ("hybrid_gdn",),
}

# The fields each design is read from (beside the common ones), as parse() reads them.
_COMMON_FIELDS = (
    "num_hidden_layers",
    "hidden_size",
    "num_attention_heads",
    "vocab_size",
    "max_position_embeddings",
    "num_experts_per_tok",
)
DESIGN_FIELDS: dict[str, tuple[str, ...]] = {
    "mla": ("kv_lora_rank", "qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim"),
    "mla_dsa": (
        "kv_lora_rank",
        "qk_rope_head_dim",
        "qk_nope_head_dim",
        "v_head_dim",
        "index_n_heads",
        "index_head_dim",
        "index_topk",
    ),
    "gqa": ("num_key_value_heads",),
    "hybrid_gdn": (
        "num_key_value_heads",
        "full_attention_interval",
        "linear_num_key_heads",
        "linear_num_value_heads",
        "linear_key_head_dim",
        "linear_value_head_dim",
        "linear_conv_kernel_dim",
    ),
}
_INDEXER_FIELDS = ("index_n_heads", "index_head_dim", "index_topk")
# Every field name parse() reads: a key close to one of them that is absent is a typo.
KNOWN_FIELDS = frozenset(
    {f for fields in DESIGN_FIELDS.values() for f in fields}
    | set(_COMMON_FIELDS)
    | {
        "q_lora_rank",
        "head_dim",
        "indexer_types",
        "layer_types",
        "mamba_ssm_dtype",
        "num_nextn_predict_layers",
        "mtp_num_hidden_layers",
        "n_routed_experts",
        "num_experts",
        "num_local_experts",
        "n_shared_experts",
        "shared_expert_intermediate_size",
        "moe_intermediate_size",
        "intermediate_size",
        "first_k_dense_replace",
    }
)


# The fields whose misspelling changes the design read or leaves it unsized.
_DESIGN_MARKERS = frozenset(
    {f for fields in DESIGN_FIELDS.values() for f in fields} | set(_COMMON_FIELDS)
)


def expected_designs(config: dict) -> tuple[str, ...] | None:
    """The designs the config's architecture class (or model_type) can have; None if unknown."""
    arch, text = _arch(config), text_config(config)
    known = DESIGNS_OF_CLASS.get(arch)
    if known is None:
        model_type = text.get("model_type") or config.get("model_type")
        known = DESIGNS_OF_MODEL_TYPE.get(model_type) if isinstance(model_type, str) else None
    return known


def _near_miss(field: str, present) -> str | None:
    """A present key that looks like a misspelling of `field`."""
    import difflib

    candidates = [k for k in present if isinstance(k, str) and k not in KNOWN_FIELDS]
    match = difflib.get_close_matches(field, candidates, n=1, cutoff=0.8)
    return match[0] if match else None


def config_problems(config: dict, where: str) -> list[IncompleteConfig]:
    """Every way the config misses its design: near-misses of the fields the design is read
    from (each at its key), then the fields its class's design needs that are absent.

    A known class is checked against its design's fields, all missing ones named at once; any
    config is refused when a key is a misspelling of a field the generator reads and that field
    is absent (`kv_lora_rnk` would otherwise read an MLA model as GQA).
    """
    text = text_config(config)
    pre = f"{where}: " if where else ""
    out, typos = [], set()
    for field in sorted(_DESIGN_MARKERS - set(text)):
        typo = _near_miss(field, text)
        if typo is not None:
            typos.add(field)
            out.append(
                IncompleteConfig(
                    f"{pre}config.json `{typo}` is not a field the generator reads; did you "
                    f"mean `{field}`? (without `{field}` the attention design would be misread)",
                    field=typo,
                )
            )
    designs = expected_designs(config)
    indexer = [f for f in _INDEXER_FIELDS if f in text]
    if designs is None:
        missing = [f for f in _INDEXER_FIELDS if f not in text and f not in typos]
        if indexer and missing:
            out.append(
                IncompleteConfig(
                    f"{pre}config.json has the DSA indexer's {', '.join(indexer)} but lacks "
                    f"{', '.join(missing)}: the indexer cache cannot be sized"
                )
            )
        return out
    if "mla_dsa" in designs and ("mla" not in designs or indexer):
        design = "mla_dsa"
    else:
        design = designs[0]
    needed = (*_COMMON_FIELDS, *DESIGN_FIELDS[design])
    missing = [f for f in needed if f not in text and f not in typos]
    if missing:
        source = _arch(config) if _arch(config) in DESIGNS_OF_CLASS else text.get("model_type")
        out.append(
            IncompleteConfig(
                f"{pre}{source} is {DESIGN_NAMES[design]}, but its config.json lacks "
                f"{', '.join(missing)}: record every field of the published config.json that "
                "the design needs (a missing one would read it as another design)"
            )
        )
    return out


def check_fields(config: dict, where: str) -> None:
    """Raise the first of `config_problems`."""
    problems = config_problems(config, where)
    if problems:
        raise problems[0]


# Plausible bounds of every config.json integer the memory arithmetic or a rule reads. The
# largest checkpoints in the catalog sit far inside them (GLM-5.1: 78 layers, hidden 6144, 256
# experts, 202,752 positions, vocab 154,880); a value outside is a broken or hostile config, and
# the bounds keep the arithmetic's cost bounded too (loops run over layers, never over a value).
CONFIG_BOUNDS: dict[str, tuple[int, int]] = {
    "num_hidden_layers": (1, 1024),
    "hidden_size": (1, 1 << 17),
    "num_attention_heads": (1, 1024),
    "num_key_value_heads": (1, 1024),
    "head_dim": (1, 4096),
    "v_head_dim": (1, 4096),
    "kv_lora_rank": (1, 1 << 16),
    "qk_rope_head_dim": (1, 4096),
    "q_lora_rank": (0, 1 << 16),
    "qk_nope_head_dim": (1, 4096),
    "index_n_heads": (1, 1024),
    "index_head_dim": (1, 4096),
    "index_topk": (1, 1 << 20),
    "full_attention_interval": (1, 1024),
    "linear_num_key_heads": (1, 1024),
    "linear_num_value_heads": (1, 1024),
    "linear_key_head_dim": (1, 4096),
    "linear_value_head_dim": (1, 4096),
    "linear_conv_kernel_dim": (1, 64),
    "num_nextn_predict_layers": (0, 16),
    "mtp_num_hidden_layers": (0, 16),
    "n_routed_experts": (1, 1 << 14),
    "num_experts": (1, 1 << 14),
    "num_local_experts": (1, 1 << 14),
    "num_experts_per_tok": (1, 1024),
    "n_shared_experts": (0, 1024),
    "moe_intermediate_size": (1, 1 << 20),
    "intermediate_size": (0, 1 << 20),
    "first_k_dense_replace": (0, 1024),
    "vocab_size": (1, 1 << 23),
    "max_position_embeddings": (1, 1 << 26),
}
# Fields read for their text: what names the design or lays out its layers.
CONFIG_TEXT_FIELDS = ("model_type", "indexer_types", "layer_types", "mamba_ssm_dtype")


def _refuse_unmodelled(config: dict, where: str) -> None:
    text = text_config(config)
    for shows, design, missing in _REFUSED:
        if shows(config, text):
            raise Unmodelled(
                f"{where}: {_arch(config)} uses {design}, which the memory model does not cover: "
                f"it has no arithmetic for {missing}. `plan` and the sizing rules refuse rather "
                "than guess; serve it with a profile whose capacity you measured, or add the "
                "design to generator/capacity/memory.py with a ground-truth test"
            )


def check_recorded_config(config: Any, catalog_config: dict, where: str) -> None:
    """A config.json recorded for one commit of a catalog model (the lock's, or a user catalog's)
    against the catalog's own: the architecture class cannot change, no field the arithmetic or a
    rule reads that the catalog has may disappear, and every integer among them is within
    CONFIG_BOUNDS (parse checks each as it reads it). Raises Unmodelled, located at `where`."""
    if not isinstance(config, dict):
        raise Unmodelled(f"{where}: config.json is not a mapping")
    _refuse_unmodelled(config, where)  # an unmodelled design says so first
    recorded, found = _arch(catalog_config), _arch(config)
    if found != recorded:
        raise Unmodelled(
            f"{where}: architectures[0] is {found[:80]!r}, the catalog's model is {recorded!r}; "
            "a commit cannot change the model's class: restore the lock entry from git (or "
            "`make pin-revision` again), or add the other model to the catalog"
        )
    text, catalog_text = text_config(config), text_config(catalog_config)
    if ("text_config" in config) != ("text_config" in catalog_config):
        raise Unmodelled(f"{where}: `text_config` nesting differs from the catalog's config")
    for name in [*CONFIG_BOUNDS, *CONFIG_TEXT_FIELDS]:
        if name in catalog_text and text.get(name) is None:
            raise Unmodelled(
                f"{where}: config.json lacks `{name}`, which the catalog's config of this model "
                "has and the sizing reads; restore the lock entry from git or pin again"
            )


@dataclass(frozen=True)
class Mla:
    kv_lora_rank: int
    qk_rope_head_dim: int
    q_lora_rank: int
    qk_nope_head_dim: int
    v_head_dim: int


@dataclass(frozen=True)
class DsaIndexer:
    index_n_heads: int
    index_head_dim: int
    index_topk: int
    cache_layers: int  # layers whose indexer is not "shared": the ones holding indexer keys


@dataclass(frozen=True)
class Gqa:
    num_kv_heads: int
    head_dim: int
    v_head_dim: int


@dataclass(frozen=True)
class LinearAttention:
    """Gated DeltaNet layers (SGLang `Qwen3NextConfig.mamba2_cache_params`)."""

    layers: int  # linear-attention layers (each holds a recurrent state per request)
    num_key_heads: int
    num_value_heads: int
    key_head_dim: int
    value_head_dim: int
    conv_kernel: int
    ssm_dtype: str  # the recurrent state's dtype: config `mamba_ssm_dtype`, else float32


@dataclass(frozen=True)
class Moe:
    routed_experts: int
    experts_per_token: int
    shared_experts: int
    moe_intermediate_size: int
    dense_intermediate_size: int


@dataclass(frozen=True)
class Quant:
    """The checkpoint's weight quantisation, from config.json `quantization_config`."""

    method: str  # "fp8", "compressed-tensors", or "" (unquantised, BF16)
    block: tuple[int, int] | None  # FP8 `weight_block_size` (block_n, block_k)
    group_size: int | None  # compressed-tensors weight group size (Kimi's INT4 experts)


def _quant(config: dict, text: dict, where: str) -> Quant | None:
    qc = config.get("quantization_config") or text.get("quantization_config")
    if not isinstance(qc, dict):
        return None
    method = qc.get("quant_method")
    if method == "fp8":
        block = qc.get("weight_block_size")
        if block is None:
            return Quant("fp8", None, None)
        if (
            not isinstance(block, list)
            or len(block) != 2
            or not all(isinstance(b, int) and not isinstance(b, bool) and b > 0 for b in block)
        ):
            raise Unmodelled(f"{where}: quantization_config.weight_block_size must be [n, k]")
        return Quant("fp8", (block[0], block[1]), None)
    if method == "compressed-tensors":
        sizes = {
            g.get("weights", {}).get("group_size")
            for g in (qc.get("config_groups") or {}).values()
            if isinstance(g, dict) and isinstance(g.get("weights"), dict)
        }
        sizes.discard(None)
        if len(sizes) != 1 or not all(isinstance(s, int) and s > 0 for s in sizes):
            raise Unmodelled(
                f"{where}: quantization_config.config_groups must name one weights.group_size"
            )
        return Quant("compressed-tensors", None, sizes.pop())
    return Quant(str(method or ""), None, None)


@dataclass(frozen=True)
class Architecture:
    architecture: str  # config.json architectures[0]
    attention: str  # one of DESIGNS
    num_layers: int  # decoder layers
    attention_layers: int  # layers holding a KV cache (all but linear-attention ones)
    dense_layers: int
    hidden_size: int
    num_attention_heads: int
    vocab_size: int
    max_position_embeddings: int
    mtp_layers: int  # MTP (next-n) layers in the checkpoint
    draft_layers_in_pool: int  # of those, the ones SGLang counts in the target's KV cell
    multimodal: bool  # a vision tower: SGLang reserves its multimodal cache out of the KV budget
    mla: Mla | None
    dsa_indexer: DsaIndexer | None
    gqa: Gqa | None
    linear: LinearAttention | None
    moe: Moe
    quant: Quant | None = None  # None: config.json records no quantization_config

    @property
    def sparse_attention(self) -> str | None:
        return "dsa" if self.dsa_indexer is not None else None

    @property
    def moe_layers(self) -> int:
        return self.num_layers - self.dense_layers


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _arch(config: dict) -> str:
    archs = config.get("architectures")
    return archs[0] if isinstance(archs, list) and archs and isinstance(archs[0], str) else ""


# SGLang's multimodal architectures among those the catalog knows (configs/model_config.py
# `multimodal_model_archs`): the KV budget loses SGLANG_VLM_CACHE_SIZE_MB (100) for them.
MULTIMODAL = frozenset({"KimiK25ForConditionalGeneration", "Qwen3_5MoeForConditionalGeneration"})


def text_config(config: dict) -> dict:
    """The language model's config: `text_config` when the checkpoint nests one."""
    text = config.get("text_config")
    return text if isinstance(text, dict) else config


def parse(config: Any, where: str) -> Architecture:
    """The architecture of a config.json mapping; `Unmodelled` when it cannot be sized."""
    if not isinstance(config, dict):
        raise Unmodelled(f"{where}: config.json is not a mapping")
    arch = _arch(config)
    if not arch:
        raise Unmodelled(f"{where}: config.json has no `architectures` list")
    text = text_config(config)
    _refuse_unmodelled(config, where)
    check_fields(config, where)
    r = _Reader(text, where, arch)
    layers = r.int("num_hidden_layers")
    mla = dsa = gqa = linear = None
    if "kv_lora_rank" in text:
        mla = Mla(
            kv_lora_rank=r.int("kv_lora_rank"),
            qk_rope_head_dim=r.int("qk_rope_head_dim"),
            q_lora_rank=r.int("q_lora_rank", minimum=0, default=0),
            qk_nope_head_dim=r.int("qk_nope_head_dim"),
            v_head_dim=r.int("v_head_dim"),
        )
        if "index_topk" in text:
            types = text.get("indexer_types")
            if types is None:
                cache_layers = layers
            elif (
                isinstance(types, list)
                and len(types) == layers
                and set(types)
                <= {
                    "full",
                    "shared",
                }
            ):
                if types[0] != "full":
                    raise Unmodelled(f"{where}: indexer_types[0] is shared: no layer to share")
                cache_layers = types.count("full")
            else:
                raise Unmodelled(
                    f"{where}: indexer_types must list 'full' or 'shared' for each of the "
                    f"{layers} layers"
                )
            dsa = DsaIndexer(
                index_n_heads=r.int("index_n_heads"),
                index_head_dim=r.int("index_head_dim"),
                index_topk=r.int("index_topk"),
                cache_layers=cache_layers,
            )
        attention, attention_layers = ("mla_dsa" if dsa else "mla"), layers
    elif "linear_num_value_heads" in text:
        interval = r.int("full_attention_interval")
        full = [i for i in range(layers) if (i + 1) % interval == 0]
        listed = text.get("layer_types")
        if listed is not None:
            want = ["full_attention" if i in full else "linear_attention" for i in range(layers)]
            if listed != want:
                raise Unmodelled(
                    f"{where}: layer_types disagrees with full_attention_interval={interval}, "
                    "which SGLang sizes by (configs/qwen3_next.py `layers_block_type`)"
                )
        ssm = text.get("mamba_ssm_dtype", "float32")
        if ssm not in ("float32", "bfloat16", "float16"):
            raise Unmodelled(f"{where}: mamba_ssm_dtype {ssm!r} is not one SGLang reads")
        linear = LinearAttention(
            layers=layers - len(full),
            num_key_heads=r.int("linear_num_key_heads"),
            num_value_heads=r.int("linear_num_value_heads"),
            key_head_dim=r.int("linear_key_head_dim"),
            value_head_dim=r.int("linear_value_head_dim"),
            conv_kernel=r.int("linear_conv_kernel_dim"),
            ssm_dtype=ssm,
        )
        gqa = _gqa(r, text)
        attention, attention_layers = "hybrid_gdn", len(full)
    elif "num_key_value_heads" in text:
        gqa = _gqa(r, text)
        attention, attention_layers = "gqa", layers
    else:
        raise Unmodelled(
            f"{where}: {arch}'s config.json shows no attention design the memory model knows "
            "(no kv_lora_rank for MLA, no num_key_value_heads for GQA, no linear_num_value_heads "
            "for hybrid linear attention)"
        )
    # MTP layers: DeepSeek/GLM `num_nextn_predict_layers`, Qwen3.5 `mtp_num_hidden_layers`.
    nextn = r.int("num_nextn_predict_layers", minimum=0, default=0)
    mtp = nextn or r.int("mtp_num_hidden_layers", minimum=0, default=0)
    # SGLang counts the draft's layers in the target's KV cell only when the TARGET config says
    # `num_nextn_predict_layers` (0.5.23 model_runner_components/spec_aux_hidden_state.py
    # `_resolve_eagle_aux_hidden_state`): Qwen3.5's path-less MTP draft gets a pool of its own.
    moe = Moe(
        routed_experts=r.int("n_routed_experts", "num_experts", "num_local_experts"),
        experts_per_token=r.int("num_experts_per_tok"),
        shared_experts=r.int("n_shared_experts", minimum=0, default=0)
        or (1 if text.get("shared_expert_intermediate_size") else 0),
        moe_intermediate_size=(
            r.int("moe_intermediate_size")
            if "moe_intermediate_size" in text
            else r.int("intermediate_size")
        ),
        dense_intermediate_size=r.int("intermediate_size", minimum=0, default=0)
        if "moe_intermediate_size" in text
        else 0,
    )
    return Architecture(
        architecture=arch,
        attention=attention,
        num_layers=layers,
        attention_layers=attention_layers,
        dense_layers=r.int("first_k_dense_replace", minimum=0, default=0),
        hidden_size=r.int("hidden_size"),
        num_attention_heads=r.int("num_attention_heads"),
        vocab_size=r.int("vocab_size"),
        max_position_embeddings=r.int("max_position_embeddings"),
        mtp_layers=mtp,
        draft_layers_in_pool=nextn,
        multimodal=arch in MULTIMODAL,
        mla=mla,
        dsa_indexer=dsa,
        gqa=gqa,
        linear=linear,
        moe=moe,
        quant=_quant(config, text, where),
    )


def _gqa(r: _Reader, text: dict) -> Gqa:
    heads = r.int("num_attention_heads")
    head_dim = r.int("head_dim", default=r.int("hidden_size") // heads)
    return Gqa(
        num_kv_heads=r.int("num_key_value_heads"),
        head_dim=head_dim,
        v_head_dim=r.int("v_head_dim", default=head_dim),
    )


class _Reader:
    """Positive integers from a config mapping, each error naming the field."""

    def __init__(self, data: dict, where: str, arch: str):
        self.data, self.where, self.arch = data, where, arch

    def int(self, *names: str, minimum: int = 1, default: int | None = None) -> int:
        for name in names:
            if name in self.data and self.data[name] is not None:
                value = self.data[name]
                if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                    raise Unmodelled(
                        f"{self.where}: config.json `{name}` must be an integer >= {minimum}; "
                        f"found {value!r}"
                    )
                low, high = CONFIG_BOUNDS.get(name, (minimum, 10**9))
                if not low <= value <= high:
                    raise Unmodelled(
                        f"{self.where}: config.json `{name}` = {value} is outside the plausible "
                        f"{low}..{high:,} (catalog/architecture.py CONFIG_BOUNDS)"
                    )
                return value
        if default is not None:
            return default
        raise Unmodelled(
            f"{self.where}: {self.arch}'s config.json lacks `{names[0]}`, which the memory "
            "model needs for this attention design"
        )
