#!/usr/bin/env python3
"""Build / check the shipped SGLang server-flag manifests from the real sglang package.

    python scripts/sglang_manifest.py                      # regenerate every supported version
    python scripts/sglang_manifest.py --version 0.5.23     # one version
    python scripts/sglang_manifest.py --version 0.5.23 --check   # exit 1 + diff if stale
    python scripts/sglang_manifest.py --python-of 0.5.23   # print that venv's python
    python scripts/sglang_manifest.py --history            # the flag history of every release
    python scripts/sglang_manifest.py --history --check    # exit 1 + diff if stale

For each version a throwaway venv lives at ``.cache/sglang/<version>/venv`` (gitignored).
It gets ``sglang==<version>`` with ``--no-deps`` plus the pinned, minimal set of packages that
importing ``sglang.srt.server_args`` needs (found by trial), all installed with ``--no-deps``
so pip resolves nothing and never follows sglang's own CUDA-heavy pins. A marker file in the
venv records the exact install list, so a second run reuses the venv. Only PyPI (and the
machine's local wheel mirror that pip is configured with) is contacted.

Importable API (tests use it):

    ensure_env(version) -> Path          python executable of the ready venv
    extract_manifest(version) -> str     manifest JSON text from the real parser
    manifest_path(version) -> Path       generator/sglang/manifests/sglang-<version>.json
    check_manifest(version) -> (bool, str)   (is the shipped file current?, unified diff)
    write_manifest(version) -> Path
    real_parse(version, argvs) -> list[dict] verdicts {"ok", "error", "warnings"} per argv
    real_kv(version, model, cases) -> list[dict]  SGLang's own KV cell size and pool tokens
    real_weights(version, cases) -> list[dict]  SGLang's own weight creation for one rank
    build_history() -> str               manifests/history.json text (see HISTORY_RELEASES)

The history (`--history`, `make sglang-history`) is what `migrate` reads to name the release
where a flag, a choice or an environment variable changed: every release in HISTORY_RELEASES
is extracted by the same extractor (a full manifest each, cached in .cache/sglang/<v>/), and
only the differences between consecutive releases are kept (a full manifest is ~200 kB; the
history of all of them is a few kB per release). The supported versions' shipped manifests are
used as they are, so the history and the shipped manifests cannot disagree.
"""

from __future__ import annotations

import argparse
import atexit
import concurrent.futures
import contextlib
import difflib
import fcntl
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = REPO / "scripts"
CACHE_ROOT = REPO / ".cache" / "sglang"
MANIFEST_DIR = REPO / "generator" / "sglang" / "manifests"
EXTRACTOR = SCRIPTS / "extract_sglang_manifest.py"
REAL_PARSE = SCRIPTS / "real_sglang_parse.py"
REAL_KV = SCRIPTS / "real_sglang_kv.py"
REAL_WEIGHTS = SCRIPTS / "real_sglang_weights.py"
MARKER = ".sglang-manifest-env.json"

SCHEMA = REPO / "generator" / "profile" / "schema.json"


def _vt(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version))


# The versions that have a shipped manifest: adding one is `make sglang-manifest VERSION=x`.
SUPPORTED_VERSIONS = tuple(
    sorted((p.stem.removeprefix("sglang-") for p in MANIFEST_DIR.glob("sglang-*.json")), key=_vt)
)

