"""Cross-field rules a schema cannot express: known-bad settings, each with an id and a fix.

`validate` and `plan` both run them. Errors fail validation; a warning can be silenced in the
profile under `silence: {rule-id: reason}`.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from generator import capacity, catalog, costs
from generator.credentials import SECRET_HOME, looks_secret, looks_secret_name
from generator.deployment import Deployment
from generator.errors import FieldPath, Problem, did_you_mean
from generator.fallback import on_fallback
from generator.flags import flag_set
from generator.profile import Profile
from generator.sglang_versions import carries_secret, check_flag_set, manifest, unknown_env_vars


@dataclass(frozen=True)
class Finding:
    message: str  # what is wrong and what to do, ending with "Found: ..."
    path: FieldPath


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str  # "error" or "warning"
    summary: str
    reference: str
    check: Callable[[Deployment], Iterator[Finding]]


RULES: dict[str, Rule] = {}


def rule(id: str, severity: str, summary: str, reference: str = ""):
    def register(check: Callable[[Deployment], Iterator[Finding]]):
        RULES[id] = Rule(id, severity, summary, reference, check)
        return check

    return register


def run_rules(deployment: Deployment, profile: Profile) -> list[Problem]:
    """Every rule's findings as located problems; silenced warnings are left out.

    A `silence` entry that names no rule, or names an error (errors cannot be silenced), is
    itself reported as a warning.
    """
    silenced = profile.data.get("silence", {})
    problems = []
    for rule_id in silenced:
        known = RULES.get(rule_id)
        if known is None or known.severity == "error":
            why = "errors cannot be silenced" if known else "no rule has this id"
            hint = "" if known else did_you_mean(rule_id, RULES)
            problems.append(
                Problem(
                    f"silence.{rule_id} has no effect: {why}. Found: {rule_id}",
                    profile.locate(("silence", rule_id, "<key>")),
                    ("silence", rule_id),
                    hint=hint,
                    severity="warning",
                    rule="silence",
                )
            )
    for r in RULES.values():
        if r.severity == "warning" and r.id in silenced:
            continue
        for finding in r.check(deployment):
            hint = f"see {r.reference}" if r.reference else ""
            if r.severity == "warning":
                hint = "; ".join(
                    filter(None, [hint, f"silence with `silence: {{{r.id}: reason}}`"])
                )
            problems.append(
                Problem(
                    finding.message,
                    profile.locate(finding.path),
                    finding.path,
                    hint=hint,
                    severity=r.severity,
                    rule=r.id,
                )
            )
    return problems


@rule("public-endpoint", "warning", "The endpoint accepts requests without an API key.")
def _public_endpoint(d: Deployment):
    if not d.auth.require_api_key and not d.serving.proxy_auth:
        yield Finding(
            "anyone with the URL can run 8x B200 replicas on your bill; keep "
            "auth.require_api_key: true unless a gateway in front authenticates, or turn on "
            "serving.proxy_auth. Found: auth.require_api_key=false, serving.proxy_auth=false",
            ("auth", "require_api_key"),
        )


@rule("model-revision-unpinned", "warning", "model.revision is a branch or tag, not a commit.")
def _revision_unpinned(d: Deployment):
    if not d.model.pinned:
        yield Finding(
            f"revision {d.model.revision!r} can move: the weights you download today and the "
            "ones a replica loads next month may differ. Run `make pin-revision PROFILE=...` to "
            f"pin the current commit; deploy refuses until then. Found: revision={d.model.revision}",
            ("model", "revision"),
        )


@rule("latest-image-tag", "error", "The serve image uses a moving `latest` tag.")
def _latest_tag(d: Deployment):
    if d.images.serve.tag == "latest" and not d.images.serve.allow_latest:
        yield Finding(
            "a `latest` tag changes under you between deploys; pin a release tag such as "
            f"v{d.sglang.version}, or set images.serve.allow_latest: true. Found: tag=latest",
            ("images", "serve", "tag"),
        )


@rule("latest-image-allowed", "warning", "A `latest` image tag was explicitly allowed.")
def _latest_allowed(d: Deployment):
    if d.images.serve.tag == "latest" and d.images.serve.allow_latest:
        yield Finding(
            "deploying `latest`: SGLang can change under you and sglang.version may no longer "
            "describe the image. Found: tag=latest, allow_latest=true",
            ("images", "serve", "tag"),
        )


_TAG_VERSION = re.compile(r"v?(\d+\.\d+\.\d+(?:\.post\d+)?)(?:[-_].*)?")  # matched whole


@rule("image-version-mismatch", "error", "The serve image tag and sglang.version disagree.")
def _image_version(d: Deployment):
    tag = d.images.serve.tag
    if tag == "latest":
        return
    match = _TAG_VERSION.fullmatch(tag)
    tag_version = match.group(1).split(".post")[0] if match else None
    if tag_version != d.sglang.version:
        yield Finding(
            "the serve image's SGLang version must be the one the flags are checked against; "
            f"use a v{d.sglang.version} tag or change sglang.version. "
            f"Found: tag={tag}, sglang.version={d.sglang.version}",
            ("images", "serve", "tag"),
        )


def silenced_findings(d: Deployment, silence: dict[str, str]) -> Iterator[tuple[str, Finding]]:
    """What the silenced warnings would have said (`plan` shows them with their reasons)."""
    for r in RULES.values():
        if r.severity == "warning" and r.id in silence:
            for finding in r.check(d):
                yield r.id, finding


# --- Removed Modal knobs ----------------------------------------------------------------------
# The schema rejects unknown keys before any rule runs, so this rule is applied from the
# unknown-field path in validate.py: a removed Modal name gets this message instead of the
# generic "unknown field". Its check below finds nothing on a built deployment by construction.

REMOVED_MODAL_KNOBS = {
    # old name: (what replaced it in modal 1.x, the profile field that sets it)
    "keep_warm": ("min_containers", "autoscaling.min_containers"),
    "concurrency_limit": ("max_containers", "autoscaling.max_containers"),
    "container_idle_timeout": ("scaledown_window", "autoscaling.scaledown_window"),
    "allow_concurrent_inputs": ("@modal.concurrent(max_inputs=...)", "concurrency.max_inputs"),
}
_NAME_MAPS = ("env", "silence")  # maps whose keys name other things, not profile fields


@rule(
    "removed-modal-knob",
    "error",
    "A Modal setting name that modal 1.x renamed and 1.4.0 removed.",
    "https://modal.com/docs/reference/changelog (1.4.0 removed the deprecated names)",
)
def _removed_knob(d: Deployment):
    return iter(())


def removed_knob_problems(profile: Profile) -> list[Problem]:
    """A located error for every removed Modal name used as a key anywhere in the profile."""
    r = RULES["removed-modal-knob"]
    problems: list[Problem] = []

    def walk(node, path: FieldPath) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in REMOVED_MODAL_KNOBS:
                    new, field = REMOVED_MODAL_KNOBS[key]
                    problems.append(
                        Problem(
                            f"`{key}` was renamed {new} in modal 1.x and removed in 1.4.0; "
                            f"set {field} instead. Found: {key}={value!r}",
                            profile.locate(path + (key, "<key>")),
                            path + (key,),
                            hint=f"see {r.reference}",
                            severity=r.severity,
                            rule=r.id,
                        )
                    )
                elif key not in _NAME_MAPS:
                    walk(value, path + (key,))
        elif isinstance(node, list):
            for index, item in enumerate(node):
                walk(item, path + (index,))

    walk(profile.data, ())
    return problems


# --- Rules that size the deployment (figures from capacity.py, costs.py and the catalogs) ----


@rule(
    "model-not-in-catalog",
    "warning",
    "The model has no catalog entry, so capacity, decode and cold-start rules cannot run.",
)
def _model_not_in_catalog(d: Deployment):
    if catalog.model(d.model.id) is None:
        yield Finding(
            "`make plan` and the sizing rules (KV pool, context, startup timeout) need the "
            "model's architecture: add an entry to generator/catalog/models.yaml. "
            f"Found: model.id={d.model.id}",
            ("model", "id"),
        )


@rule("gpu-count-parallelism", "error", "gpu.count is not tensor x data parallel size.")
def _gpu_count(d: Deployment):
    s = d.sglang
    # With DP attention the DP ranks share the TP group's GPUs; otherwise each DP replica has its own.
    dp_attention = "--enable-dp-attention" in s.extra_args
    expected = (
        s.tensor_parallel_size if dp_attention else s.tensor_parallel_size * s.data_parallel_size
    )
    if d.gpu.count != expected:
        how = (
            "tensor_parallel_size" if dp_attention else "tensor_parallel_size x data_parallel_size"
        )
        yield Finding(
            f"SGLang uses {how} = {expected} GPUs per replica; set gpu.count to that, or change "
            f"the parallel sizes. Found: gpu.count={d.gpu.count}, "
            f"tensor_parallel_size={s.tensor_parallel_size}, data_parallel_size={s.data_parallel_size}",
            ("gpu", "count"),
        )


def _fp8_kv(d: Deployment) -> tuple[str, str] | None:
    """(resolved dtype, how it was set) when a DSA model's KV cache would be FP8, else None."""
    model = catalog.model(d.model.id)
    if model is None or model.sparse_attention != "dsa":
        return None
    dtype = d.sglang.kv_cache_dtype
    resolved = capacity.kv_layout(d, model).kv_cache_dtype
    if not resolved.startswith("fp8"):
        return None
    how = f"auto, which is {resolved} on {d.gpu.type} for this model" if dtype == "auto" else dtype
    return resolved, how


