"""A stand-in `sglang` package for running the rendered app's container code in a test process.

The real SGLang needs 8 GPUs and the weights; this one serves tests/fake_sglang.py's HTTP surface
under the same entry points (`python -m sglang.launch_server`, `python -m sglang.compile_deep_gemm`)
and writes into the same cache variables SGLang 0.5.23 reads (srt/environ.py).
"""

__version__ = "0.5.23"
