#!/usr/bin/env python3
"""Build / check the shipped SGLang server-flag manifests from the real sglang package.

    python scripts/sglang_manifest.py                      # regenerate every supported version
    python scripts/sglang_manifest.py --version 0.5.23     # one version
    python scripts/sglang_manifest.py --version 0.5.23 --check   # exit 1 + diff if stale
    python scripts/sglang_manifest.py --python-of 0.5.23   # print that venv's python

For each version a throwaway venv lives at ``.cache/sglang/<version>/venv`` (gitignored).
It gets ``sglang==<version>`` with ``--no-deps`` plus the pinned, minimal set of packages that
importing ``sglang.srt.server_args`` needs (found by trial), all installed with ``--no-deps``
so pip resolves nothing and never follows sglang's own CUDA-heavy pins. A marker file in the
venv records the exact install list, so a second run reuses the venv. Only PyPI (and the
machine's local wheel mirror that pip is configured with) is contacted.

Importable API (tests use it):

    ensure_env(version) -> Path          python executable of the ready venv
    extract_manifest(version) -> str     manifest JSON text from the real parser
    manifest_path(version) -> Path       generator/manifests/sglang-<version>.json
    check_manifest(version) -> (bool, str)   (is the shipped file current?, unified diff)
    write_manifest(version) -> Path
    real_parse(version, argvs) -> list[dict] verdicts {"ok", "error", "warnings"} per argv
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import fcntl
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = REPO / "scripts"
CACHE_ROOT = REPO / ".cache" / "sglang"
MANIFEST_DIR = REPO / "generator" / "manifests"
EXTRACTOR = SCRIPTS / "extract_sglang_manifest.py"
REAL_PARSE = SCRIPTS / "real_sglang_parse.py"
MARKER = ".sglang-manifest-env.json"

SUPPORTED_VERSIONS = ("0.5.10", "0.5.23")

# The CPU build of torch 2.13.0 that lies on this machine's disk (pip's find-links also
# points there). Used by path when present, else by version (pip prefers the +cpu local
# file for ==2.13.0 when it is on find-links).
_TORCH_CPU_GLOB = "/opt/wheels/torch-2.13.0+cpu-cp311-*.whl"

# Shared, pure-Python / small packages that `import sglang.srt.server_args` pulls in.
_COMMON = [
    "aiohappyeyeballs==2.7.1",
    "aiohttp==3.14.5",
    "aiosignal==1.4.0",
    "annotated-types==0.8.0",
    "anyio==4.16.0",
    "asttokens==3.0.2",
    "attrs==26.1.0",
    "certifi==2026.10.19.post1",
    "charset-normalizer==3.5.3",
    "executing==2.3.0",
    "filelock==4.3.1",
    "frozenlist==1.8.0",
    "fsspec==2026.9.0",
    "idna==3.20",
    "ipython==9.18.1",
    "ipython_pygments_lexers==1.1.1",
    "jedi==0.20.1",
    "Jinja2==3.1.6",
    "MarkupSafe==3.0.4",
    "matplotlib-inline==0.2.2",
    "mpmath==1.3.0",
    "msgspec==0.22.0",
    "multidict==7.2.1",
    "networkx==3.6.1",
    "numpy==2.4.6",
    "orjson==3.13.0",
    "packaging==26.4",
    "parso==0.8.7",
    "pexpect==4.9.0",
    "pillow==13.0.0",
    "prompt_toolkit==3.0.53",
    "propcache==0.5.4",
    "psutil==7.2.2",
    "ptyprocess==0.7.0",
    "pure_eval==0.2.4",
    "pybase64==1.5.1",
    "pydantic==2.14.4",
    "pydantic_core==2.50.5",
    "Pygments==2.21.0",
    "pyzmq==27.3.0",
    "requests==2.34.2",
    "stack-data==0.6.3",
    "starlette==1.10.0",
    "sympy==1.14.0",
    "tqdm==4.70.1",
    "traitlets==5.16.1",
    "triton==3.8.0",
    "typing-inspection==0.4.5",
    "typing_extensions==4.16.0",
    "urllib3==2.8.0",
    "wcwidth==0.9.4",
    "yarl==1.25.1",
]

# 0.5.10's sglang/srt/utils/common.py does `from torchvision.io import decode_jpeg` at import
# time, and PyPI's torchvision only loads beside a CUDA torch build. So 0.5.10 gets the CUDA
# build of torch 2.14.1 + torchvision 0.29.1 (both on this machine's local mirror; their
# nvidia-* libraries too) -- it imports fine without a GPU. 0.5.23 imports torchvision
# lazily, so it gets the small CPU torch.
_TORCH_CUDA_2_14 = [
    "torch==2.14.1",
    "torchvision==0.29.1",
    "cuda-bindings==13.5.0",
    "cuda-pathfinder==1.9.1",
    "cuda-toolkit==13.0.3.0",
    "nvidia-cublas==13.1.1.3",
    "nvidia-cuda-cupti==13.0.85",
    "nvidia-cuda-nvrtc==13.0.88",
    "nvidia-cuda-runtime==13.0.96",
    "nvidia-cudnn-cu13==9.24.0.43",
    "nvidia-cufft==12.0.0.61",
    "nvidia-cufile==1.15.1.6",
    "nvidia-curand==10.4.0.35",
    "nvidia-cusolver==12.0.4.66",
    "nvidia-cusparse==12.6.3.3",
    "nvidia-cusparselt-cu13==0.8.1",
    "nvidia-nccl-cu13==2.30.7",
    "nvidia-nvjitlink==13.4.92",
    "nvidia-nvshmem-cu13==3.4.5",
    "nvidia-nvtx==13.0.85",
]

_EXTRA = {
    "0.5.10": [
        *_TORCH_CUDA_2_14,
        "annotated-doc==0.0.7",
        "click==8.5.1",
        "dill==0.4.1",
        "distro==1.9.0",
        "h11==0.16.0",
        "hf-xet==1.8.0",
        "httpcore==1.0.9",
        "httpx==0.28.1",
        "huggingface_hub==1.33.0",
        "jiter==0.19.0",
        "markdown-it-py==4.3.0",
        "mdurl==0.1.2",
        "openai==2.6.1",  # sglang 0.5.10's own pin
        "partial-json-parser==0.2.1.1.post7",
        "PyYAML==6.0.4",
        "regex==2026.11.19",
        "rich==15.0.0",
        "safetensors==0.8.0",
        "sentencepiece==0.2.3",
        "shellingham==1.5.4",
        "sniffio==1.3.1",
        "tokenizers==0.22.2",
        "transformers==5.3.0",  # sglang 0.5.10's own pin
        "typer==0.29.2",
    ],
    "0.5.23": ["@torch-cpu"],
}


def _log(msg: str) -> None:
    print(f"[sglang_manifest] {msg}", file=sys.stderr, flush=True)


def _check_version(version: str) -> None:
    if version not in _EXTRA:
        raise ValueError(
            f"unsupported SGLang version {version!r}; known: {', '.join(sorted(_EXTRA))}"
        )


def requirements(version: str) -> list[str]:
    """Exact pip arguments (all installed with --no-deps) for a version's venv."""
    _check_version(version)
    reqs = [f"sglang=={version}", *_COMMON]
    for item in _EXTRA[version]:
        if item == "@torch-cpu":
            wheels = sorted(glob.glob(_TORCH_CPU_GLOB))
            reqs.append(wheels[-1] if wheels else "torch==2.13.0")
        else:
            reqs.append(item)
    return reqs