# Error with EAGLE: the combination crashes (the guide's #22359) on top of the accuracy loss, so
# the deploy fails rather than trading accuracy for capacity. Without EAGLE FP8 KV still runs;
# the accuracy loss is a choice a profile may make knowingly, so it is a warning it can silence.
@rule(
    "fp8-kv-eagle",
    "error",
    "FP8 KV cache with EAGLE on a GLM-5.x DSA model.",
    "sgl-project/sglang#22359 (crash with EAGLE), sgl-project/sglang#22671 (accuracy)",
)
def _fp8_kv_eagle(d: Deployment):
    fp8 = _fp8_kv(d)
    if fp8 and d.sglang.speculative.enabled:
        yield Finding(
            "FP8 KV cache with EAGLE crashes on GLM-5.x sparse-attention models and loses "
            "accuracy (AIME26 76.7 vs 95.3); set sglang.kv_cache_dtype: bfloat16. "
            f"Found: kv_cache_dtype={fp8[1]}, speculative.enabled=true",
            ("sglang", "kv_cache_dtype"),
        )


@rule(
    "fp8-kv-accuracy",
    "warning",
    "FP8 KV cache on a GLM-5.x DSA model (no calibrated KV scales in the checkpoint).",
    "sgl-project/sglang#22671",
)
def _fp8_kv_accuracy(d: Deployment):
    fp8 = _fp8_kv(d)
    if fp8 and not d.sglang.speculative.enabled:
        yield Finding(
            "FP8 KV cache degrades GLM-5.1-FP8 accuracy severely (the checkpoint ships no "
            "calibrated k/v scales); set sglang.kv_cache_dtype: bfloat16 unless you measured "
            f"the loss on your workload. Found: kv_cache_dtype={fp8[1]}",
            ("sglang", "kv_cache_dtype"),
        )


