"""SGLang's compile caches: which variables place them, and what each costs when it is cold.

Read in SGLang 0.5.23's source (`sglang/srt/environ.py`, `srt/model_executor/runner/
flashinfer_autotune.py`, `kernels/jit/utils/compile/cache.py`):

- `SGLANG_CACHE_DIR` (default ~/.cache/sglang) is the root. At import, `sglang/__init__.py` calls
  `redirect_third_party_caches()`, which setdefaults TRITON_CACHE_DIR, TORCHINDUCTOR_CACHE_DIR,
  CUDA_CACHE_PATH, TILELANG_CACHE_DIR and FLASHINFER_WORKSPACE_BASE under it
  (`third_party_cache_defaults()`). The FlashInfer MoE autotune results of `flashinfer_trtllm`
  go to `<root>/flashinfer/autotune/<flashinfer version>/<sm arch>/<model key>/rank_*.json`.
- `SGLANG_DG_CACHE_DIR` defaults to `<root>/deep_gemm`.
- `SGLANG_JIT_CACHE_DIR` does NOT follow the root: unset, it is `~/.cache/sglang/jit`.

The generator sets every one of them explicitly, so the same layout holds for versions that do not
read SGLANG_CACHE_DIR (0.5.10 reads only SGLANG_DG_CACHE_DIR, per its manifest).
"""

from __future__ import annotations

from dataclasses import dataclass

from generator.sglang.versions import manifest


@dataclass(frozen=True)
class CompileCache:
    name: str
    variable: str  # the environment variable that places it
    subdir: str  # its place under the cache root ("" for the root itself)
    filled_by: str  # which setup step warms it
    cold_seconds: float | None  # start-up time it adds when empty; None: the catalog's DeepGEMM JIT
    cold_source: str  # where that figure comes from
    folder: str = ""  # where its files land, when not at subdir


# Ordered as a start touches them. Except DeepGEMM's (facts.md: 10-30 minutes of JIT, the
# catalog's deepgemm_jit_seconds), the cold costs are guesses: nothing here measured them.
GUESS = "a guess, not measured"
COMPILE_CACHES = (
    CompileCache("SGLang cache root", "SGLANG_CACHE_DIR", "", "SGLang", 0, "holds the others"),
    CompileCache(
        "DeepGEMM kernels",
        "SGLANG_DG_CACHE_DIR",
        "deep_gemm",
        "compile_deep_gemm",
        None,
        "catalog deepgemm_jit_seconds (10-30 min of JIT)",
    ),
    CompileCache("SGLang JIT kernels", "SGLANG_JIT_CACHE_DIR", "jit", "first start", 60, GUESS),
    CompileCache(
        "FlashInfer JIT and MoE autotune",
        "FLASHINFER_WORKSPACE_BASE",
        "",
        "first start",
        180,
        GUESS + "; flashinfer_trtllm tunes every MoE shape on 8 ranks",
        "flashinfer/autotune and .cache/flashinfer",
    ),
    CompileCache("Triton kernels", "TRITON_CACHE_DIR", "triton", "first start", 60, GUESS),
    CompileCache(
        "TorchInductor",
        "TORCHINDUCTOR_CACHE_DIR",
        "inductor",
        "first start",
        0,
        "unused without --enable-torch-compile",
    ),
    CompileCache("TileLang kernels", "TILELANG_CACHE_DIR", "tilelang", "first start", 30, GUESS),
    CompileCache("CUDA JIT (PTX to SASS)", "CUDA_CACHE_PATH", "nv", "first start", 30, GUESS),
)

# Third-party variables: read by Triton, torch, TileLang, CUDA and FlashInfer themselves.
_THIRD_PARTY = {
    "FLASHINFER_WORKSPACE_BASE",
    "TRITON_CACHE_DIR",
    "TORCHINDUCTOR_CACHE_DIR",
    "TILELANG_CACHE_DIR",
    "CUDA_CACHE_PATH",
}


def cache_variables(sglang_version: str) -> dict[str, str]:
    """{variable: subdir} for the caches this SGLang version (or the library it loads) reads."""
    reads = manifest(sglang_version).env_vars | _THIRD_PARTY
    return {c.variable: c.subdir for c in COMPILE_CACHES if c.variable in reads}


def cold_cache_costs(sglang_version: str, deepgemm_jit_seconds: float) -> list[dict]:
    """Each cache this version uses, its folder, and the start-up time it costs when empty."""
    used = cache_variables(sglang_version)
    return [
        {
            "cache": c.name,
            "variable": c.variable,
            "folder": c.folder or c.subdir,
            "filled_by": c.filled_by,
            "cold_seconds": deepgemm_jit_seconds if c.cold_seconds is None else c.cold_seconds,
            "source": c.cold_source,
        }
        for c in COMPILE_CACHES
        if c.variable in used and c.variable != "SGLANG_CACHE_DIR"
    ]