def env_dir(version: str) -> Path:
    return CACHE_ROOT / version / "venv"


def _python_in(venv: Path) -> Path:
    return venv / "bin" / "python"


def _fingerprint(reqs: Sequence[str]) -> str:
    payload = json.dumps({"reqs": list(reqs), "python": list(sys.version_info[:2])}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def _marker_ok(venv: Path, fingerprint: str) -> bool:
    marker = venv / MARKER
    if not marker.is_file() or not _python_in(venv).exists():
        return False
    try:
        return json.loads(marker.read_text()).get("fingerprint") == fingerprint
    except (OSError, ValueError):
        return False


@contextlib.contextmanager
def _lock(version: str):
    lock_path = CACHE_ROOT / version / ".lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _run(cmd: Sequence[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(list(map(str, cmd)), check=True, **kwargs)


def _base_python() -> str:
    # A venv made from inside another venv is based on the same base interpreter.
    return sys.executable


def ensure_env(version: str, *, quiet: bool = False) -> Path:
    """Create (or reuse) the venv for `version` and return its python executable.

    Idempotent: a marker file with a fingerprint of the install list marks a finished venv;
    a missing or different marker rebuilds the venv from scratch. Safe across processes
    (file lock per version).
    """
    _check_version(version)
    reqs = requirements(version)
    fingerprint = _fingerprint(reqs)
    venv = env_dir(version)
    log = (lambda _m: None) if quiet else _log
    if _marker_ok(venv, fingerprint):
        return _python_in(venv)
    with _lock(version):
        if _marker_ok(venv, fingerprint):
            return _python_in(venv)
        if sys.version_info[:2] != (3, 11):
            log(
                f"warning: building with Python {sys.version_info[0]}.{sys.version_info[1]}; "
                "the pins and the local torch wheels are for CPython 3.11"
            )
        t_all = time.monotonic()
        if venv.exists():
            shutil.rmtree(venv)
        t0 = time.monotonic()
        _run([_base_python(), "-m", "venv", venv])
        log(f"{version}: venv created in {time.monotonic() - t0:.1f}s")
        py = _python_in(venv)
        env = dict(os.environ)
        env.pop("PIP_REQUIRE_VIRTUALENV", None)
        env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
        t0 = time.monotonic()
        _run(
            [
                py,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--no-compile",
                "--no-input",
                *reqs,
            ],
            env=env,
            stdout=subprocess.DEVNULL if quiet else None,
        )
        log(f"{version}: {len(reqs)} packages installed in {time.monotonic() - t0:.1f}s")
        t0 = time.monotonic()
        probe = (
            "import argparse\n"
            "from sglang.srt.server_args import ServerArgs\n"
            "p = argparse.ArgumentParser()\n"
            "ServerArgs.add_cli_args(p)\n"
            "print(len(p._actions))\n"
        )
        out = _run(
            [py, "-c", probe],
            env=_clean_env(),
            capture_output=True,
            text=True,
        ).stdout.strip()
        log(f"{version}: real parser builds ({out} actions) in {time.monotonic() - t0:.1f}s")
        (venv / MARKER).write_text(
            json.dumps({"fingerprint": fingerprint, "requirements": reqs}, indent=1) + "\n"
        )
        log(f"{version}: environment ready in {time.monotonic() - t_all:.1f}s")
    return _python_in(venv)


def _clean_env() -> dict[str, str]:
    """Environment for running sglang code: no SGLANG_*/CUDA/HF settings leak in."""
    drop_prefixes = ("SGLANG_", "SGL_", "CUDA_", "HF_", "TRANSFORMERS_", "TORCH", "PYTHON")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop_prefixes)}
    env["CUDA_VISIBLE_DEVICES"] = ""
    env["PYTHONHASHSEED"] = "0"
    env["PYTHONNOUSERSITE"] = "1"
    return env


