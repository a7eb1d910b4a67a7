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

from generator.sglang_versions import manifest


@dataclass(frozen=True)
class CompileCache:
    name: str
    variable: str  # the environment variable that places it
    subdir: str  # its place under the cache root ("" for the root itself)
    filled_by: str  # what writes it


# Ordered as a start touches them. `filled_by` says which setup step warms each cache.
COMPILE_CACHES = (
    CompileCache("SGLang cache root", "SGLANG_CACHE_DIR", "", "SGLang"),
    CompileCache("DeepGEMM kernels", "SGLANG_DG_CACHE_DIR", "deep_gemm", "compile_deep_gemm"),
    CompileCache("SGLang JIT kernels", "SGLANG_JIT_CACHE_DIR", "jit", "first start"),
    CompileCache("FlashInfer JIT and MoE autotune", "FLASHINFER_WORKSPACE_BASE", "", "first start"),
    CompileCache("Triton kernels", "TRITON_CACHE_DIR", "triton", "first start"),
    CompileCache("TorchInductor", "TORCHINDUCTOR_CACHE_DIR", "inductor", "first start"),
    CompileCache("TileLang kernels", "TILELANG_CACHE_DIR", "tilelang", "first start"),
    CompileCache("CUDA JIT (PTX to SASS)", "CUDA_CACHE_PATH", "nv", "first start"),
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