@rule("kv-pool-empty", "error", "The weights leave no room for a KV cache.")
def _kv_pool_empty(d: Deployment):
    cap = capacity.capacity(d)
    if cap is not None and cap.kv_pool_tokens == 0:
        static = cap.usable_gib_per_gpu * d.sglang.mem_fraction_static
        yield Finding(
            f"weights take {cap.weights_bytes_per_gpu / capacity.GIB:.1f} GiB per GPU but "
            f"mem_fraction_static leaves {static:.1f} GiB for weights and KV cache; use more "
            "or larger GPUs (gpu.type, gpu.count with tensor_parallel_size) or raise "
            f"sglang.mem_fraction_static. Found: gpu={d.gpu.modal_spec}, "
            f"tensor_parallel_size={d.sglang.tensor_parallel_size}, "
            f"mem_fraction_static={d.sglang.mem_fraction_static}",
            ("sglang", "mem_fraction_static"),
        )


@rule(
    "context-beyond-positions",
    "error",
    "context_length is beyond the model's position embeddings.",
)
def _context_positions(d: Deployment):
    model = catalog.model(d.model.id)
    limit = model.max_position_embeddings if model else None
    if limit and d.sglang.context_length and d.sglang.context_length > limit:
        yield Finding(
            f"the model was trained on {limit:,} positions and SGLang refuses a longer "
            f"context_length; set sglang.context_length <= {limit} or leave it unset. "
            f"Found: context_length={d.sglang.context_length}",
            ("sglang", "context_length"),
        )


