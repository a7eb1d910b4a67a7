"""`init NAME --model ID --like PROFILE`: a new profile for a model, on another profile's deployment.

It writes `<profiles>/NAME.yaml`, which extends PROFILE and sets what must differ for another
model (app, Volume and API-key Secret names, so PROFILE's app and weights are never replaced;
the model; its parsers and speculative decoding from the catalog recipe; PROFILE's kernel and
window choices left to SGLang when the architecture differs). When no catalog knows the model,
it also writes a stub entry in the user catalog (`<profiles>/models/NAME.yaml`) whose every
`FILL IN` is a located error until filled in (profile/models.py). Nothing is overwritten.
It then validates the new profile and prints what is left to do.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from generator import PROFILES_DIR
from generator.catalog import CatalogEntry, architecture
from generator.errors import Location, ProfileError, UsageError, UserError, printable
from generator.profile.checkpoint import known_model
from generator.profile.load import (
    PROFILE_NAME,
    USER_CATALOG,
    _inside,
    profile_root,
    resolve_profile_path,
)
from generator.profile.models import FILL_IN, MODEL_ID, model_catalog
from generator.render.write import write_atomic

MAX_NAME = 37  # a deploy tag `<profile>-<12 hex>` is at most 50 characters (rules/names.py)

# The settings of PROFILE that belong to its model's kernels and window: left to SGLang (null
# removes an inherited key, so the schema default, "SGLang decides", applies) when the new
# model's architecture class differs.
MODEL_SPECIFIC = ("attention", "context_length", "moe_runner_backend")


def _q(value: str) -> str:
    """A YAML scalar that reads back as exactly `value` (a JSON string is YAML)."""
    return json.dumps(value)


def _check_name(name: str) -> None:
    if not PROFILE_NAME.fullmatch(name) or len(name) > MAX_NAME:
        raise UsageError(
            f"NAME {printable(name)!r}: expected at most {MAX_NAME} lowercase letters, digits, "
            "'.', '_' and '-', starting with a letter or digit (it names the profile file, "
            "build/<name>/, the Modal app and the deploy tag)"
        )


def _stub(model_id: str) -> str:
    return f"""\
# The catalog entry for {model_id}, written by `modal-sglang init` (docs/adding-a-model.md).
# Replace every FILL IN: `make validate` names each one still left, at its line. The shipped
# entries in generator/catalog/models.yaml are worked examples (one per attention design).
{_q(model_id)}:
  family: {FILL_IN}  # glm5, kimi-k2, minimax-m2 or qwen3.5 if it is one (their rules then apply); else a new name
  config_source: {FILL_IN}  # the config.json URL the fields below come from, and what you could not confirm
  config:
    # Copy the published config.json (https://huggingface.co/{model_id}/blob/main/config.json):
    # `architectures`, `model_type` and every field its attention design needs (validate names
    # the missing ones); keep `text_config` nesting as published. Once pinned, `plan` reads the
    # pinned commit's own config.json (recorded by `make pin-revision`) instead.
    architectures: {FILL_IN}
  recipe:  # from the pinned SGLang's sgl-cookbook recipe (data/models/src/<version>/)
    reasoning_parser: {FILL_IN}  # a reasoning parser SGLang registers for it, or null
    tool_call_parser: {FILL_IN}  # a tool-call parser SGLang registers for it, or null
    speculative: {FILL_IN}  # EAGLE or NEXTN for an MTP head, EAGLE3 for a draft checkpoint, null for none
    trust_remote_code: {FILL_IN}  # true if the checkpoint needs its own modelling code
    source: {FILL_IN}  # the recipe file these come from
  quantization: {FILL_IN}  # what the weights are: FP8 block scales, INT4 experts, BF16, ...
  params_total_billion: {FILL_IN}  # the model card's total parameters, in billions
  params_active_billion: {FILL_IN}  # active per token, in billions
  checkpoint_gb: {FILL_IN}  # GB (10^9 bytes) of weights; `make pin-revision` records the commit's own
  checkpoint_source: {FILL_IN}  # where that size comes from
