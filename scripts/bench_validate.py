"""Benchmark: `validate` over every profile vs building SGLang's real parser, side by side.

Why it matters: checking flags against the shipped manifests must stay cheap enough for every
`make validate` and every pull request, while the real parser needs torch and sglang imported.

    .venv/bin/python scripts/bench_validate.py [--runs 5] [--version 0.5.23]

Prints medians of whole-process wall times (what a user waits for) and of in-process times,
and their ratios, all measured in this one run.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from sglang_manifest import _clean_env, ensure_env  # noqa: E402

BUILD_PARSER = """
import argparse, time
t = time.perf_counter()
from sglang.srt.server_args import ServerArgs
parser = argparse.ArgumentParser()
ServerArgs.add_cli_args(parser)
print(time.perf_counter() - t)
"""

VALIDATE_IN_PROCESS = """
import time
t = time.perf_counter()
from generator import PROFILES_DIR
from generator.pipeline import load
paths = sorted(PROFILES_DIR.glob("*.yaml"))
for path in paths:
    load(path)
cold = time.perf_counter() - t
t = time.perf_counter()
for path in paths:
    load(path)
print((time.perf_counter() - t) / len(paths))
print(cold)
"""


def _wall(command: list[str], env=None) -> tuple[float, float, list[float]]:
    """(wall seconds of the whole process, the seconds it printed for its own work, the rest)."""
    start = time.perf_counter()
    out = subprocess.run(command, capture_output=True, text=True, check=True, env=env, cwd=ROOT)
    printed = [float(line) for line in out.stdout.split()]
    return time.perf_counter() - start, printed[-1], printed[:-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--version", default="0.5.23")
    args = parser.parse_args()
    sglang_python = str(ensure_env(args.version, quiet=True))
    profiles = len(list((ROOT / "profiles").glob("*.yaml")))

    rows = {"validate (ours)": [], "real parser": []}
    inner = {"validate (ours)": [], "real parser": []}
    cli, warm = [], []
    for _ in range(args.runs):  # interleaved, so drift hits both sides alike
        wall, own, (per_profile,) = _wall([sys.executable, "-c", VALIDATE_IN_PROCESS])
        rows["validate (ours)"].append(wall)
        inner["validate (ours)"].append(own)
        warm.append(per_profile)
        wall, own, _ = _wall([sglang_python, "-c", BUILD_PARSER], env=_clean_env())
        rows["real parser"].append(wall)
        inner["real parser"].append(own)
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "generator", "validate"],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        cli.append(time.perf_counter() - start)

    ours_wall = statistics.median(rows["validate (ours)"])
    ours_inner = statistics.median(inner["validate (ours)"])
    real_wall = statistics.median(rows["real parser"])
    real_inner = statistics.median(inner["real parser"])
    print(f"median of {args.runs} runs; {profiles} profiles; SGLang {args.version}")
    print(f"{'':38}{'process wall':>14}{'own work':>12}")
    print(f"{'validate all profiles (manifests)':38}{ours_wall:>13.3f}s{ours_inner:>11.3f}s")
    print(f"{'build the real SGLang parser':38}{real_wall:>13.3f}s{real_inner:>11.3f}s")
    print(f"{'`python -m generator validate`':38}{statistics.median(cli):>13.3f}s")
    print(f"{'one profile, imports warm':38}{'':>14}{statistics.median(warm) * 1000:>10.1f}ms")
    print(
        f"ratio real/ours: {real_wall / ours_wall:.1f}x wall, {real_inner / ours_inner:.1f}x own work"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
