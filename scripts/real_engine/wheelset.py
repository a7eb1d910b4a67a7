#!/usr/bin/env python3
"""Build the wheel set that runs SGLang 0.5.17 on the lane's offline GPU machine.

    python scripts/real_engine/wheelset.py [--out build/real-engine] [--part-mib 30]
    python scripts/real_engine/wheelset.py --list            # the pinned set, no download

That machine (docs/real-engine.md) has Python 3.12, torch 2.11.0+cu130, triton 3.6, transformers
5.17, nvcc and gcc, no network and no SGLang; what it lacks travels as wheels, in parts small
enough for one transfer each. This downloads each pinned wheel from the package index
(`pip download --no-deps`, cp312 manylinux x86_64), trims the two that are too big to carry
(the files dropped are listed in WHEELS with why), packs the wheels into parts of at most
--part-mib MiB, and writes `wheelset.json`: every file with its part, size and sha256, which the
offline install checks before it installs anything.

Adapted from ../shared/real-engine/ (trim_wheel.py, the MANIFEST.txt set and README.md, worked
out for the first real-engine run, ../shared/reference/real-engine-run.md).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / "build" / "real-engine"
MIB = 1 << 20
# 64 MiB is the most one device call carries, the checkout (~3 MiB) included; on 2026-12-07
# every carry of 51-61 MB failed to copy and every one of 30 MiB went through: parts of 30 MiB
# (four, each copied to the machine's /tmp in back-to-back calls; docs/real-engine.md).
DEFAULT_PART_MIB = 30
SGLANG_VERSION = "0.5.17"
PLATFORMS = (
    "manylinux_2_34_x86_64",  # sglang 0.5.17's cp312 wheel
    "manylinux_2_28_x86_64",
    "manylinux_2_27_x86_64",
    "manylinux_2_26_x86_64",
    "manylinux_2_24_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
    "manylinux1_x86_64",
)


@dataclass(frozen=True)
class Wheel:
    name: str
    version: str
    why: str  # why the machine needs it
    drop: tuple[str, ...] = ()  # regular expressions of member paths trimmed away

    @property
    def pin(self) -> str:
        return f"{self.name}=={self.version}"


# The machine already has torch, triton, numpy, requests, httpx, aiohttp, jinja2, pyyaml,
# protobuf, psutil, pillow, huggingface-hub, safetensors, sentencepiece, tiktoken, click,
# typer, rich, uvloop, prometheus-client, ... (.library/device KINDS.md's package list).
WHEELS: tuple[Wheel, ...] = (
    Wheel("sglang", SGLANG_VERSION, "the engine (torch pin 2.11.0: the machine's torch)"),
    Wheel(
        "sglang-kernel",
        "0.4.5",
        "sgl_kernel: SGLang 0.5.17's CUDA kernels (one abi3 wheel, CUDA 13, 383 MiB as published)",
        drop=(
            # FlashAttention 3 (1,071 MiB unpacked), FlashMLA, InfLLM and the Blackwell build:
            # the profile runs Triton attention on sm90, so none of them loads.
            r"sgl_kernel/flash_ops\.abi3\.so$",
            r"sgl_kernel/flashmla_ops\.abi3\.so$",
            r"sgl_kernel/infllm_ops\..*\.so$",
            r"sgl_kernel/sm100/common_ops\.abi3\.so$",
        ),
    ),
    Wheel(
        "flashinfer-python", "0.6.15.post1", "imported on the launch path (no kernel of it runs)"
    ),
    Wheel(
        "torchvision",
        "0.26.0",
        "srt/utils imports decode_jpeg (the machine's build matches torch 2.11)",
    ),
    Wheel(
        "transformers",
        "5.12.1",
        "0.5.17 fails beside 5.17 (\"'qwen3_asr' is already used by a Transformers config\")",
    ),
    Wheel("tokenizers", "0.22.2", "transformers 5.12.1 refuses tokenizers 0.23"),
    Wheel(
        "xgrammar",
        "0.2.1",
        "SGLang's grammar backend (JSON mode); the static library alone is trimmed",
        drop=(r"xgrammar/lib/libxgrammar\.a$",),  # a static library, used only to link
    ),
    Wheel(
        "apache-tvm-ffi", "0.1.11", "SGLang's JIT kernels (position clamp, RoPE, SiLU, KV stores)"
    ),
    Wheel("fastapi", "0.165.0", "SGLang's HTTP server"),
    Wheel("starlette", "1.10.0", "SGLang's HTTP server"),
    Wheel("uvicorn", "0.55.0", "SGLang's HTTP server"),
    Wheel("annotated-doc", "0.0.7", "fastapi"),
    Wheel("python-multipart", "0.0.34", "fastapi forms"),
    Wheel("opentelemetry-api", "1.45.3", "imported by SGLang's tracing module"),
    Wheel("pyzmq", "27.3.0", "SGLang's inter-process queues"),
    Wheel("orjson", "3.13.0", "SGLang's JSON responses"),
    Wheel("msgspec", "0.23.0", "SGLang's IPC messages"),
    Wheel("pybase64", "1.5.1", "SGLang's multimodal inputs"),
    Wheel("openai", "2.6.1", "SGLang's protocol types, and smoke/bench's client"),
    Wheel("jiter", "0.19.0", "openai"),
    Wheel("distro", "1.9.0", "openai"),
    Wheel("sniffio", "1.3.1", "openai"),
    Wheel("compressed-tensors", "0.20.1", "SGLang's quantization registry"),
    Wheel("loguru", "0.7.3", "imported by SGLang"),
    Wheel("ipython", "9.19.1", "imported by SGLang's lang module"),
    Wheel("traitlets", "5.16.1", "ipython"),
    Wheel("dill", "0.4.1", "SGLang's custom logit processor module"),
    Wheel("gguf", "0.19.0", "SGLang's model loader"),
    Wheel("jsonschema", "4.26.0", "SGLang's tool schemas; the generator's profile validation"),
    Wheel("referencing", "0.37.0", "jsonschema"),
    Wheel("rpds-py", "2026.9.1", "jsonschema"),
    Wheel("jsonschema-specifications", "2025.9.1", "jsonschema"),
    Wheel("soundfile", "0.13.1", "SGLang's audio inputs"),
    Wheel("cffi", "2.1.1", "soundfile"),
    Wheel("pycparser", "3.12", "cffi"),
    Wheel("nvidia-ml-py", "13.615.71", "SGLang's GPU queries (pynvml)"),
    Wheel("setproctitle", "1.3.8", "SGLang names its processes (sglang::scheduler)"),
    Wheel("partial-json-parser", "0.2.1.1.post7", "SGLang's tool-call parsers"),
    Wheel("pydantic", "2.14.4", "SGLang's protocol"),
    Wheel("pydantic-core", "2.50.5", "pydantic"),
    Wheel("annotated-types", "0.8.0", "pydantic"),
    Wheel("typing-inspection", "0.4.5", "pydantic"),
    # The rendered app imports modal (its decorators run the serving code, as in a container).
    Wheel("modal", "1.6.4", "the rendered app's own package (pyproject.toml pins it)"),
    Wheel("cbor2", "6.3.0", "modal"),
    Wheel("grpclib", "0.4.9", "modal (<0.4.10)"),
    Wheel("h2", "4.4.1", "grpclib"),
    Wheel("hpack", "4.2.0", "h2"),
    Wheel("hyperframe", "6.1.0", "h2"),
    Wheel("synchronicity", "0.12.7", "modal (~0.12.7)"),
    Wheel("toml", "0.10.2", "modal"),
    Wheel("types-certifi", "2021.10.8.3", "modal"),
    Wheel("types-toml", "0.10.8.20260518", "modal"),
    Wheel("watchfiles", "1.3.0", "modal"),
    # The generator renders the lane's profile on the machine itself (`render` formats with it).
    Wheel("ruff", "0.17.6", "the rendered app is formatted by ruff (pyproject.toml pins it)"),
)


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def wheel_file_matches(path: Path, wheel: Wheel) -> bool:
    """The published wheel of this pin (not a trimmed copy: those carry the 1slim build tag)."""
    parts = path.name.removesuffix(".whl").split("-")
    published = len(parts) == 5
    return published and canonical(parts[0]) == canonical(wheel.name) and parts[1] == wheel.version


def trim(src: Path, dst: Path, drop: tuple[str, ...]) -> list[str]:
    """Copy a wheel without the members matching `drop`, and without their RECORD lines, so
    pip installs it as a whole wheel. The build tag `1slim` marks it (a trimmed wheel is not
    the published one); returns the dropped member names."""
    patterns = [re.compile(p) for p in drop]
    dropped: list[str] = []
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            name = info.filename
            if any(p.search(name) for p in patterns):
                dropped.append(name)
                continue
            data = zin.read(name)
            if name.endswith(".dist-info/RECORD"):
                lines = data.decode().splitlines()
                kept = [ln for ln in lines if not any(p.search(ln.split(",")[0]) for p in patterns)]
                data = ("\n".join(kept) + "\n").encode()
            out = zipfile.ZipInfo(name, date_time=info.date_time)
            out.external_attr = info.external_attr
            out.compress_type = zipfile.ZIP_DEFLATED
            zout.writestr(out, data, compresslevel=9)
    missing = [p.pattern for p in patterns if not any(p.search(n) for n in dropped)]
    if missing:
        raise SystemExit(f"{src.name}: nothing matched {missing}: the wheel's layout changed")
    return dropped


def slim_name(path: Path) -> str:
    """name-version-1slim-py-abi-platform.whl (a build tag sorts it apart from the original)."""
    parts = path.name.removesuffix(".whl").split("-")
    return "-".join([parts[0], parts[1], "1slim", *parts[-3:]]) + ".whl"


def pack(sizes: dict[str, int], limit: int) -> list[list[str]]:
    """Files into as few parts of at most `limit` bytes as first-fit-decreasing finds."""
    parts: list[list[str]] = []
    room: list[int] = []
    for name in sorted(sizes, key=lambda n: (-sizes[n], n)):
        size = sizes[name]
        if size > limit:
            raise SystemExit(
                f"{name} is {size / MIB:.1f} MiB, over the {limit / MIB:.0f} MiB part size"
            )
        for i, left in enumerate(room):
            if size <= left:
                parts[i].append(name)
                room[i] -= size
                break
        else:
            parts.append([name])
            room.append(limit - size)
    return [sorted(p) for p in parts]


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest(files: dict[str, Path], parts: list[list[str]]) -> dict:
    """wheelset.json: the parts, each file's size and sha256, and the pins they came from."""
    by_file = {name: i + 1 for i, part in enumerate(parts) for name in part}
    return {
        "sglang_version": SGLANG_VERSION,
        "python": "cp312",
        "parts": [
            {"part": i + 1, "mib": round(sum(files[n].stat().st_size for n in p) / MIB, 2)}
            for i, p in enumerate(parts)
        ],
        "files": [
            {
                "file": name,
                "part": by_file[name],
                "bytes": files[name].stat().st_size,
                "sha256": sha256(files[name]),
            }
            for name in sorted(files)
        ],
        "pins": [w.pin for w in WHEELS],
        "trimmed": {w.pin: list(w.drop) for w in WHEELS if w.drop},
    }


