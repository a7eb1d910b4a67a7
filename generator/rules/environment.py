"""The environment policy: what `env` and `sglang.env` may set in the rendered images.

1. Variables the generator sets itself cannot be overridden: HF_HUB_OFFLINE and
   HF_XET_HIGH_PERFORMANCE, and every compile-cache variable (keyed by GPU and image, so a
   replica never loads kernels built for another GPU or SGLang build: sglang#32124).
2. Variables that redirect which code runs, which libraries load, or where credential-bearing
   traffic goes are refused, by class: the dynamic loader (LD_*), the interpreter's start-up
   (PYTHON* but the harmless ones below, PATH, BASH_ENV, ENV), package indexes (PIP_*, UV_*),
   proxies and TLS trust (*_PROXY, SSL_CERT_*, *_CA_BUNDLE), endpoints (*_ENDPOINT, *_BASE_URL,
   *_ENDPOINT_URL, the Hub's HF_HOME/HF_TOKEN_PATH), Modal's own client settings (MODAL_*), and
   SGLang variables that import code by name; and by class, anything that loads plugins, imports
   a package or module by name, points at a library, program, config file or kernel cache, or
   names a peer host (docs/security.md lists the classes). There is no opt-in: such a variable changes the
   deployment's trust boundary, which a profile in a pull request must not do.
3. Each image gets only what it needs: the download image (which holds the Hugging Face token)
   gets the generator's own variables only; `env` and `sglang.env` reach the serving image.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from generator.profile.deployment import DOWNLOAD_ENV, SERVE_ENV, Deployment
from generator.rules.engine import Finding, rule
from generator.sglang.caches import COMPILE_CACHES

OWNED = {
    **{name: "the generator sets it in the serving image" for name in SERVE_ENV},
    **{name: "the generator sets it in the download image" for name in DOWNLOAD_ENV},
    **{
        c.variable: "the generator keys SGLang's compile caches by GPU type and image"
        for c in COMPILE_CACHES
    },
}

# PYTHON* variables that change no code path: output buffering, hashing, encodings, tracebacks.
HARMLESS_PYTHON = {
    "PYTHONUNBUFFERED",
    "PYTHONFAULTHANDLER",
    "PYTHONHASHSEED",
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONIOENCODING",
    "PYTHONUTF8",
}

# (pattern matched whole, what setting it would do); the first match wins.
REDIRECTING = [
    (r"LD_\w+", "configures the dynamic loader: it can load any library into every process"),
    (r"PYTHON\w+", "configures the interpreter's start-up: it can import or run any code"),
    (r"PATH|BASH_ENV|ENV", "decides which programs and start-up scripts run"),
    (r"(PIP|UV)_\w+", "redirects where packages are installed from"),
    (r"\w*_PROXY", "sends the container's traffic, credentials included, through another host"),
    (r"SSL_CERT_\w+|\w*_CA_BUNDLE|\w*_CA_CERTS", "replaces the TLS trust store"),
    (r"\w*_ENDPOINT|\w*_ENDPOINT_URL|\w*_BASE_URL", "redirects a client to another host"),
    (r"HF_HOME|HF_TOKEN_PATH|HF_STORED_TOKENS_PATH", "moves where the Hugging Face token is read"),
    (r"MODAL_\w+", "is Modal's own client setting inside the container"),
    # Classes by what a name says the variable does (round 3): whatever program reads it, a
    # variable that names code, a library, a program, a config file or a peer host moves the
    # trust boundary. 0.5.23 examples from sglang/srt/environ.py are in docs/security.md.
    (r"\w*PLUGINS?(_\w+)?", "loads plugins by name or path (SGLANG_PLUGINS, NCCL_NET_PLUGIN)"),
    (
        r"\w*_(PACKAGES?|MODULES?|MODULES_CACHE|IMPORTS?|CLASS|FACTORY|CALLABLE|HOOKS?|"
        r"CONVERTERS?|LOADER)",
        "imports code by name (SGLANG_EXTERNAL_MODEL_PACKAGE, HF_MODULES_CACHE)",
    ),
    (
        r"\w*_(PATHS?|HOME|LIBS?|LIBRARY|BIN|BINARY|EXE|EXECUTABLE|PRELOAD)",
        "points a program at a file or folder it loads: a library, a program, code or a "
        "config file (TRITON_PTXAS_PATH, CUDA_HOME, SGLANG_HICACHE_MOONCAKE_CONFIG_PATH)",
    ),
    (
        r"\w*_CONF|\w*_CONF_FILE|\w*_CONFIG_FILE|\w*_RC|OMPI_MCA_\w+",
        "names a native library's configuration file or component (NCCL_CONF_FILE, OMPI_MCA_*)",
    ),
    (
        r"\w*CACHE_DIR|\w*_CACHE_HOME|\w*CACHE_PATH",
        "moves a cache of compiled kernels, which are loaded as code",
    ),
    (
        r"\w*_(URLS?|URI|ADDR|ADDRESS|HOSTS?|IPS?)|\w*BOOTSTRAP\w*|MASTER_PORT|WORLD_SIZE|"
        r"(LOCAL_|NODE_|GROUP_)?RANK|NCCL_COMM_ID|\w*INIT_METHOD\w*",
        "makes a process join or trust another host (torch.distributed's MASTER_ADDR, "
        "NCCL_COMM_ID, SGLANG_ZBAL_BOOTSTRAP_URL)",
    ),
    # sglang/srt/entrypoints/http_server.py:3052 (0.5.23) loads the app by import path.
    (r"SGLANG_HTTP_SERVER_APP_PATH", "makes SGLang import its HTTP app from a module path"),
    # sglang/srt/environ.py:451 (0.5.23): a sys.path entry for scripted test runtimes.
    (r"SGLANG_TEST_\w+", "is one of SGLang's test hooks, not a serving setting"),
]


def env_refusal(name: str) -> str | None:
    """Why `name` may not be set by a profile, or None when it may."""
    if name in OWNED:
        return f"{OWNED[name]}; remove it"
    if name in HARMLESS_PYTHON:
        return None
    for pattern, effect in REDIRECTING:
        if re.fullmatch(pattern, name):
            return f"{effect}; a profile may not set it"
    return None


def _settings(d: Deployment) -> Iterator[tuple[tuple[str, ...], str]]:
    for name, _ in d.env:
        yield ("env", name), name
    for name, _ in d.sglang.env:
        yield ("sglang", "env", name), name


@rule(
    "env-policy",
    "error",
    "An environment variable the generator owns, or one that redirects code, libraries or "
    "credential-bearing traffic.",
    "docs/security.md: the environment policy",
)
def _env_policy(d: Deployment):
    for path, name in _settings(d):
        why = env_refusal(name)
        if why:
            yield Finding(f"{name} {why}. Found: {name}", path)