@rule(
    "context-beyond-kv-pool", "error", "One sequence of the full context does not fit the KV pool."
)
def _context_kv_pool(d: Deployment):
    cap = capacity.capacity(d)
    if cap is not None and 0 < cap.kv_pool_tokens < cap.context_tokens:
        set_by = "context_length" if d.sglang.context_length else "the model's window"
        yield Finding(
            f"the KV pool holds {cap.kv_pool_tokens:,} tokens, fewer than one sequence of "
            f"{cap.context_tokens:,} ({set_by}); set sglang.context_length <= "
            f"{cap.kv_pool_tokens}, raise mem_fraction_static, or use more or larger GPUs. "
            f"Found: context={cap.context_tokens}, kv_pool_tokens={cap.kv_pool_tokens}",
            ("sglang", "context_length"),
        )


@rule("chunked-prefill-beyond-context", "warning", "chunked_prefill_size exceeds the context.")
def _chunked_prefill(d: Deployment):
    chunk = d.sglang.chunked_prefill_size
    model = catalog.model(d.model.id)
    context = d.sglang.context_length or (model.max_position_embeddings if model else None)
    if chunk and chunk > 0 and context and chunk > context:
        yield Finding(
            "a prefill chunk larger than the longest possible prompt never splits anything and "
            f"sizes activation memory for tokens that cannot exist; set "
            f"sglang.chunked_prefill_size <= {context}. "
            f"Found: chunked_prefill_size={chunk}, context={context}",
            ("sglang", "chunked_prefill_size"),
        )


@rule(
    "speculative-draft-tokens",
    "error",
    "num_draft_tokens does not match num_steps and eagle_topk.",
)
def _speculative_tokens(d: Deployment):
    spec = d.sglang.speculative
    if not spec.enabled:
        return
    steps, topk, drafts = spec.num_steps, spec.eagle_topk, spec.num_draft_tokens
    found = f"Found: num_steps={steps}, eagle_topk={topk}, num_draft_tokens={drafts}"
    if topk == 1 and drafts != steps + 1:
        # SGLang resets it to num_steps + 1 for a chain, so the profile would misstate what runs.
        yield Finding(
            f"with eagle_topk 1 the draft is a chain of num_steps tokens plus the root, so "
            f"num_draft_tokens must be num_steps x eagle_topk + 1 = {steps + 1} (SGLang "
            f"overrides any other value). {found}",
            ("sglang", "speculative", "num_draft_tokens"),
        )
    elif topk > 1:
        # The EAGLE tree scores topk + (steps - 1) x topk^2 candidates, plus the root.
        most = topk + (steps - 1) * topk * topk + 1
        if drafts > most:
            yield Finding(
                f"a tree of {steps} steps x top-{topk} has at most {most} tokens to verify; "
                f"set num_draft_tokens <= {most}. {found}",
                ("sglang", "speculative", "num_draft_tokens"),
            )


@rule(
    "concurrency-above-running-requests",
    "warning",
    "Modal sends a replica more requests than SGLang runs at once.",
)
def _concurrency(d: Deployment):
    if d.serving.is_server:
        return  # a Server scales on serving.target_concurrency: see server-target-above-running
    max_inputs, running = d.concurrency.max_inputs, d.sglang.max_running_requests
    if max_inputs > running:
        yield Finding(
            f"requests beyond {running} wait in this replica's SGLang queue instead of making "
            f"Modal start another replica; set concurrency.max_inputs <= {running} or raise "
            f"sglang.max_running_requests. Found: max_inputs={max_inputs}, "
            f"max_running_requests={running}",
            ("concurrency", "max_inputs"),
        )


@rule(
    "startup-timeout-short",
    "error",
    "timeouts.startup is shorter than the cold start estimate.",
)
def _startup_short(d: Deployment):
    cold = costs.cold_start(d)
    if cold is not None and d.timeouts.startup < cold.seconds:
        yield Finding(
            f"a cold start takes about {cold.seconds:,.0f} s even with precompiled DeepGEMM "
            "kernels (`make plan` shows the parts); Modal stops a replica that has not opened "
            f"its port by then. Set timeouts.startup >= {_round_up(cold.seconds)}. "
            f"Found: startup={d.timeouts.startup}",
            ("timeouts", "startup"),
        )


@rule(
    "startup-timeout-jit",
    "warning",
    "timeouts.startup is too short for a start that JIT-compiles DeepGEMM.",
)
def _startup_jit(d: Deployment):
    cold = costs.cold_start(d)
    if cold is not None and cold.seconds <= d.timeouts.startup < cold.seconds_jit:
        yield Finding(
            f"with an empty DeepGEMM cache (new GPU type or SGLang build) a start takes about "
            f"{cold.seconds_jit:,.0f} s; run `make setup` to precompile before the first "
            f"deploy, or set timeouts.startup >= {_round_up(cold.seconds_jit)}. "
            f"Found: startup={d.timeouts.startup}",
            ("timeouts", "startup"),
        )