"""


def _profile(
    name: str,
    model_id: str,
    like: str,
    entry: CatalogEntry | None,
    reset: bool,
    stub: Path | None,
    context: tuple[int, int, int] | None = None,
) -> str:
    lines = [
        f"# {model_id} on the deployment of `{like}`, written by `modal-sglang init`.",
        f"# Everything not set here is {like}'s (`extends`). Before the first deploy:",
    ]
    step = 1
    if stub is not None:
        lines.append(
            f"#   {step}. fill in every FILL IN in {Location(stub)} (validate names each one)"
        )
        step += 1
    lines += [
        f"#   {step}. make plan PROFILE={name}            memory, pool, fit and cost on these GPUs",
        f"#   {step + 1}. make pin-revision PROFILE={name}    pins the commit, records its config.json",
        f"#   {step + 2}. modal secret create {name}-api-key SGLANG_API_KEY=...",
        f"#   {step + 3}. make setup PROFILE={name} && make deploy PROFILE={name}",
        f"extends: {_q(like)}",
        f"description: {_q(f'{model_id} on the deployment of {like} (modal-sglang init)')}",
        "",
        "app:",
        f"  name: {_q(name)}  # its own Modal app: {like}'s keeps running",
        "",
        "model:",
        f"  id: {_q(model_id)}",
        "  revision: main  # `make pin-revision` replaces it with the commit",
        f"  served_model_name: {_q(name)}  # what clients send as `model`",
    ]
    if entry is None:
        lines.append("  trust_remote_code: false  # true if the catalog recipe says so")
    else:
        lines.append(
            f"  trust_remote_code: {str(entry.recipe.trust_remote_code).lower()}  # the catalog recipe's"
        )
    lines += [
        "",
        "volumes:  # its own Volumes: the other model's weights and caches are never overwritten",
        "  weights:",
        f"    name: {_q(f'{name}-model-weights')}",
        "  deepgemm_cache:",
        f"    name: {_q(f'{name}-deepgemm-cache')}",
        "",
        "secrets:",
        "  api_key:",
        f"    name: {_q(f'{name}-api-key')}",
        "",
        "sglang:",
    ]
    if entry is None:
        lines += [
            "  # Set from the catalog entry's recipe once filled in:",
            "  reasoning_parser: null",
            "  tool_call_parser: null",
            "  speculative:",
            "    enabled: false  # true with the recipe's algorithm for an MTP head or a draft",
        ]
    else:
        recipe = entry.recipe
        lines += [
            f"  # The catalog recipe's ({' '.join(recipe.source.split())[:120]}):",
            f"  reasoning_parser: {_q(recipe.reasoning_parser) if recipe.reasoning_parser else 'null'}",
            f"  tool_call_parser: {_q(recipe.tool_call_parser) if recipe.tool_call_parser else 'null'}",
            "  speculative:",
        ]
        if recipe.speculative in ("EAGLE", "NEXTN", "EAGLE3"):
            lines += ["    enabled: true", f"    algorithm: {recipe.speculative}"]
        else:
            lines.append("    enabled: false  # the recipe serves it without")
    if reset:
        lines.append(f"  # {like}'s kernel and window choices were for another architecture:")
        lines.append("  # SGLang picks (see `make plan`: flags beside SGLang's own choices)")
        lines += [
            f"  {key}: null" for key in MODEL_SPECIFIC if not (context and key == "context_length")
        ]
    if context is not None:
        cap, window, pool = context
        lines.append(
            f"  context_length: {cap}  # the model's window ({window:,}) exceeds one KV pool "
            f"({pool:,} tokens) here: capped by init; `make plan` shows what fits"
        )
    return "\n".join(lines) + "\n"


def _context_cap(target: Path) -> tuple[int, int, int] | None:
    """(cap, window, pool) when the profile's model window exceeds its KV pool, else None."""
    from generator.capacity.memory import capacity
    from generator.profile.deployment import build_deployment
    from generator.profile.load import load_profile
    from generator.profile.validate import validate_profile

    try:
        d = build_deployment(validate_profile(load_profile(target)))
        cap = capacity(d)
    except UserError:  # a stub still to fill in: plan will say what fits
        return None
    if cap is None or d.sglang.context_length or not 0 < cap.kv_pool_tokens < cap.context_tokens:
        return None
    return cap.kv_pool_tokens // 1024 * 1024, cap.context_tokens, cap.kv_pool_tokens