# Pins: the minimal set of distributions that `import sglang.srt.server_args` +
# `ServerArgs.add_cli_args(...)` needs, found by trial (import, read the ModuleNotFoundError,
# add the package; then drop every package not in sys.modules afterwards and re-check).
# Everything is installed with --no-deps, so pip resolves nothing and sglang's own pins
# (CUDA kernels, torch==X) are never followed. Versions are chosen so that most wheels lie in
# this machine's local wheel mirror (see _local_wheel); elsewhere pip fetches the same pins
# from PyPI. The manifest depends only on sglang's own code, not on these versions.
_COMMON = [
    "aiohappyeyeballs==2.7.1",
    "aiohttp==3.14.3",
    "aiosignal==1.4.0",
    "annotated-types==0.8.0",
    "anyio==4.15.1",
    "attrs==26.1.0",
    "certifi==2026.7.22",
    "charset-normalizer==3.5.2",
    "frozenlist==1.8.0",
    "idna==3.20",
    "ipython==9.17.1",
    "msgspec==0.22.0",
    "multidict==7.0.0",
    "numpy==2.4.6",
    "orjson==3.12.0",
    "packaging==26.3",
    "pillow==12.3.0",
    "propcache==0.5.4",
    "psutil==7.2.2",
    "pybase64==1.5.1",
    "pydantic==2.13.5",
    "pydantic-core==2.46.5",
    "pygments==2.21.0",
    "pyzmq==27.2.0",
    "requests==2.34.2",
    "starlette==1.7.0",
    "tqdm==4.70.1",
    "traitlets==5.16.1",
    "triton==3.8.0",
    "typing-extensions==4.16.0",
    "typing-inspection==0.4.4",
    "urllib3==2.8.0",
    "yarl==1.25.1",
]

# 0.5.23 imports torchvision lazily: the small CPU build of torch 2.13.0 (on this machine's
# disk; it is not on PyPI, so where it is missing pins() uses _TORCH_CUDA_2_14 instead).
_TORCH_CPU = ["torch==2.13.0+cpu"]

# 0.5.10's sglang/srt/utils/common.py does `from torchvision.io import decode_jpeg` at import
# time, and PyPI's torchvision only loads beside a CUDA build of torch ("operator
# torchvision::nms does not exist" with the CPU build). So 0.5.10 gets the CUDA build of torch
# 2.14.1 + torchvision 0.29.1 and their nvidia-* libraries (all in the local mirror); it
# imports fine without a GPU.
_TORCH_CUDA_2_14 = [
    "torch==2.14.1",
    "torchvision==0.29.1",
    "cuda-bindings==13.5.0",
    "cuda-pathfinder==1.8.3",
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
    "mpmath==1.3.0",
    "sympy==1.14.0",  # torch.fx, imported via torchvision
]

# What scripts/real_sglang_kv.py (the KV sizing ground truth) needs on top of the parser's set:
# the sizing modules import transformers' configs and torch._functorch (networkx, sympy). Found
# by trial as above; GPU-only packages they import but never call get empty modules there.
_SIZING_0_5_10 = ["networkx==3.6.1"]
_SIZING_0_5_23 = [
    "dill==0.4.1",
    "filelock==4.0.8",
    "fsspec==2026.9.0",
    "h11==0.16.0",
    "httpcore==1.0.9",
    "httpx==0.28.1",
    "huggingface-hub==1.33.0",
    "mpmath==1.3.0",
    "networkx==3.6.1",
    "pyyaml==6.0.3",
    "regex==2026.9.29",
    "safetensors==0.8.0",
    "sympy==1.14.0",
    "tokenizers==0.23.2",
    "transformers==5.18.0",  # sglang 0.5.23 pins 5.19.0; only PretrainedConfig is used
    # scripts/real_sglang_weights.py (the layer modules' imports): the OpenAI protocol models,
    # einops, and compressed-tensors (sglang 0.5.23's own pin) for Kimi's INT4 experts; pure Python
    "compressed-tensors==0.18.0",
    "distro==1.9.0",
    "einops==0.8.2",
    "jiter==0.19.0",
    "loguru==0.7.3",
    "openai==2.6.1",
    "sniffio==1.3.1",
]

_EXTRA_0_5_10 = [
    *_TORCH_CUDA_2_14,
    *_SIZING_0_5_10,
    "dill==0.4.1",
    "distro==1.9.0",
    "filelock==4.0.8",
    "h11==0.16.0",
    "httpcore==1.0.9",
    "httpx==0.28.1",
    "huggingface-hub==1.33.0",
    "openai==2.6.1",  # sglang 0.5.10's own pin
    "partial-json-parser==0.2.1.1.post7",
    "pyyaml==6.0.3",
    "regex==2026.9.29",
    "safetensors==0.8.0",
    "sentencepiece==0.2.2",
    "sniffio==1.3.1",
    "tokenizers==0.22.2",
    "transformers==5.3.0",  # sglang 0.5.10's own pin
]

