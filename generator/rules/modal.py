"""What Modal accepts and a pull request must not slip in: credentials, autoscaling, serving
limits, Volumes, Secrets and the Modal names 1.4.0 removed."""

from __future__ import annotations

from collections.abc import Iterator

from generator import catalog
from generator.errors import FieldPath
from generator.profile.credentials import (
    SECRET_HOME,
    looks_secret,
    looks_secret_name,
    redacted,
)
from generator.profile.deployment import Deployment
from generator.profile.load import Profile
from generator.profile.validate import REMOVED_KNOB_REFERENCE, REMOVED_KNOB_RULE
from generator.rules.engine import Finding, rule
from generator.sglang.flags import flag_set
from generator.sglang.versions import carries_secret, manifest

# --- Input a pull request must not slip through ------------------------------------------------


@rule(
    "secret-in-profile",
    "error",
    "A credential written into the profile, where it would land in committed files.",
    reads_profile=True,
)
def _secret_in_profile(d: Deployment, profile: Profile):
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
                        f"Found: {redacted(flag.option)} <redacted>",
                        flag.field,
                    )
    sglang_reads = manifest(d.sglang.version).env_vars
    for section, env in (("env", d.env), (("sglang", "env"), d.sglang.env)):
        base = section if isinstance(section, tuple) else (section,)
        for name, value in env:
            if looks_secret(name):  # a credential pasted as a name: the name is not printed
                yield Finding(
                    f"a variable name here looks like a credential; {SECRET_HOME}. "
                    "Found: <redacted>=<redacted>",
                    base,
                )
                continue
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
    yield from _credential_strings(profile.data, ())


_CHECKED_ABOVE = {("env",), ("sglang", "env"), ("sglang", "extra_args")}


def _credential_strings(node: object, path: FieldPath) -> Iterator[Finding]:
    """Every other string of the merged profile, keys included, that looks like a credential: a
    key pasted as an app name, into the description or a silence reason. They reach the rendered
    header, `plan`'s output and the deploy record."""
    if path in _CHECKED_ABOVE:
        return
    if isinstance(node, dict):
        for key, value in node.items():
            if looks_secret(key):
                yield _pasted((*path, key))
            else:
                yield from _credential_strings(value, (*path, key))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _credential_strings(item, (*path, index))
    elif looks_secret(node):
        yield _pasted(path)


def _pasted(path: FieldPath) -> Finding:
    return Finding(
        "this text looks like a credential, and profile text is written into the rendered "
        f"app, `plan`'s output and the deploy record; {SECRET_HOME}. Found: <redacted>",
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


@rule(
    "running-requests-above-max-concurrency",
    "warning",
    "SGLang may run more requests than Modal lets reach a Server replica (429 above it).",
    "modal.com/docs/reference/modal.App#server (max_concurrency)",
)
def _running_above_cap(d: Deployment):
    cap, running = d.serving.max_concurrency, d.sglang.max_running_requests
    if d.serving.is_server and cap is not None and running > cap:
        yield Finding(
            f"Modal answers 429 above {cap} requests per replica, so SGLang never runs more "
            f"than {cap} of its {running} slots (the plan's running-request figures overstate "
            f"the replica); set serving.max_concurrency >= {running} (a bounded SGLang queue "
            f"above it) or sglang.max_running_requests <= {cap}. "
            f"Found: max_concurrency={cap}, max_running_requests={running}",
            ("serving", "max_concurrency"),
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


# Mounting a Volume at or under these would hide the image's own files (or the kernel's): its
# Python and packages (/usr, /opt: conda; /root/.local and /home/*/.local: user site-packages)
# and SGLang itself (/sgl-workspace: the lmsysorg/sglang images install SGLang from source there,
# docker/Dockerfile `WORKDIR /sgl-workspace`, a guess for future images). A Volume's files
# would then be imported as SGLang or Python code.
SYSTEM_PATHS = (
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/opt",
    "/proc",
    "/run",
    "/sbin",
    "/sgl-workspace",
    "/srv",
    "/sys",
    "/usr",
    "/var",
)
# Home folders: their hidden folders hold user site-packages (~/.local) and caches.
HOMES = ("/root", "/home")
# The container's local disk: the app copies the compile caches to /tmp/sglang-cache
# (tempfile.gettempdir()); a Volume there would take every replica's writes.
LOCAL_CACHE = "/tmp/sglang-cache"
SYSTEM_MOUNT_POINTS = {"/", "/tmp", *HOMES, *SYSTEM_PATHS}


def _hides_image_files(path: str) -> bool:
    under_home = path.startswith(tuple(h + "/" for h in HOMES))
    return (
        path in SYSTEM_MOUNT_POINTS
        or path.startswith(tuple(p + "/" for p in SYSTEM_PATHS))
        or (under_home and any(part.startswith(".") for part in path.split("/")))
        or path == LOCAL_CACHE
        or path.startswith(LOCAL_CACHE + "/")
    )


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
        elif _hides_image_files(path):
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


# --- Removed Modal knobs ----------------------------------------------------------------------
# The schema rejects unknown keys before any rule runs, so profile/validate.py reports these
# from the unknown-field path, under this rule's id. The check finds nothing on a built
# deployment by construction; it is registered so the rule is listed and can be looked up.


@rule(
    REMOVED_KNOB_RULE,
    "error",
    "A Modal setting name that modal 1.x renamed and 1.4.0 removed.",
    REMOVED_KNOB_REFERENCE,
)
def _removed_knob(d: Deployment):
    return iter(())
