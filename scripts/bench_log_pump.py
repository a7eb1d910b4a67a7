"""Benchmark: the rendered app's log pump on hostile lines, the cold-start markers as literal
pieces (now) beside the regular expressions they replaced, side by side.

Why it matters: the pump copies every line SGLang prints into the container log; a marker such
as `Capture .*graph end\\.` costs time quadratic in a line of many "Capture " and no "graph end",
and the old pump matched on the thread that drains SGLang's pipe.

    .venv/bin/python scripts/bench_log_pump.py [--runs 3]

Renders the default profile, loads the app with the real modal package, and times (a) matching
one line with the app's own COLD_START_MARKERS and with the old patterns, and (b) the pump itself
(`_stream_output`: cut, mask, print) on a 10 MB line, whose cut keeps it at MAX_LOG_LINE.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from generator.pipeline import load, render_to_file  # noqa: E402

OLD_PATTERNS = {  # generator/sglang/logs.py before issue 24
    "sglang_started": r"server_args=",
    "weights_loaded": r"Load weight end\.",
    "cuda_graphs_captured": r"Capture .*graph end\.",
    "healthy": r"The server is fired up and ready to roll!",
}


def _app():
    import importlib.util

    out = Path(tempfile.mkdtemp()) / "modal_app.py"
    render_to_file(load("scale-to-zero"), out)
    spec = importlib.util.spec_from_file_location("bench_app", out)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _literal(markers, line: str) -> int:
    hits = 0
    for pieces in markers.values():
        at = 0
        for piece in pieces:
            at = line.find(piece, at)
            if at < 0:
                break
            at += len(piece)
        else:
            hits += 1
    return hits


def _regex(line: str) -> int:
    return sum(1 for p in OLD_PATTERNS.values() if re.search(p, line))


def _median(function, runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        function()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    app = _app()
    print(f"{'line':>28} {'regex (old)':>12} {'literal (now)':>14} {'ratio':>8}")
    for repeats in (1_000, 4_000, 8_000):
        line = "Capture " * repeats
        old = _median(lambda line=line: _regex(line), args.runs)
        new = _median(lambda line=line: _literal(app.COLD_START_MARKERS, line), args.runs)
        label = f'"Capture " x {repeats:,}'
        print(f"{label:>28} {old * 1e3:>10.1f}ms {new * 1e3:>12.3f}ms {old / new:>7.0f}x")

    huge = "x" * 10_000_000 + "\n"

    def pump() -> None:
        with contextlib.redirect_stdout(io.StringIO()) as out:
            process = type("P", (), {"stdout": io.StringIO(huge)})()
            app._stream_output(process, None, app._Redactor(["a-test-key"]))
        assert len(out.getvalue()) <= app.MAX_LOG_LINE + 40

    print(
        f"pump, one 10 MB line: {_median(pump, args.runs) * 1e3:.1f} ms, printed at most "
        f"{app.MAX_LOG_LINE:,} characters of it"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
