"""What each pinned SGLang version chooses by itself for a setting a profile leaves unset.

Read from generator/sglang/manifests/sglang-<version>-defaults.yaml, which records, with the source
file and function, the choice SGLang's own code makes for GLM-5.x (and, under `architectures`, for
the other families by config.json architecture) on each GPU architecture.
`effective` resolves a profile value (None or `auto` meaning "SGLang decides"); `choice` is
what SGLang would pick, for the plan, `sglang-args --explain` and the rendered flag comments.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import yaml

from generator.catalog import GpuSpec, ModelSpec
from generator.sglang.versions import MANIFESTS_DIR

UNSET = (None, "auto")


@dataclass(frozen=True)
class Choice:
    field: str  # the profile's sglang.* field (attention.* for the backends)
    flag: str
    value: Any  # None when this version records no choice for this GPU / KV dtype
    source: str


@cache
def defaults(version: str) -> dict[str, Any]:
    path = MANIFESTS_DIR / f"sglang-{version}-defaults.yaml"
    if not path.is_file():
        return {}
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def recorded_choices(version: str, architecture: str) -> dict | None:
    """The defaults manifest's entries for a config.json architecture ({field: entry}): the
    manifest's own model's `choices`, or another family's under `architectures`; None if
    unrecorded."""
    data = defaults(version)
    if data.get("architecture") == architecture:
        return data.get("choices", {})
    return (data.get("architectures") or {}).get(architecture)


def choice(
    version: str, field: str, model: ModelSpec, gpu: GpuSpec, kv_cache_dtype: str, tp: int = 1
) -> Choice | None:
    """SGLang `version`'s own value for `field` on this model and GPU; None if not recorded."""
    entry = (recorded_choices(version, model.architecture) or {}).get(field)
    if entry is None:
        return None
    value = entry["value"]
    if isinstance(value, dict):
        value = value.get(gpu.arch)
    if isinstance(value, dict):
        value = value.get(kv_cache_dtype)
    if entry.get("needs_tensor_parallel") and tp <= 1:
        value = False
    return Choice(field, entry["flag"], value, entry["source"])


def unrecorded(version: str, model: ModelSpec) -> str | None:
    """Why no flag is compared with SGLang's own choice for this model, and how to record it;
    None when `version`'s defaults manifest records the model's architecture."""
    data, arch = defaults(version), model.architecture
    if recorded_choices(version, arch) is not None:
        return None
    manifest = f"generator/sglang/manifests/sglang-{version}-defaults.yaml"
    if not data:
        where = f"there is no {manifest}"
    else:
        where = f"{manifest} has no `architectures: {arch}:` entry"
    return (
        f"SGLang {version}'s own choices are not recorded for {arch}: {where}, so no flag is "
        "compared with what SGLang would pick, and a flag left `auto` is SGLang's choice, unknown "
        f"here. Record them there (kv_cache_dtype, attention_backend, moe_runner_backend, ... "
        f"per GPU arch, as the other architectures are), read from the sglang=={version} wheel "
        f"(`pip download sglang=={version} --no-deps`: srt/arg_groups/overrides.py and "
        "model_overrides/); `make sglang-manifest VERSION=...` records the flags a version accepts"
    )


def effective(version: str, field: str, value: Any, model: ModelSpec, gpu: GpuSpec, sglang) -> Any:
    """The profile's value, or SGLang's own choice when the profile leaves it to SGLang."""
    if value not in UNSET:
        return value
    kv = sglang.kv_cache_dtype
    if field != "kv_cache_dtype" and kv in UNSET:
        kv = effective(version, "kv_cache_dtype", kv, model, gpu, sglang)
    picked = choice(version, field, model, gpu, kv, sglang.tensor_parallel_size)
    if picked is None or picked.value is None:
        # Not recorded for this version or model. For the KV dtype, a guess: the checkpoint's
        # BF16 activations dtype, which is what `auto` means outside SGLang's DSA override.
        return "bfloat16" if field == "kv_cache_dtype" else None
    return picked.value