@rule(
    "setup-timeout-short",
    "warning",
    "timeouts.precompile leaves compile_deep_gemm less than a full DeepGEMM JIT.",
)
def _setup_short(d: Deployment):
    from generator import catalog

    jit = catalog.platform().cold_start.deepgemm_jit_seconds
    left = d.timeouts.precompile - d.timeouts.startup - 300
    if left < jit:
        yield Finding(
            "the setup function runs compile_deep_gemm, then a full start that may take "
            f"timeouts.startup ({d.timeouts.startup} s); that leaves compile_deep_gemm {left} s, "
            f"under the {jit:,.0f} s a full DeepGEMM JIT may take. Set timeouts.precompile >= "
            f"{_round_up(d.timeouts.startup + 300 + jit)}. Found: precompile="
            f"{d.timeouts.precompile}, startup={d.timeouts.startup}",
            ("timeouts", "precompile"),
        )


def _round_up(seconds: float, step: int = 60) -> int:
    return int(-(-seconds // step) * step)


@rule(
    "idle-cost-unacknowledged",
    "error",
    "min_containers > 0 bills GPUs around the clock without autoscaling.idle_cost_acknowledged.",
)
def _idle_cost(d: Deployment):
    if d.autoscaling.min_containers > 0 and not d.autoscaling.idle_cost_acknowledged:
        if catalog.model(d.model.id) is None and d.pricing is None:
            cost = ""
        else:
            cost = f" (about ${costs.idle_cost_per_month_usd(d):,.0f} a month with no traffic)"
        yield Finding(
            f"{d.autoscaling.min_containers} replica(s) of {d.gpu.modal_spec} stay up when idle"
            f"{cost}; set autoscaling.idle_cost_acknowledged: true to confirm, or "
            f"min_containers: 0. Found: min_containers={d.autoscaling.min_containers}",
            ("autoscaling", "min_containers"),
        )


def deepgemm_dir(d: Deployment) -> str:
    """SGLANG_DG_CACHE_DIR as the serve container gets it: the generator's keyed directory unless
    the profile's env or sglang.env overrides it (same precedence as render.app_context)."""
    env = {**dict(d.env), **dict(d.sglang.env)}
    return env.get("SGLANG_DG_CACHE_DIR", d.deepgemm_cache_dir)


def _on_volume(d: Deployment) -> str | None:
    """The DeepGEMM directory relative to the cache volume, or None when it is not on it."""
    mount, path = d.volumes.deepgemm_cache.mount_path, deepgemm_dir(d).rstrip("/")
    if path == mount:
        return ""
    return path[len(mount) + 1 :] if path.startswith(mount + "/") else None


# The generator keys the cache directory by GPU type and serve image (Deployment.deepgemm_cache_key),
# so profiles sharing the volume across GPUs, SGLang versions or CUDA builds never share kernels.
# What keying cannot cover is an env override that drops the key or leaves the volume.
@rule(
    "deepgemm-cache-shared",
    "warning",
    "SGLANG_DG_CACHE_DIR overridden so the cache is unkeyed or off its volume.",
    "sgl-project/sglang#32124",
)
def _deepgemm_shared(d: Deployment):
    here = _on_volume(d)
    if here is None:
        yield Finding(
            f"SGLANG_DG_CACHE_DIR is outside the DeepGEMM volume ({d.volumes.deepgemm_cache.mount_path}), "
            "so precompiled kernels are not kept and every cold start JIT-compiles for 10-30 "
            "minutes; remove the override. "
            f"Found: SGLANG_DG_CACHE_DIR={deepgemm_dir(d)}",
            ("sglang", "env"),
        )
    elif d.deepgemm_cache_key not in here.split("/"):
        yield Finding(
            f"the SGLANG_DG_CACHE_DIR override drops the {d.deepgemm_cache_key} key (GPU and "
            "image), so kernels compiled for another GPU or SGLang build can be picked up; "
            f"remove the override. Found: SGLANG_DG_CACHE_DIR={deepgemm_dir(d)}",
            ("sglang", "env"),
        )


def _flag_problems(d: Deployment, severity: str) -> Iterator[Finding]:
    for problem in check_flag_set(flag_set(d), d.sglang.version):
        if problem.severity == severity:
            flag = problem.flag
            secret = carries_secret(flag.option, d.sglang.version) or any(
                looks_secret(v) for v in flag.values
            )
            found = f"{flag.option.split('=')[0]} <redacted>" if secret else shlex.join(flag.argv)
            yield Finding(f"{problem.message}. Found: {found}", problem.flag.field or ("sglang",))


@rule(
    "sglang-flag",
    "error",
    "A flag or value the profile's SGLang version does not accept (read from its manifest).",
)
def _sglang_flag(d: Deployment):
    yield from _flag_problems(d, "error")


@rule("sglang-flag-deprecated", "warning", "A flag the profile's SGLang version deprecates.")
def _sglang_flag_deprecated(d: Deployment):
    yield from _flag_problems(d, "warning")


@rule("sglang-env-unknown", "warning", "An SGLANG_* variable the SGLang version does not read.")
def _sglang_env(d: Deployment):
    for name in unknown_env_vars([n for n, _ in d.sglang.env], d.sglang.version):
        yield Finding(
            f"SGLang {d.sglang.version} does not read {name}: a typo, or a variable this "
            f"version dropped; remove it. Found: {name}",
            ("sglang", "env", name),
        )


# --- Input a pull request must not slip through ------------------------------------------------


@rule(
    "secret-in-profile",
    "error",
    "A credential written into the profile, where it would land in committed files.",
)
def _secret_in_profile(d: Deployment):
    for flag in flag_set(d):
        if flag.field and flag.field[:2] == ("sglang", "extra_args"):
            if carries_secret(flag.option, d.sglang.version):
                yield Finding(
                    f"{flag.option.split('=')[0]} takes a credential, which would be written "
                    f"into the rendered app and the deploy record; {SECRET_HOME}. "
                    f"Found: {flag.option.split('=')[0]} <redacted>",
                    flag.field,
                )
                continue
            for value in flag.values:
                if looks_secret(value):
                    yield Finding(
                        f"this value looks like a credential; {SECRET_HOME}. "
                        f"Found: {flag.option} <redacted>",
                        flag.field,
                    )
    sglang_reads = manifest(d.sglang.version).env_vars
    for section, env in (("env", d.env), (("sglang", "env"), d.sglang.env)):
        base = section if isinstance(section, tuple) else (section,)
        for name, value in env:
            named = looks_secret_name(name) and name not in sglang_reads
            if named or looks_secret(value):
                why = (
                    "its name says it holds a credential"
                    if named
                    else "its value looks like a credential"
                )
                yield Finding(
                    f"{why}, and env values are written into the rendered app; "
                    f"{SECRET_HOME}. Found: {name}=<redacted>",
                    (*base, name),
                )
    yield from _credential_values(d, ())


_CHECKED_ABOVE = {("env",), ("sglang", "env"), ("sglang", "extra_args")}


def _credential_values(node: object, path: FieldPath) -> Iterator[Finding]:
    """Any other setting whose value looks like a credential (a key pasted as an app name...)."""
    if path in _CHECKED_ABOVE:
        return
    if dataclasses.is_dataclass(node):
        for f in dataclasses.fields(node):
            yield from _credential_values(getattr(node, f.name), (*path, f.name))
    elif looks_secret(node):
        path = ("app", "name") if path == ("app_name",) else path  # the model's one renamed field
        yield Finding(
            f"this value looks like a credential, and settings are written into the rendered "
            f"app and the deploy record; {SECRET_HOME}. Found: <redacted>",
            path,
        )


@rule("autoscaling-limits", "error", "Autoscaling bounds that contradict each other.")
def _autoscaling_limits(d: Deployment):
    a = d.autoscaling
    if a.min_containers > a.max_containers:
        yield Finding(
            "min_containers must not exceed max_containers (Modal would keep more replicas warm "
            f"than it may run). Found: min_containers={a.min_containers}, "
            f"max_containers={a.max_containers}",
            ("autoscaling", "min_containers"),
        )
    c = d.concurrency
    if c.target_inputs is not None and c.target_inputs > c.max_inputs:
        yield Finding(
            "target_inputs is where the autoscaler adds replicas and max_inputs the hard cap per "
            "replica, so the target must not exceed the cap (@modal.concurrent refuses it). "
            f"Found: target_inputs={c.target_inputs}, max_inputs={c.max_inputs}",
            ("concurrency", "target_inputs"),
        )

    sv = d.serving
    if (
        sv.is_server
        and None not in (sv.target_concurrency, sv.max_concurrency)
        and sv.target_concurrency > sv.max_concurrency
    ):
        yield Finding(
            "target_concurrency is where the autoscaler adds replicas and max_concurrency the "
            "cap above which Modal answers 429, so the target must not exceed the cap "
            "(app.server refuses it). "
            f"Found: target_concurrency={sv.target_concurrency}, "
            f"max_concurrency={sv.max_concurrency}",
            ("serving", "target_concurrency"),
        )


@rule(
    "server-target-above-running",
    "warning",
    "A Server's autoscaling target exceeds what SGLang runs at once.",
)
def _server_target(d: Deployment):
    target, running = d.serving.target_concurrency, d.sglang.max_running_requests
    if d.serving.is_server and target is not None and target > running:
        yield Finding(
            f"requests beyond {running} wait in this replica's SGLang queue instead of making "
            f"Modal start another replica; set serving.target_concurrency <= {running} or raise "
            f"sglang.max_running_requests. Found: target_concurrency={target}, "
            f"max_running_requests={running}",
            ("serving", "target_concurrency"),
        )


# modal.com/docs/guide/webhook-timeouts: every web Function type, modal.web_server included.
WEB_REQUEST_LIMIT_S = 150


@rule(
    "web-server-request-cap",
    "warning",
    "web_server: Modal answers requests that run past 150 s with a 303 redirect.",
    "modal.com/docs/guide/webhook-timeouts",
)
def _web_server_cap(d: Deployment):
    from generator import catalog

    if d.serving.is_server:
        return
    tpot_ms = catalog.platform().decode.measured_tpot_ms_eagle
    tokens = WEB_REQUEST_LIMIT_S * 1000 / tpot_ms
    yield Finding(
        f"Modal caps a web Function's HTTP request at {WEB_REQUEST_LIMIT_S} s, then answers "
        "303 with a result URL, which the OpenAI SDK does not follow on a POST. At the guide's "
        f"{tpot_ms:g} ms/token a non-streamed answer past ~{_round_down(tokens):,} tokens "
        "(GLM-5.1 reasons first) hits it; streaming clients are fine. serving.primitive: server "
        "has no such cap. Found: serving.primitive=web_server",
        ("serving", "primitive"),
    )


def _round_down(value: float, step: int = 500) -> int:
    return int(value // step * step)


@rule("buffer-above-max", "warning", "buffer_containers exceeds max_containers.")
def _buffer_above_max(d: Deployment):
    a = d.autoscaling
    if a.buffer_containers > a.max_containers:
        yield Finding(
            "Modal never runs more than max_containers, so the idle buffer is capped there; "
            "lower buffer_containers to what you mean. "
            f"Found: buffer_containers={a.buffer_containers}, max_containers={a.max_containers}",
            ("autoscaling", "buffer_containers"),
        )


# Mounting a Volume here would hide the image's own files (or the kernel's).
SYSTEM_PATHS = (
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/lib",
    "/lib64",
    "/proc",
    "/run",
    "/sbin",
    "/sys",
    "/usr",
)
SYSTEM_MOUNT_POINTS = {"/", "/root", "/tmp", "/var", "/home", "/opt", *SYSTEM_PATHS}


@rule("volume-mounts", "error", "Volume mount paths that collide, nest, or hide system folders.")
def _volume_mounts(d: Deployment):
    mounts = [("weights", d.volumes.weights), ("deepgemm_cache", d.volumes.deepgemm_cache)]
    for role, volume in mounts:
        path = volume.mount_path
        field = ("volumes", role, "mount_path")
        parts = path.split("/")[1:]
        if any(part in ("", ".", "..") for part in parts):
            yield Finding(
                f"write the mount path without '.', '..' or '//' segments. Found: {path}", field
            )
        elif path in SYSTEM_MOUNT_POINTS or path.startswith(tuple(p + "/" for p in SYSTEM_PATHS)):
            yield Finding(
                "a Volume mounted here hides the image's own files; mount it at a folder of its "
                f"own such as /{volume.name}. Found: {path}",
                field,
            )
    (_, first), (second_role, second) = mounts
    a, b = first.mount_path, second.mount_path
    if a == b:
        yield Finding(
            "both Volumes are mounted at one path, so one of them would not be mounted at all; "
            f"give each its own folder. Found: {a}",
            ("volumes", second_role, "mount_path"),
        )
    elif a.startswith(b + "/") or b.startswith(a + "/"):
        yield Finding(
            f"one Volume is mounted inside the other; give each its own folder. Found: {a}, {b}",
            ("volumes", second_role, "mount_path"),
        )


@rule(
    "secret-roles", "error", "One Modal Secret and key used as both the HF token and the API key."
)
def _secret_roles(d: Deployment):
    hf, api = d.secrets.huggingface, d.secrets.api_key
    if d.auth.require_api_key and (hf.name, hf.key) == (api.name, api.key):
        yield Finding(
            "the Hugging Face token would be the endpoint's API key: every client would hold "
            "your Hub credential; use two keys (or two Secrets). "
            f"Found: {hf.name}.{hf.key} for both",
            ("secrets", "api_key", "key"),
        )


@rule(
    "secret-shared",
    "warning",
    "One Modal Secret holds both the HF token and the API key.",
)
def _secret_shared(d: Deployment):
    hf, api = d.secrets.huggingface, d.secrets.api_key
    if d.auth.require_api_key and hf.name == api.name and hf.key != api.key:
        yield Finding(
            "the serving replicas receive the Hugging Face token and the download job the API "
            "key, neither of which they need; keep them in separate Secrets. "
            f"Found: secrets.huggingface.name=secrets.api_key.name={hf.name}",
            ("secrets", "api_key", "name"),
        )


# --- Fallback GPU types (gpu.fallback): each type Modal may start is checked as it would run --------


def _fallbacks(d: Deployment) -> Iterator[tuple[int, Deployment]]:
    for index, entry in enumerate(d.gpu.fallback):
        if entry.type != d.gpu.type:
            yield index, on_fallback(d, entry)


@rule("fallback-gpu-type", "error", "A fallback GPU type repeats the primary or another fallback.")
def _fallback_type(d: Deployment):
    seen = {d.gpu.type}
    for index, entry in enumerate(d.gpu.fallback):
        if entry.type in seen:
            yield Finding(
                f"Modal already tries {entry.type} before this entry; list each GPU type once. "
                f"Found: gpu.type={d.gpu.type}, fallback={[f.type for f in d.gpu.fallback]}",
                ("gpu", "fallback", index, "type"),
            )
        seen.add(entry.type)


@rule("fallback-flags", "error", "A fallback GPU type's flag set that its SGLang version rejects.")
def _fallback_flags(d: Deployment):
    primary = {f.message for f in _flag_problems(d, "error")}  # reported by sglang-flag already
    for index, variant in _fallbacks(d):
        for finding in _flag_problems(variant, "error"):
            if finding.message not in primary:
                yield Finding(
                    f"on {variant.gpu.type} (set it in this gpu.fallback entry): {finding.message}",
                    ("gpu", "fallback", index, "type"),
                )


@rule("fallback-kv-pool", "error", "A fallback GPU type cannot hold one full-context sequence.")
def _fallback_kv_pool(d: Deployment):
    for index, variant in _fallbacks(d):
        cap = capacity.capacity(variant)
        if cap is not None and cap.kv_pool_tokens < cap.context_tokens:
            yield Finding(
                f"on {variant.gpu.type} the KV pool holds {max(cap.kv_pool_tokens, 0):,} tokens, "
                f"fewer than one sequence of {cap.context_tokens:,}: a replica that starts there "
                "cannot serve the context the profile promises; drop it, raise its "
                "mem_fraction_static, or lower sglang.context_length. "
                f"Found: mem_fraction_static={variant.sglang.mem_fraction_static}",
                ("gpu", "fallback", index, "type"),
            )


@rule(
    "fallback-smaller-pool", "warning", "A fallback GPU type holds fewer tokens than the primary."
)
def _fallback_smaller_pool(d: Deployment):
    primary = capacity.capacity(d)
    for index, variant in _fallbacks(d):
        cap = capacity.capacity(variant)
        if primary is None or cap is None or cap.kv_pool_tokens < cap.context_tokens:
            continue
        if cap.kv_pool_tokens < primary.kv_pool_tokens:
            yield Finding(
                f"on {variant.gpu.type} the KV pool holds {cap.kv_pool_tokens:,} tokens "
                f"({cap.max_full_context_sequences} full-context sequences at once) against "
                f"{primary.kv_pool_tokens:,} ({primary.max_full_context_sequences}) on "
                f"{d.gpu.type}; long prompts queue sooner on a fallback replica. "
                f"Found: {variant.gpu.type} {cap.kv_pool_tokens} vs {d.gpu.type} "
                f"{primary.kv_pool_tokens} tokens",
                ("gpu", "fallback", index, "type"),
            )