_EXTRA = {
    "0.5.10": _EXTRA_0_5_10,
    # 0.5.17 imports xgrammar's StructuralTag at module level (srt/function_call/
    # inkling_detector.py), and xgrammar imports tvm_ffi; the rest is 0.5.10's set.
    "0.5.17": [
        *_EXTRA_0_5_10,
        "apache-tvm-ffi==0.1.11",
        "xgrammar==0.2.1",
    ],
    "0.5.23": [*_TORCH_CPU, *_SIZING_0_5_23],
}
# The releases between the supported versions (history only, HISTORY_RELEASES) import torchvision
# at start as 0.5.10 does, so they share one venv of 0.5.10's pin set, where each release in turn
# gets its own wheel and the transformers and tokenizers it pins itself (its METADATA: 0.5.13
# pins transformers 5.8.1; model configs it registers clash with newer ones). Where it pins no
# tokenizers, 0.5.10's 0.22.2 stays. From 0.5.16 the parser module imports xgrammar (its own pin),
# and apache-tvm-ffi (their own pins; where a release pins no apache-tvm-ffi, 0.1.11).
_HISTORY_OWN_PINS = ("transformers", "tokenizers", "xgrammar", "apache-tvm-ffi")
_HISTORY_DEFAULT_PINS = ["apache-tvm-ffi==0.1.11"]

# Every plain release on PyPI from the oldest to the newest supported version (`pip index
# versions sglang`, Dec 2026). Post releases (0.5.10.post1, 0.5.12.post1, 0.5.13.post1,
# 0.5.15.post1) are left out: image tags and `sglang.version` name plain releases.
HISTORY_RELEASES = (
    "0.5.10",
    "0.5.11",
    "0.5.12",
    "0.5.13",
    "0.5.14",
    "0.5.15",
    "0.5.16",
    "0.5.17",
    "0.5.18",
    "0.5.19",
    "0.5.20",
    "0.5.21",
    "0.5.22",
    "0.5.23",
)
HISTORY_PATH = MANIFEST_DIR / "history.json"
# What the history keeps of each argument (help text and types are left out: migrate names
# what changed, the shipped manifests judge flag sets).
_HISTORY_FIELDS = ("dest", "choices", "default", "deprecated", "replaced_by")

# Local wheel folders tried before the index (a path given to pip skips the index lookup,
# which costs more than the download here: pip parses PyPI's multi-MB project pages).
# Override with SGLANG_MANIFEST_WHEEL_DIRS=dir1:dir2 (empty to disable).
_DEFAULT_WHEEL_DIRS = ("/opt/wheels", "/opt/pypi/files", "/opt/pypi-more/files")


def _log(msg: str) -> None:
    print(f"[sglang_manifest] {msg}", file=sys.stderr, flush=True)


def _check_version(version: str) -> None:
    if not re.fullmatch(r"\d+\.\d+\.\d+", version):
        raise ValueError(f"not an SGLang release version: {version!r} (e.g. 0.5.23)")


def _extra_for(version: str) -> list[str]:
    """The pin set of the closest known version at or below `version` (else the oldest)."""
    known = sorted(_EXTRA, key=_vt)
    below = [v for v in known if _vt(v) <= _vt(version)]
    return list(_EXTRA[below[-1] if below else known[0]])


def pins(version: str) -> list[str]:
    """The exact `name==version` pins (installed with --no-deps) for a version's venv."""
    _check_version(version)
    extra = _extra_for(version)
    if _TORCH_CPU[0] in extra and _local_wheel(_TORCH_CPU[0], _wheel_dirs()) is None:
        # No CPU wheel on disk and PyPI has only CUDA builds of torch: use the CUDA set
        # (torch 2.14.1 is also what sglang 0.5.23 itself pins).
        extra = [p for p in extra if p not in _TORCH_CPU]
        extra += [p for p in _TORCH_CUDA_2_14 if p not in extra]
    return [f"sglang=={version}", *_COMMON, *extra]