def manifest_path(version: str) -> Path:
    return MANIFEST_DIR / f"sglang-{version}.json"


def extract_manifest(version: str) -> str:
    """Run the extractor inside the version's venv; return the manifest JSON text."""
    py = ensure_env(version)
    t0 = time.monotonic()
    proc = subprocess.run(
        [str(py), str(EXTRACTOR)],
        env=_clean_env(),
        capture_output=True,
        text=True,
        cwd=str(env_dir(version).parent),
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"manifest extraction for sglang {version} failed:\n{proc.stderr[-4000:]}"
        )
    text = proc.stdout
    manifest = json.loads(text)
    if manifest.get("sglang_version") != version:
        raise RuntimeError(
            f"venv reports sglang {manifest.get('sglang_version')!r}, expected {version!r}"
        )
    _log(f"{version}: manifest extracted in {time.monotonic() - t0:.1f}s")
    return text


def write_manifest(version: str) -> Path:
    text = extract_manifest(version)
    path = manifest_path(version)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def check_manifest(version: str) -> tuple[bool, str]:
    """(True, "") when the shipped manifest equals a fresh extraction, else (False, diff)."""
    fresh = extract_manifest(version)
    path = manifest_path(version)
    shipped = path.read_text(encoding="utf-8") if path.exists() else ""
    if shipped == fresh:
        return True, ""
    rel = path.relative_to(REPO) if path.is_relative_to(REPO) else path
    diff = "".join(
        difflib.unified_diff(
            shipped.splitlines(keepends=True),
            fresh.splitlines(keepends=True),
            fromfile=f"{rel} (shipped)",
            tofile=f"{rel} (sglang=={version})",
        )
    )
    return False, diff or f"{rel}: missing\n"