def init(name: str, model_id: str, like: str, folder: str | None = None) -> int:
    from generator.pipeline import load

    _check_name(name)
    if len(model_id) > 200 or not re.fullmatch(MODEL_ID, model_id):
        raise UsageError(
            f"--model {printable(model_id)[:200]!r}: expected a Hugging Face id, organization/name"
        )
    target_dir = Path(folder) if folder else PROFILES_DIR
    if not target_dir.is_dir():
        raise UsageError(f"--dir {Location(target_dir)}: no such folder")
    target = target_dir / f"{name}.yaml"
    stub = target_dir / USER_CATALOG / f"{name}.yaml"
    for existing in (target, target.with_suffix(".yml")):
        if existing.exists() or existing.is_symlink():
            raise UsageError(
                f"{Location(existing)} exists; init never overwrites: pick another NAME"
            )
    try:
        like_path = resolve_profile_path(like, relative_to=target)
    except ProfileError as exc:
        raise UsageError(f"--like: {exc}") from None
    root = profile_root(target)
    if not _inside(like_path, root):
        raise UsageError(
            f"--like {Location(like_path)} is outside {root}, where {name} is written: a profile "
            "extends only profiles in its repository; copy it there first"
        )
    base = load(like_path)  # PROFILE must itself be valid: its errors would be the new one's
    known = model_catalog(target_dir)
    entry = known.entries.get(model_id)
    pending = known.files.get(model_id) if model_id in known.errors else None
    reset = True
    if entry is not None:
        base_model = known_model(base.deployment)
        try:
            arch = architecture.parse(entry.config, model_id).architecture
        except architecture.Unmodelled:
            arch = None
        reset = base_model is None or arch != base_model.architecture
    elif pending is None and (stub.exists() or stub.is_symlink()):
        raise UsageError(f"{Location(stub)} exists; init never overwrites: pick another NAME")
    extends = like_path.stem  # by name when that finds it from the new file, else a path
    try:
        by_name = resolve_profile_path(extends, relative_to=target).resolve()
    except ProfileError:
        by_name = None
    if by_name != like_path.resolve():
        extends = os.path.relpath(like_path, target_dir)
    todo_file = pending or (stub if entry is None else None)
    text = _profile(name, model_id, extends, entry, reset, todo_file)
    written = []
    if entry is None and pending is None:
        stub.parent.mkdir(exist_ok=True)
        write_atomic(stub, _stub(model_id))
        written.append(stub)
    write_atomic(target, text)
    written.append(target)
    context = _context_cap(target)
    if context is not None:  # the window does not fit: cap it, as glm52 caps GLM-5.2's
        text = _profile(name, model_id, extends, entry, reset, todo_file, context)
        write_atomic(target, text)
    for path in written:
        print(printable(f"wrote {Location(path)}"))
    try:
        loaded = load(target)
    except UserError as exc:
        problems = getattr(exc, "problems", [])
        todo = [p for p in problems if p.rule == "model-catalog" and FILL_IN in p.message]
        others = [p for p in problems if p not in todo and p.severity == "error"]
        if todo:
            print(printable(f"{len(todo)} field(s) to fill in before {name} validates:"))
            for p in todo:
                print(f"  - {p}")
        if others or not todo:
            head = f"and {name} has other problems to fix:" if todo else exc.args[0]
            print(printable(head))
            for p in others:
                print(f"  - {p}")
            return 1
        return 0
    print(
        printable(f"validate: ok ({len(loaded.warnings)} warnings); next: make plan PROFILE={name}")
    )
    return 0