def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _wheel_dirs() -> list[Path]:
    raw = os.environ.get("SGLANG_MANIFEST_WHEEL_DIRS")
    dirs = _DEFAULT_WHEEL_DIRS if raw is None else [d for d in raw.split(":") if d]
    return [Path(d) for d in dirs if Path(d).is_dir()]


def _wheel_fits(py_tag: str, abi_tag: str, plat_tag: str) -> bool:
    machine = platform.machine()
    if plat_tag != "any":
        plats = plat_tag.split(".")
        if not any(p.startswith("manylinux") and p.endswith("_" + machine) for p in plats):
            return False
    cp = f"cp{sys.version_info[0]}{sys.version_info[1]}"
    for tag in py_tag.split("."):
        if tag in ("py3", f"py{sys.version_info[0]}{sys.version_info[1]}", cp):
            return abi_tag in ("none", cp, "abi3")
        if abi_tag == "abi3" and re.fullmatch(r"cp3\d+", tag):
            if int(tag[3:]) <= sys.version_info[1]:
                return True
    return False


def _local_wheel(pin: str, dirs: Sequence[Path]) -> str | None:
    name, _, version = pin.partition("==")
    want = _canon(name)
    for d in dirs:
        for path in sorted(d.glob("*.whl")):
            parts = path.name[: -len(".whl")].split("-")
            if len(parts) not in (5, 6):
                continue
            if _canon(parts[0]) != want or parts[1] != version:
                continue
            if _wheel_fits(*parts[-3:]):
                return str(path)
    return None


def install_args(version: str) -> list[str]:
    """pip arguments for the version's pins: a local wheel path where one lies on disk."""
    dirs = _wheel_dirs()
    args = []
    for pin in pins(version):
        args.append(_local_wheel(pin, dirs) or pin)
    return args


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


def _pip_prefix(venv_python: Path) -> tuple[list[str], bool]:
    """(command prefix running pip against the venv, whether the venv needs its own pip)."""
    try:
        import pip  # noqa: F401  (pip >= 22.3 has --python)

        major, minor = (int(x) for x in pip.__version__.split(".")[:2])
        if (major, minor) >= (22, 3):
            return [sys.executable, "-m", "pip", "--python", str(venv_python)], False
    except Exception:
        pass
    return [str(venv_python), "-m", "pip"], True


_PROBE = (
    "import argparse\n"
    "from sglang.srt.server_args import ServerArgs\n"
    "p = argparse.ArgumentParser()\n"
    "ServerArgs.add_cli_args(p)\n"
    "print(len(p._actions))\n"
)


def ensure_env(version: str, *, quiet: bool = False) -> Path:
    """Create (or reuse) the venv for `version` and return its python executable.

    Idempotent: a marker file holding a fingerprint of the pins (and the Python version)
    marks a finished venv; a missing or different marker rebuilds it from scratch. Safe
    across processes (one file lock per version). Building also checks that the real parser
    can be built in the new venv.
    """
    _check_version(version)
    fingerprint = _fingerprint(pins(version))
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
        py = _python_in(venv)
        pip_cmd, needs_pip = _pip_prefix(py)
        t0 = time.monotonic()
        _run([sys.executable, "-m", "venv", *([] if needs_pip else ["--without-pip"]), venv])
        log(f"{version}: venv created in {time.monotonic() - t0:.1f}s")
        env = dict(os.environ)
        env.pop("PIP_REQUIRE_VIRTUALENV", None)
        env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
        base = [*pip_cmd, "install", "--quiet", "--no-deps", "--no-compile", "--no-input"]
        args = install_args(version)
        n_local = sum(1 for a in args if a.endswith(".whl"))
        t0 = time.monotonic()
        try:
            _run([*base, *args], env=env, stdout=subprocess.DEVNULL if quiet else None)
        except subprocess.CalledProcessError:
            if n_local == 0:
                raise
            log(f"{version}: install with local wheels failed; retrying from the index")
            n_local = 0
            _run([*base, *pins(version)], env=env)
        log(
            f"{version}: {len(args)} packages installed ({n_local} from local wheels) "
            f"in {time.monotonic() - t0:.1f}s"
        )
        t0 = time.monotonic()
        proc = subprocess.run(
            [str(py), "-c", _PROBE],
            env=_clean_env(),
            capture_output=True,
            text=True,
            cwd=str(venv.parent),
        )
        if proc.returncode != 0:
            raise RuntimeError(
                f"sglang {version}: building the real parser failed in {venv}:\n"
                f"{proc.stderr[-4000:]}"
            )
        log(
            f"{version}: real parser builds ({proc.stdout.strip()} actions) "
            f"in {time.monotonic() - t0:.1f}s"
        )
        (venv / MARKER).write_text(
            json.dumps({"fingerprint": fingerprint, "pins": pins(version)}, indent=1) + "\n"
        )
        log(f"{version}: environment ready in {time.monotonic() - t_all:.1f}s")
    return py