def real_parse(version: str, argvs: Iterable[Sequence[str]]) -> list[dict]:
    """Parse each argv with the real SGLang parser of `version` (parse only, no ServerArgs).

    Returns one verdict per argv: {"ok": bool, "error": str | None, "warnings": [str]}.
    """
    argv_list = [list(map(str, a)) for a in argvs]
    py = ensure_env(version)
    proc = subprocess.run(
        [str(py), str(REAL_PARSE)],
        input=json.dumps(argv_list),
        env=_clean_env(),
        capture_output=True,
        text=True,
        cwd=str(env_dir(version).parent),
    )
    if proc.returncode != 0:
        raise RuntimeError(f"real_sglang_parse failed for {version}:\n{proc.stderr[-4000:]}")
    verdicts = json.loads(proc.stdout)
    if len(verdicts) != len(argv_list):
        raise RuntimeError("real_sglang_parse returned a wrong number of verdicts")
    return verdicts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Build or check generator/manifests/sglang-*.json")
    ap.add_argument(
        "--version",
        action="append",
        help=f"SGLang version (repeatable; default: all of {', '.join(SUPPORTED_VERSIONS)})",
    )
    ap.add_argument("--check", action="store_true", help="compare instead of writing")
    ap.add_argument(
        "--python-of",
        metavar="VERSION",
        help="ensure the venv for VERSION and print its python executable",
    )
    ap.add_argument(
        "--print-requirements",
        metavar="VERSION",
        help="print the pinned install list for VERSION and exit",
    )
    opts = ap.parse_args(argv)

    if opts.print_requirements:
        print("\n".join(requirements(opts.print_requirements)))
        return 0
    if opts.python_of:
        print(ensure_env(opts.python_of))
        return 0

    versions = opts.version or list(SUPPORTED_VERSIONS)
    status = 0
    for version in versions:
        t0 = time.monotonic()
        if opts.check:
            ok, diff = check_manifest(version)
            if ok:
                _log(f"{version}: {manifest_path(version).relative_to(REPO)} is up to date")
            else:
                sys.stdout.write(diff)
                _log(
                    f"{version}: shipped manifest is STALE; regenerate with "
                    f"python scripts/sglang_manifest.py --version {version}"
                )
                status = 1
        else:
            path = write_manifest(version)
            _log(f"{version}: wrote {path.relative_to(REPO)}")
        _log(f"{version}: done in {time.monotonic() - t0:.1f}s")
    return status


if __name__ == "__main__":
    sys.exit(main())
