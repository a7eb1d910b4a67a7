"""`python -m sglang.compile_deep_gemm` stand-in: writes a kernel where SGLANG_DG_CACHE_DIR says."""

import os
import sys
from pathlib import Path

kernels = Path(os.environ["SGLANG_DG_CACHE_DIR"])
kernels.mkdir(parents=True, exist_ok=True)
(kernels / "kernel.cubin").write_bytes(b"sm100")
print(f"fake compile_deep_gemm: {' '.join(sys.argv[1:3])} -> {kernels}", flush=True)