def ensure_envs(versions: Iterable[str] = SUPPORTED_VERSIONS) -> dict[str, Path]:
    """ensure_env for several versions at once (built in parallel)."""
    versions = list(dict.fromkeys(versions))
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(versions))) as pool:
        futures = {v: pool.submit(ensure_env, v) for v in versions}
        return {v: f.result() for v, f in futures.items()}


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


def _write(version: str, text: str) -> Path:
    path = manifest_path(version)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _compare(version: str, fresh: str) -> tuple[bool, str]:
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


def write_manifest(version: str) -> Path:
    """Extract from the real package, write generator/sglang/manifests/sglang-<version>.json, and list
    the version in the profile schema's sglang.version enum."""
    path = _write(version, extract_manifest(version))
    sync_schema_versions()
    return path


def sync_schema_versions() -> None:
    """Make the schema's sglang.version enum the set of versions with a manifest."""
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    versions = sorted(
        (p.stem.removeprefix("sglang-") for p in MANIFEST_DIR.glob("sglang-*.json")), key=_vt
    )
    version_field = schema["properties"]["sglang"]["properties"]["version"]
    if version_field["enum"] != versions:
        version_field["enum"] = versions
        SCHEMA.write_text(json.dumps(schema, indent=2) + "\n", encoding="utf-8")


def check_manifest(version: str) -> tuple[bool, str]:
    """(True, "") when the shipped manifest equals a fresh extraction, else (False, diff)."""
    return _compare(version, extract_manifest(version))


def real_parse(version: str, argvs: Iterable[Sequence[str]]) -> list[dict]:
    """Parse each argv with the real SGLang parser of `version` (parse only, no ServerArgs).

    Returns one verdict per argv: {"ok": bool, "error": str | None, "warnings": [str]}.
    """
    argv_list = [list(map(str, a)) for a in argvs]
    return _run_in_env(version, REAL_PARSE, argv_list, len(argv_list))


def real_kv(version: str, model: dict, cases: Sequence[dict]) -> list[dict]:
    """Run SGLang `version`'s own KV sizing code on each case (scripts/real_sglang_kv.py).

    Returns one {"cell_size", "pool_tokens", "available_bytes"} per case.
    """
    return _run_in_env(version, REAL_KV, {"model": model, "cases": list(cases)}, len(cases))


def real_weights(version: str, cases: Sequence[dict]) -> list[dict]:
    """Run SGLang `version`'s own weight creation for one rank per case
    (scripts/real_sglang_weights.py): the error it raises, or the bytes it creates."""
    return _run_in_env(version, REAL_WEIGHTS, {"cases": list(cases)}, len(cases))