def download(wheel: Wheel, cache: Path) -> Path:
    found = [p for p in cache.glob("*.whl") if wheel_file_matches(p, wheel)]
    if not found:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
        cmd += ["--only-binary=:all:", "--python-version", "3.12", "--implementation", "cp"]
        for platform in PLATFORMS:
            cmd += ["--platform", platform]
        subprocess.run([*cmd, "-d", str(cache), wheel.pin], check=True)
        found = [p for p in cache.glob("*.whl") if wheel_file_matches(p, wheel)]
    if len(found) != 1:
        raise SystemExit(f"{wheel.pin}: expected one wheel in {cache}, found {found}")
    return found[0]


def build(out: Path, part_mib: float) -> dict:
    cache = out / "downloads"
    cache.mkdir(parents=True, exist_ok=True)
    staged: dict[str, Path] = {}
    for wheel in WHEELS:
        path = download(wheel, cache)
        if wheel.drop:
            slim = cache / slim_name(path)
            if not slim.exists():
                dropped = trim(path, slim, wheel.drop)
                print(
                    f"{wheel.pin}: dropped {len(dropped)} file(s), "
                    f"{path.stat().st_size / MIB:.1f} -> {slim.stat().st_size / MIB:.1f} MiB"
                )
            path = slim
        staged[path.name] = path
    parts = pack({n: p.stat().st_size for n, p in staged.items()}, int(part_mib * MIB))
    for i, names in enumerate(parts, 1):
        folder = out / f"part{i}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for name in names:
            shutil.copy2(staged[name], folder / name)
    data = manifest(staged, parts)
    (out / "wheelset.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    for part in data["parts"]:
        print(f"part{part['part']}: {part['mib']} MiB")
    return data


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--part-mib", type=float, default=DEFAULT_PART_MIB)
    ap.add_argument("--list", action="store_true", help="print the pinned set and exit")
    args = ap.parse_args(argv)
    if args.list:
        for w in WHEELS:
            trimmed = f"  (trimmed: {', '.join(w.drop)})" if w.drop else ""
            print(f"{w.pin:34s} {w.why}{trimmed}")
        return 0
    build(args.out, args.part_mib)
    return 0


if __name__ == "__main__":
    sys.exit(main())