class _Worker:
    """One scripts/real_sglang_*.py process in a version's venv, kept for the rest of this
    process: SGLang's import (7-11 s here) is paid once per version and script, not per call.
    One JSON request a line in, one JSON answer a line out; stderr goes to a file, read on
    failure."""

    def __init__(self, python: Path, version: str, script: Path) -> None:
        self.name = f"{script.stem} for {version}"
        self.lock = threading.Lock()
        self.stderr = tempfile.TemporaryFile(mode="w+", encoding="utf-8")
        self.proc = subprocess.Popen(
            [str(python), str(script)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            env=_clean_env(),
            text=True,
            cwd=str(env_dir(version).parent),
        )

    def ask(self, payload: object) -> list:
        with self.lock:
            try:
                self.proc.stdin.write(json.dumps(payload) + "\n")
                self.proc.stdin.flush()
                line = self.proc.stdout.readline()
            except (BrokenPipeError, OSError):
                line = ""
            if not line:  # it died on this request: say why, and start afresh next time
                self.close()
                self.stderr.seek(0)
                raise RuntimeError(f"{self.name} failed:\n{self.stderr.read()[-4000:]}")
            return json.loads(line)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


_WORKERS: dict[tuple[str, Path], _Worker] = {}
_WORKERS_LOCK = threading.Lock()


@atexit.register
def _close_workers() -> None:
    for worker in _WORKERS.values():
        worker.close()


def _run_in_env(version: str, script: Path, payload: object, expected: int) -> list:
    """Run one of the scripts/real_sglang_*.py in SGLang `version`'s venv: JSON in, a list out."""
    python = ensure_env(version)  # outside the lock: versions build side by side
    with _WORKERS_LOCK:
        worker = _WORKERS.get((version, script))
        if worker is None or worker.proc.poll() is not None:
            worker = _WORKERS[(version, script)] = _Worker(python, version, script)
    results = worker.ask(payload)
    if len(results) != expected:
        raise RuntimeError(f"{worker.name} returned {len(results)} results, expected {expected}")
    return results


def history_manifest(version: str) -> dict:
    """The full manifest of one release: the shipped file for a supported version, else the
    extraction cached in .cache/sglang/<version>/manifest.json (see _extract_history)."""
    if version in SUPPORTED_VERSIONS:
        return json.loads(manifest_path(version).read_text(encoding="utf-8"))
    cached = CACHE_ROOT / version / "manifest.json"
    if not cached.is_file():
        _extract_history([version])
    return json.loads(cached.read_text(encoding="utf-8"))


_OWN_PINS_PROBE = (
    "import importlib.metadata as m, re, json\n"
    "out = {}\n"
    "for req in m.requires('sglang') or []:\n"
    "    hit = re.fullmatch(r'([A-Za-z0-9_.-]+)==([^;\\s]+)', req.strip())\n"
    "    if hit: out[hit.group(1).lower()] = hit.group(2)\n"
    "print(json.dumps(out))\n"
)


def _history_pins(py: Path, version: str) -> list[str]:
    """What a historical release gets on top of the shared venv: its wheel, then the
    transformers and tokenizers it pins itself (else 0.5.10's, so no release inherits another's)."""
    own = json.loads(
        subprocess.run(
            [str(py), "-c", _OWN_PINS_PROBE], capture_output=True, text=True, check=True
        ).stdout
    )
    base = {p.partition("==")[0]: p for p in [*_EXTRA["0.5.10"], *_HISTORY_DEFAULT_PINS]}
    return [f"{name}=={own[name]}" if name in own else base[name] for name in _HISTORY_OWN_PINS]


def _extract_history(versions: Sequence[str]) -> None:
    """Extract the releases that are not supported versions into .cache/sglang/<v>/manifest.json:
    one shared venv of 0.5.10's pin set (.cache/sglang/history/venv, removed afterwards), into
    which each release's sglang wheel and own pins are installed in turn (--no-deps) before the
    same extractor runs. A release whose extraction fails is logged and skipped."""
    todo = [
        v
        for v in versions
        if v not in SUPPORTED_VERSIONS and not (CACHE_ROOT / v / "manifest.json").is_file()
    ]
    if not todo:
        return
    venv = CACHE_ROOT / "history" / "venv"
    py = _python_in(venv)
    base = [p for p in pins("0.5.10") if not p.startswith("sglang==")]
    fingerprint = _fingerprint(base)
    pip_cmd, needs_pip = _pip_prefix(py)
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.pop("PIP_REQUIRE_VIRTUALENV", None)
    dirs = _wheel_dirs()
    install = [*pip_cmd, "install", "--quiet", "--no-deps", "--no-compile", "--no-input"]
    with _lock("history"):
        if not _marker_ok(venv, fingerprint):
            shutil.rmtree(venv, ignore_errors=True)
            _run([sys.executable, "-m", "venv", *([] if needs_pip else ["--without-pip"]), venv])
            t0 = time.monotonic()
            _run([*install, *(_local_wheel(p, dirs) or p for p in base)], env=env)
            (venv / MARKER).write_text(json.dumps({"fingerprint": fingerprint, "pins": base}))
            _log(f"history venv ({len(base)} packages) in {time.monotonic() - t0:.1f}s")
        failed = []
        try:
            for version in todo:
                t0 = time.monotonic()
                _run([*install, "--force-reinstall", f"sglang=={version}"], env=env)
                own = _history_pins(py, version)
                _run(
                    [*install, "--force-reinstall", *(_local_wheel(p, dirs) or p for p in own)],
                    env=env,
                )
                proc = subprocess.run(
                    [str(py), str(EXTRACTOR)],
                    env=_clean_env(),
                    capture_output=True,
                    text=True,
                    cwd=str(venv.parent),
                )
                if proc.returncode != 0:
                    _log(f"{version}: extraction FAILED ({', '.join(own)}):\n{proc.stderr[-3000:]}")
                    failed.append(version)
                    continue
                if json.loads(proc.stdout).get("sglang_version") != version:
                    raise RuntimeError(f"venv does not hold sglang {version}")
                cached = CACHE_ROOT / version / "manifest.json"
                cached.parent.mkdir(parents=True, exist_ok=True)
                cached.write_text(proc.stdout, encoding="utf-8")
                _log(
                    f"{version}: manifest extracted with {', '.join(own)} "
                    f"({len(proc.stdout):,} bytes) in {time.monotonic() - t0:.1f}s"
                )
        finally:
            if not failed:  # kept after a failure, for the next try
                shutil.rmtree(venv, ignore_errors=True)


def _slim(manifest: dict) -> dict[str, dict]:
    return {
        option: {k: arg[k] for k in _HISTORY_FIELDS}
        for arg in manifest["args"]
        for option in arg["option_strings"]
        if option.startswith("--")
    }


def _delta(old: dict, new: dict) -> dict:
    """What changed from one release to the next: flags added (in full), removed, changed
    (field -> [old, new]); SGLANG_* variables added and removed."""
    a, b = _slim(old), _slim(new)
    changed = {}
    for option in sorted(set(a) & set(b)):
        fields = {
            k: [a[option][k], b[option][k]] for k in _HISTORY_FIELDS if a[option][k] != b[option][k]
        }
        if fields:
            changed[option] = fields
    env_a, env_b = set(old["env_vars"]), set(new["env_vars"])
    return {
        "flags_added": {o: b[o] for o in sorted(set(b) - set(a))},
        "flags_removed": sorted(set(a) - set(b)),
        "flags_changed": changed,
        "env_added": sorted(env_b - env_a),
        "env_removed": sorted(env_a - env_b),
    }


def build_history(releases: Sequence[str] = HISTORY_RELEASES) -> str:
    """manifests/history.json: the oldest release's flags in full, then each release's delta."""
    manifests = {v: history_manifest(v) for v in releases}
    for v, m in manifests.items():
        if m.get("sglang_version") != v:
            raise RuntimeError(f"manifest for {v} reports {m.get('sglang_version')!r}")
    first = releases[0]
    document = {
        "schema_version": 1,
        "generated_by": "scripts/sglang_manifest.py --history (make sglang-history)",
        "releases": list(releases),
        "base": {
            "version": first,
            "flags": _slim(manifests[first]),
            "env_vars": sorted(manifests[first]["env_vars"]),
        },
        "changes": {
            new: _delta(manifests[old], manifests[new])
            for old, new in zip(releases, releases[1:], strict=False)
        },
    }
    return _history_json(document)


def _history_json(document: dict) -> str:
    """JSON with one line per flag entry: small, and a new release's diff reads flag by flag."""

    def compact(value) -> str:
        return json.dumps(value, sort_keys=True, separators=(", ", ": "))

    def block(value, depth: int) -> str:
        pad = " " * depth
        if isinstance(value, dict) and value and depth < 4:
            if depth >= 2 and all(isinstance(v, dict) and "dest" in v for v in value.values()):
                inner = [f"{pad} {compact(k)}: {compact(v)}" for k, v in sorted(value.items())]
            else:
                inner = [
                    f"{pad} {compact(k)}: {block(v, depth + 1)}" for k, v in sorted(value.items())
                ]
            return "{\n" + ",\n".join(inner) + f"\n{pad}}}"
        return compact(value)

    return block(document, 0) + "\n"


def _history_main(check: bool) -> int:
    if check:  # from the wheels again, not from what an earlier run cached
        for version in HISTORY_RELEASES:
            (CACHE_ROOT / version / "manifest.json").unlink(missing_ok=True)
    _extract_history(HISTORY_RELEASES)
    done = [
        v
        for v in HISTORY_RELEASES
        if v in SUPPORTED_VERSIONS or (CACHE_ROOT / v / "manifest.json").is_file()
    ]
    for version in sorted(set(HISTORY_RELEASES) - set(done), key=_vt):
        _log(f"{version}: no manifest (its extraction failed above); left out of the history")
    fresh = build_history(done)
    shipped = HISTORY_PATH.read_text(encoding="utf-8") if HISTORY_PATH.exists() else ""
    rel = HISTORY_PATH.relative_to(REPO)
    if not check:
        HISTORY_PATH.write_text(fresh, encoding="utf-8")
        _log(f"wrote {rel} ({len(fresh):,} bytes, {len(HISTORY_RELEASES)} releases)")
        return 0
    if shipped == fresh:
        _log(f"{rel} is up to date")
        return 0
    sys.stdout.write(
        "".join(
            difflib.unified_diff(
                shipped.splitlines(keepends=True),
                fresh.splitlines(keepends=True),
                fromfile=f"{rel} (shipped)",
                tofile=f"{rel} (fresh)",
            )
        )
    )
    _log(f"{rel} is STALE; regenerate with python scripts/sglang_manifest.py --history")
    return 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="Build or check generator/sglang/manifests/sglang-*.json"
    )
    ap.add_argument(
        "--version",
        action="append",
        help=f"SGLang version (repeatable; default: all of {', '.join(SUPPORTED_VERSIONS)})",
    )
    ap.add_argument("--check", action="store_true", help="compare instead of writing")
    ap.add_argument(
        "--history",
        action="store_true",
        help=f"build manifests/history.json from every release {HISTORY_RELEASES[0]}.."
        f"{HISTORY_RELEASES[-1]} (what `migrate` reads)",
    )
    ap.add_argument(
        "--python-of",
        metavar="VERSION",
        help="ensure the venv for VERSION and print its python executable",
    )
    ap.add_argument(
        "--print-requirements",
        metavar="VERSION",
        help="print the pip install arguments (pins / local wheel paths) for VERSION",
    )
    opts = ap.parse_args(argv)

    if opts.print_requirements:
        print("\n".join(install_args(opts.print_requirements)))
        return 0
    if opts.python_of:
        print(ensure_env(opts.python_of))
        return 0
    if opts.history:
        return _history_main(opts.check)

    versions = opts.version or list(SUPPORTED_VERSIONS)
    for version in versions:
        _check_version(version)
    t_start = time.monotonic()
    ensure_envs(versions)
    _log(f"environments ready in {time.monotonic() - t_start:.1f}s")
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(versions)) as pool:
        texts = dict(zip(versions, pool.map(extract_manifest, versions), strict=True))
    status = 0
    for version in versions:
        if opts.check:
            ok, diff = _compare(version, texts[version])
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
            path = _write(version, texts[version])
            _log(f"{version}: wrote {path.relative_to(REPO)}")
    _log(f"total {time.monotonic() - t_start:.1f}s")
    return status


if __name__ == "__main__":
    sys.exit(main())
