"""Hostile input: profiles arrive in pull requests, CI renders them, `modal deploy` imports them.

Each case is fixed at its mechanism (generator/render/emit.py's emitters, generator/profile/load.py's
bounded reader, generator/profile/validate.py's validator, the rules, the writers), and each test here
failed on the code before those mechanisms existed. Modal's servers and the Hugging Face Hub do
not exist here: where they would answer, a stand-in says so.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import BASE_PROFILE, load_modal_app
from fake_sglang import FakeSGLang

from generator import REPO_ROOT
from generator.errors import UserError
from generator.operate import deploy as deploy_module
from generator.pipeline import load, render_app, render_preflight, render_to_file
from generator.profile.validate import schema
from generator.render.emit import (
    UnsafeTemplateValue,
    _environment,
    comment_text,
    docstring_text,
    python_literal,
)

BASE = f"extends: {BASE_PROFILE}\n"
PINNED = "model:\n  revision: 0123456789abcdef0123456789abcdef01234567\n"

# Names and paths an attacker would choose: each tries to leave the context it is printed in.
HOSTILE_NAMES = [
    'a""";import os;os.system("touch PWNED");"""',
    "{__import__('os').system('touch PWNED')}",
    "x\\N{ bad escape",
    "line\nbreak = __import__('os')",
    "-*- coding: utf-7 -*- +AAo-import os",
    "\u202etxt.py\u202c bidi override",
    "trailing backslash \\",
]


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 60):
    """The CLI in a subprocess: exit code, stdout, stderr (what a user's terminal shows)."""
    result = subprocess.run(
        [sys.executable, "-m", "generator", *args],
        cwd=cwd or REPO_ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {}), "PYTHONPATH": str(REPO_ROOT)},
        timeout=timeout,
    )
    return result.returncode, result.stdout, result.stderr


def _shape(source: str) -> str:
    """The module's AST with every constant blanked: what code runs, not which values it has."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant):
            node.value = None
        if isinstance(node, ast.JoinedStr):  # an f-string's parts are code: keep only the count
            node.values = [ast.Constant(None) for _ in node.values]
    return ast.dump(tree)


def _calls(source: str) -> list[str]:
    return sorted(
        ast.unparse(n.func) for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Call)
    )


# --- Critical: nothing a name or path contains becomes code -------------------------------------


@pytest.mark.parametrize("name", HOSTILE_NAMES[:2] + [".."])
def test_hostile_profile_file_names_are_refused(tmp_path, name):
    folder = tmp_path / "in"
    folder.mkdir()
    profile = folder / f"{name}.yaml"
    profile.write_text(BASE)
    code, out, err = run_cli("render", str(profile), "-o", str(tmp_path / "out" / "app.py"))
    assert code == 1 and "Traceback" not in err
    assert "is not allowed: expected lowercase letters" in err and "did you mean" in err
    assert not (tmp_path / "out").exists() and not list(REPO_ROOT.glob("PWNED"))


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_output_paths_add_no_code(tmp_path, monkeypatch, name):
    """Hostile folder names in -o reach the docstring and the preflight constants; on the AST of
    both files, nothing runs that the reference render does not run."""
    monkeypatch.chdir(tmp_path)
    loaded = load("prod")
    folder = tmp_path / name.replace("/", "_")
    output = folder / "modal_app.py"
    render_to_file(loaded, output)
    for rendered, reference in [
        (output, render_app(loaded, tmp_path / "ref" / "modal_app.py")[1]),
        (output.with_name("preflight.py"), render_preflight(loaded, tmp_path / "ref" / "a.py")[1]),
    ]:
        source = rendered.read_text()
        assert _shape(source) == _shape(reference)
        assert _calls(source) == _calls(reference)
    module = load_modal_app(output)  # the real modal package imports it
    assert module.app.name == "glm51-prod" and not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_emitters_hold_even_when_a_name_skips_the_name_check(tmp_path, name):
    """Defence in depth: a Deployment built with a hostile profile and app name (bypassing the
    name pattern) still renders to the same code as the reference."""
    loaded = load("prod")
    hostile = dataclasses.replace(
        loaded, deployment=dataclasses.replace(loaded.deployment, profile_name=name, app_name=name)
    )
    for render in (render_app, render_preflight):
        _, source = render(hostile, tmp_path / "modal_app.py")
        _, reference = render(loaded, tmp_path / "modal_app.py")
        assert _shape(source) == _shape(reference)


def test_the_first_two_lines_hold_no_profile_value(tmp_path):
    """Python reads a `coding:` declaration from line 1 or 2: no profile value may be there."""
    root = tmp_path / "p"
    root.mkdir()
    (root / "p.yaml").write_text(BASE + 'description: "-*- coding: utf-7 -*-"\n')
    _, source = render_app(load(root / "p.yaml"), tmp_path / "a.py")
    head = source.splitlines()[:2]
    assert head[0].startswith("# Generated by modal-sglang-generator")
    assert head[1].startswith("# Every profile value below")


@pytest.mark.parametrize("value", HOSTILE_NAMES)
def test_docstring_and_comment_emitters_cannot_leave_their_context(value):
    doc = docstring_text(value)
    assert ast.literal_eval(f'"""{doc}"""') == comment_text(value)
    assert "\n" not in comment_text(value) and "\u202e" not in comment_text(value)
    assert ast.literal_eval(python_literal(value)) == value


def test_a_template_cannot_print_an_unemitted_value():
    env = _environment()
    with pytest.raises(UnsafeTemplateValue):
        env.from_string("{{ x }}").render(x="plain")
    assert env.from_string("{{ x | py }}").render(x='"') == "'\"'"


def test_non_finite_numbers_have_no_literal():
    with pytest.raises(ValueError):
        python_literal(float("nan"))


# --- YAML that would blow up the reader -----------------------------------------------------------

ALIAS_BOMB = """\
a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
"""


def _validate_bounded(tmp_path: Path, text: str | bytes) -> tuple[int, str]:
    """Validate in a child process capped at 1 GiB of address space and 20 s."""
    path = tmp_path / "p.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    limit = (
        "import resource, runpy, sys;"
        "resource.setrlimit(resource.RLIMIT_AS, (2**30, 2**30));"
        "sys.argv = ['generator', 'validate', sys.argv[1]];"
        "runpy.run_module('generator', run_name='__main__')"
    )
    result = subprocess.run(
        [sys.executable, "-c", limit, str(path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, result.stderr


def test_alias_bomb_is_refused_in_bounded_time_and_memory(tmp_path):
    code, err = _validate_bounded(tmp_path, ALIAS_BOMB)
    assert code == 1 and "aliases expand this profile past 10,000 values" in err


def test_recursive_alias_is_refused(tmp_path):
    code, err = _validate_bounded(tmp_path, BASE + "env: &e {A: *e}\n")
    assert code == 1 and ("aliases expand" in err or "nested deeper" in err)


def test_deep_nesting_is_a_located_error(tmp_path):
    code, err = _validate_bounded(tmp_path, BASE + "description: " + "[" * 990 + "]" * 990 + "\n")
    assert code == 1 and "p.yaml:2:" in err and "nested deeper than 32 levels" in err


def test_huge_file_is_refused_before_parsing(tmp_path):
    code, err = _validate_bounded(tmp_path, BASE + "# " + "x" * 300_000 + "\n")
    assert code == 1 and "larger than 256 KiB" in err


def test_merge_keys_are_not_duplicates(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(
        BASE + "autoscaling:\n  <<: {min_containers: 0, max_containers: 3}\n  max_containers: 2\n"
    )
    assert load(path).deployment.autoscaling.max_containers == 2


def test_merge_key_from_an_anchor_then_override(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(
        BASE + "volumes:\n"
        "  weights: &vol {name: glm51-model-weights, mount_path: /model-cache}\n"
        "  deepgemm_cache:\n    <<: *vol\n    name: dg\n    mount_path: /dg-cache\n"
    )
    volumes = load(path).deployment.volumes
    assert (volumes.deepgemm_cache.name, volumes.deepgemm_cache.mount_path) == ("dg", "/dg-cache")


def test_real_duplicate_keys_are_still_reported(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(BASE + "autoscaling:\n  max_containers: 2\n  max_containers: 3\n")
    with pytest.raises(UserError, match=r"p.yaml:4:3: .*duplicate key 'max_containers'"):
        load(path)


# --- Values the schema or the reader must refuse, located ------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            'app:\n  name: "glm51-x\\n"\n',
            'p.yaml:3:9: app.name: string "glm51-x\\n" does not match',
        ),
        ('model:\n  served_model_name: "glm\\n"\n', "model.served_model_name: string"),
        ("gpu:\n  count: 8.0\n", "p.yaml:3:10: gpu.count: expected integer, got number 8.0"),
        ("autoscaling:\n  max_containers: 3.0\n", "expected integer, got number 3.0"),
        ("sglang:\n  watchdog_timeout: .nan\n", "sglang.watchdog_timeout: expected number"),
        ("sglang:\n  mem_fraction_static: .inf\n", "sglang.mem_fraction_static: expected number"),
        ("autoscaling:\n  max_containers: " + "9" * 5000 + "\n", "integer of 5000 digits"),
        ("env:\n  DAY: 2026-11-28\n", "p.yaml:3:8: env.DAY: a timestamp value is not accepted"),
        ("env:\n  B: !!binary aGVsbG8=\n", "env.B: a binary value is not accepted"),
        ("env: !!set {a, b}\n", "env: a set value is not accepted"),
        ('env:\n  ON: "1"\n', "p.yaml:3:3: env: key 'ON' is read as bool, not text; quote it"),
        ('env:\n  1: "x"\n', "key '1' is read as int"),
    ],
)
def test_values_are_refused_where_they_were_written(tmp_path, text, expected):
    (tmp_path / "p.yaml").write_text(BASE + text)
    code, _, err = run_cli("render", str(tmp_path / "p.yaml"), "-o", str(tmp_path / "a.py"))
    assert code == 1 and expected in err and "Traceback" not in err
    assert not (tmp_path / "a.py").exists()


def test_every_schema_pattern_is_anchored():
    """Patterns are matched whole (validate.py), which equals ECMA-262 `^...$` for editors too."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("pattern"), str):
                found.append(node["pattern"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema())
    assert found and all(p.startswith("^") and p.endswith("$") for p in found)


@pytest.mark.parametrize(
    ("text", "warning"),
    [
        ("autoscaling:\n  max_containers: 020\n", "YAML 1.1 reads 020 as 16"),
        ("autoscaling:\n  scaledown_window: 15:00\n", "YAML 1.1 reads 15:00 as 900"),
        ("sglang:\n  enable_metrics: yes\n", "YAML 1.1 reads yes as true"),
    ],
)
def test_yaml_11_surprises_are_warned_at_the_value(tmp_path, text, warning):
    (tmp_path / "p.yaml").write_text(BASE + text)
    _, _, err = run_cli("validate", str(tmp_path / "p.yaml"))
    assert "p.yaml:3:" in err and warning in err and "Traceback" not in err


def test_non_utf8_profile_is_located_and_other_profiles_still_validate(tmp_path):
    (tmp_path / "bad.yaml").write_bytes(BASE.encode() + b"description: caf\xe9\n")
    (tmp_path / "good.yaml").write_text(BASE)
    code, out, err = run_cli("validate", str(tmp_path / "bad.yaml"), str(tmp_path / "good.yaml"))
    assert code == 1 and "ok: good" in out
    assert "bad.yaml:2:17: not UTF-8 text (byte 0xe9)" in err and "Traceback" not in err


def test_non_utf8_extends_target_is_located(tmp_path):
    (tmp_path / "base.yaml").write_bytes(b"app:\n  name: \xff\n")
    (tmp_path / "p.yaml").write_text("extends: base\n")
    code, _, err = run_cli("validate", str(tmp_path / "p.yaml"))
    assert code == 1 and "base.yaml:2:9: not UTF-8 text" in err and "Traceback" not in err


# --- Secrets never land in committed files --------------------------------------------------------

KEY = "sk-live-0123456789abcdefghijkl"


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (f"sglang:\n  extra_args: [--api-key, {KEY}]\n", "sglang.extra_args[0]"),
        (f"sglang:\n  extra_args: ['--api-key={KEY}']\n", "sglang.extra_args[0]"),
        ("sglang:\n  extra_args: [--admin-api-key, hunter2]\n", "sglang.extra_args[0]"),
        ("sglang:\n  extra_args: [--api-k, hunter2]\n", "sglang.extra_args[0]"),  # abbreviation
        ("sglang:\n  extra_args: [--ssl-keyfile-password, hunter2]\n", "sglang.extra_args[0]"),
        ("env:\n  HF_TOKEN: hunter2\n", "env.HF_TOKEN"),
        ("sglang:\n  env:\n    SGLANG_API_KEY: hunter2\n", "sglang.env.SGLANG_API_KEY"),
        ("env:\n  DB_PASSWORD_FILE_CONTENT: hunter2\n", "env.DB_PASSWORD_FILE_CONTENT"),
        (f"env:\n  NOTE: {KEY}\n", "env.NOTE"),
        (f"app:\n  name: {KEY}\n", "app.name"),
        (f"model:\n  served_model_name: {KEY}\n", "model.served_model_name"),
    ],
)
def test_credentials_in_a_profile_are_errors_that_point_to_secrets(tmp_path, text, where):
    (tmp_path / "p.yaml").write_text(BASE + text)
    code, _, err = run_cli("render", str(tmp_path / "p.yaml"), "-o", str(tmp_path / "a.py"))
    assert code == 1 and f"[secret-in-profile] {where}:" in err and "secrets.api_key" in err
    assert KEY not in err and "hunter2" not in err  # the error does not print it either
    assert not (tmp_path / "a.py").exists()


def test_extra_secrets_reach_the_serving_function(tmp_path):
    (tmp_path / "p.yaml").write_text(BASE + "secrets:\n  extra: [wandb]\n")
    output = render_to_file(load(tmp_path / "p.yaml"), tmp_path / "app.py")
    module = load_modal_app(output)
    assert len(module.extra_secrets) == 1
    assert "secrets=[api_key_secret, *extra_secrets]" in output.read_text()


# --- Round 2: the environment policy (rules/environment.py) ------------------------------------

HF_TOKEN_VALUE = "hf_" + "a1B2c3D4e5F6g7H8i9J0kLmN"


def _refused(tmp_path: Path, text: str) -> str:
    """Validate and render a profile that must fail: exit 1, no traceback, nothing written."""
    (tmp_path / "p.yaml").write_text(BASE + text)
    code, _, err = run_cli("render", str(tmp_path / "p.yaml"), "-o", str(tmp_path / "a.py"))
    assert code == 1 and "Traceback" not in err, err
    assert not (tmp_path / "a.py").exists()
    return err


@pytest.mark.parametrize(
    "name",
    [
        # The generator's own: the Hub stays offline at serve time, caches stay keyed.
        "HF_HUB_OFFLINE",
        "HF_XET_HIGH_PERFORMANCE",
        "SGLANG_DG_CACHE_DIR",
        "SGLANG_CACHE_DIR",
        "TRITON_CACHE_DIR",
        # Code and libraries.
        "LD_PRELOAD",
        "LD_LIBRARY_PATH",
        "PYTHONPATH",
        "PYTHONSTARTUP",
        "PYTHONWARNINGS",  # a warning category names a module, which is imported
        "PATH",
        "BASH_ENV",
        "PIP_INDEX_URL",
        "SGLANG_HTTP_SERVER_APP_PATH",
        # Where credential-bearing traffic goes.
        "HF_ENDPOINT",
        "HF_HOME",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "REQUESTS_CA_BUNDLE",
        "SSL_CERT_FILE",
        "AWS_ENDPOINT_URL",
        "OPENAI_BASE_URL",
        "MODAL_SERVER_URL",
    ],
)
@pytest.mark.parametrize("section", ["env", "sglang.env"])
def test_env_may_not_set_owned_or_redirecting_variables(tmp_path, name, section):
    text = f"env:\n  {name}: x\n" if section == "env" else f"sglang:\n  env:\n    {name}: x\n"
    err = _refused(tmp_path, text)
    assert f"[env-policy] {section}.{name}: {name} " in err


@pytest.mark.parametrize("name", ["PYTHONUNBUFFERED", "NCCL_DEBUG", "CUDA_LAUNCH_BLOCKING"])
def test_env_keeps_ordinary_serving_variables(tmp_path, name):
    (tmp_path / "p.yaml").write_text(BASE + f"env:\n  {name}: '1'\n")
    serve_env = load(tmp_path / "p.yaml").deployment.serve_env  # load raises on an env-policy error
    assert serve_env[name] == "1" and serve_env["HF_HUB_OFFLINE"] == "1"


def _env_dict(source: str, image: str) -> dict[str, str]:
    """The literal dict an image's .env(...) call receives in the rendered app."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == image:
            for call in ast.walk(node.value):
                if isinstance(call, ast.Call) and ast.unparse(call.func).endswith(".env"):
                    return ast.literal_eval(call.args[0])
    raise AssertionError(f"no {image}.env(...) in the app")


def test_the_download_image_gets_none_of_the_profiles_env(tmp_path):
    """The download job holds the Hugging Face token: the profile's env stays out of it."""
    (tmp_path / "p.yaml").write_text(BASE + "env:\n  NCCL_DEBUG: WARN\n")
    output = render_to_file(load(tmp_path / "p.yaml"), tmp_path / "a.py")
    source = output.read_text()
    assert _env_dict(source, "download_image") == {"HF_XET_HIGH_PERFORMANCE": "1"}
    assert _env_dict(source, "serve_image") == {"HF_HUB_OFFLINE": "1", "NCCL_DEBUG": "WARN"}
    assert load_modal_app(output).app.name  # and the real modal package loads it


# --- Round 2: the flag policy (manifests/sglang-<version>-policy.yaml) -----------------------


@pytest.mark.parametrize(
    ("args", "owner"),
    [
        ("[--trust-remote-code]", "set model.trust_remote_code instead"),
        ("[--trust-remote]", "set model.trust_remote_code instead"),  # argparse expands it
        ("[--enable-custom-logit-processor]", "no profile field enables it"),
        ("[--custom-weight-loader, mypkg.load]", "no profile field enables it"),
        ("['--custom-weight-loader=mypkg.load']", "no profile field enables it"),
        ('[--forward-hooks, \'[{"hook_factory": "x.y"}]\']', "no profile field enables it"),
        ("[--config, /tmp/flags.yaml]", "set the sglang section's fields"),
    ],
)
def test_extra_args_may_not_run_code_or_bypass_validation(tmp_path, args, owner):
    err = _refused(tmp_path, f"sglang:\n  extra_args: {args}\n")
    assert "[sglang-flag-refused] sglang.extra_args[0]:" in err and owner in err
    assert "sglang/srt/" in err  # the source line that makes it dangerous


def test_the_flag_policy_holds_for_every_supported_version(tmp_path):
    text = "images:\n  serve:\n    tag: v0.5.10\nsglang:\n  version: '0.5.10'\n  env: null\n"
    text += "  extra_args: [--enable-custom-logit-processor]\n"
    err = _refused(tmp_path, text)
    assert "[sglang-flag-refused]" in err and "in SGLang 0.5.10" in err


def test_trust_remote_code_is_a_warning_silenced_only_with_a_reason(tmp_path, cli):
    (tmp_path / "w.yaml").write_text(BASE + "model:\n  trust_remote_code: true\n")
    warnings = load(tmp_path / "w.yaml").warnings
    assert [p.rule for p in warnings if p.rule == "trust-remote-code"] == ["trust-remote-code"]
    blank = "model:\n  trust_remote_code: true\nsilence:\n  trust-remote-code: '  '\n"
    (tmp_path / "b.yaml").write_text(BASE + blank)
    code, _, err = cli("validate", str(tmp_path / "b.yaml"))
    assert code == 1 and "silence.trust-remote-code" in err
    reason = "reviewed modeling_x.py at the pinned commit"
    (tmp_path / "s.yaml").write_text(blank.replace("'  '", f"'{reason}'").join([BASE, ""]))
    code, out, _ = cli("plan", str(tmp_path / "s.yaml"))
    assert f"silenced: [trust-remote-code] {reason}" in out


# --- Round 2: a credential in any string of the merged profile -----------------------------


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (f"description: 'staging, token {HF_TOKEN_VALUE}'\n", "description"),
        (
            f"silence:\n  web-server-request-cap: 'ok per {HF_TOKEN_VALUE}'\n",
            "silence.web-server-request-cap",
        ),
        (f"secrets:\n  extra: [wandb, {HF_TOKEN_VALUE}]\n", "secrets.extra[1]"),
        (f"pricing:\n  gpu_hour_usd: 6.25\n  source: 'quote {HF_TOKEN_VALUE}'\n", "pricing.source"),
        ("env:\n  AKIAABCDEFGHIJKLMNOP: x\n", "env"),  # a key as a name: not printed either
    ],
)
def test_a_credential_in_any_string_is_an_error(tmp_path, text, where):
    err = _refused(tmp_path, text)
    assert f"[secret-in-profile] {where}:" in err
    assert HF_TOKEN_VALUE not in err and "AKIAABCDEFGHIJKLMNOP" not in err


def test_plan_never_prints_a_credential_from_a_silence_reason(tmp_path, cli):
    (tmp_path / "p.yaml").write_text(
        BASE + f"silence:\n  web-server-request-cap: 'see {HF_TOKEN_VALUE}'\n"
    )
    code, out, err = cli("plan", str(tmp_path / "p.yaml"), "--json")
    assert code == 1 and HF_TOKEN_VALUE not in out + err
    silenced = json.loads(out)["silenced"]
    assert silenced[0]["reason"] == "<redacted: looks like a credential>"


# --- Output paths ------------------------------------------------------------------------------------


def _render(tmp_path: Path, output: Path) -> tuple[int, str]:
    code, _, err = run_cli("render", "prod", "-o", str(output))
    assert "Traceback" not in err
    return code, err


def test_render_refuses_a_symlink_target(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    (tmp_path / "app.py").symlink_to(victim)
    code, err = _render(tmp_path, tmp_path / "app.py")
    assert code == 1 and "is a symlink; refusing" in err
    assert (tmp_path / "app.py").is_symlink() and victim.read_text() == "keep"


def test_render_refuses_a_fifo_target(tmp_path):
    os.mkfifo(tmp_path / "app.py")
    code, err = _render(tmp_path, tmp_path / "app.py")
    assert code == 1 and "is not a regular file" in err


def test_render_refuses_a_directory(tmp_path):
    code, err = _render(tmp_path, tmp_path)
    assert code == 1 and "must end in .py" in err
    (tmp_path / "dir.py").mkdir()
    code, err = _render(tmp_path, tmp_path / "dir.py")
    assert code == 1 and "is not a regular file" in err


def test_render_refuses_to_name_the_app_preflight(tmp_path):
    code, err = _render(tmp_path, tmp_path / "preflight.py")
    assert code == 1 and "preflight.py is written beside the app" in err
    assert not (tmp_path / "preflight.py").exists()


def test_render_into_an_impossible_folder_is_a_located_error(tmp_path):
    (tmp_path / "file").write_text("")
    code, err = _render(tmp_path, tmp_path / "file" / "app.py")
    assert code == 1 and "cannot write" in err


def test_render_refuses_when_the_preflight_beside_it_is_a_symlink(tmp_path):
    (tmp_path / "app.py").write_text("old app")
    (tmp_path / "preflight.py").symlink_to(tmp_path / "elsewhere")
    code, err = _render(tmp_path, tmp_path / "app.py")
    assert code == 1 and "preflight.py: is a symlink" in err
    assert (tmp_path / "app.py").read_text() == "old app"  # both or neither


def test_a_failing_second_file_leaves_the_first_untouched(tmp_path, monkeypatch):
    (tmp_path / "app.py").write_text("old app")
    (tmp_path / "preflight.py").write_text("old preflight")
    real_replace, calls = os.replace, []

    def second_fails(src, dst):
        calls.append(dst)
        if str(dst).endswith("preflight.py") and len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", second_fails)
    with pytest.raises(UserError, match="No space left on device"):
        render_to_file(load("prod"), tmp_path / "app.py")
    assert (tmp_path / "app.py").read_text() == "old app"
    assert (tmp_path / "preflight.py").read_text() == "old preflight"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.py", "preflight.py"]


def test_concurrent_renders_never_mix_pairs(tmp_path):
    """Two writers of different profiles into one folder: the pair on disk is always one
    profile's (each write locks the folder)."""
    profiles = [load("prod"), load("always-warm")]
    errors = []

    def writer(loaded):
        try:
            for _ in range(3):
                render_to_file(loaded, tmp_path / "modal_app.py")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(p,)) for p in profiles]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    app, preflight = [(tmp_path / n).read_text() for n in ("modal_app.py", "preflight.py")]
    assert app.splitlines()[2] == preflight.splitlines()[2]  # "# Profile: <same>"


def test_profile_named_dotdot_cannot_leave_deploys(tmp_path):
    with pytest.raises(UserError, match="would leave"):
        deploy_module.history_path("../../etc")


# --- pin-revision trusts nothing the Hub says ----------------------------------------------------


@pytest.fixture
def hub(monkeypatch):
    """The Hub's answer, set per test at huggingface_hub's own boundary (HfApi.model_info),
    as the real ModelInfo the client builds from the Hub's JSON."""
    from huggingface_hub import HfApi
    from huggingface_hub.hf_api import ModelInfo

    answer = {}

    def model_info(self, repo_id, revision=None, **_):
        if isinstance(answer.get("raise"), BaseException):
            raise answer["raise"]
        siblings = [{"rfilename": "model-00001.safetensors", "size": 5_000_000_000}]
        return ModelInfo(id=repo_id, sha=answer.get("sha"), siblings=siblings)

    monkeypatch.setattr(HfApi, "model_info", model_info)
    return answer


def _pin(tmp_path: Path, cli) -> tuple[int, str, Path]:
    path = tmp_path / "p.yaml"
    if not path.exists():
        path.write_text(BASE + "model:\n  revision: main\n")
    code, _, err = cli("pin-revision", str(path))
    return code, err, path


@pytest.mark.parametrize(
    "sha",
    [
        "0123456789abcdef0123456789abcdef01234567\nevil: 1",
        "0123456789ABCDEF0123456789ABCDEF01234567",
        "0123456789abcdef",
        None,
    ],
)
def test_pin_accepts_only_a_commit_sha(tmp_path, cli, hub, sha):
    hub["sha"] = sha
    code, err, path = _pin(tmp_path, cli)
    assert code == 1 and "not 40 hex digits; nothing written" in err
    assert path.read_text() == BASE + "model:\n  revision: main\n"


@pytest.mark.parametrize(
    "error",
    [
        __import__("httpx").ConnectError("connection refused"),
        __import__("httpx").ReadTimeout("timed out"),
        ValueError("Expecting value: line 1 column 1"),
    ],
)
def test_pin_reports_hub_failures_cleanly(tmp_path, cli, hub, error):
    hub["raise"] = error
    code, err, _ = _pin(tmp_path, cli)
    assert code == 1 and "Hugging Face Hub" in err and "Traceback" not in err


def test_pin_writes_through_a_symlink_and_keeps_the_mode(tmp_path, cli, hub):
    hub["sha"] = "0123456789abcdef0123456789abcdef01234567"
    real = tmp_path / "real.yaml"
    real.write_text(BASE + "model:\n  revision: main\n")
    real.chmod(0o640)
    (tmp_path / "p.yaml").symlink_to(real)
    code, err, path = _pin(tmp_path, cli)
    assert code == 0, err
    assert path.is_symlink() and real.stat().st_mode & 0o777 == 0o640
    assert "revision: 0123456789abcdef0123456789abcdef01234567" in real.read_text()


# --- Operations -----------------------------------------------------------------------------------


def test_make_never_puts_the_api_key_on_a_command_line():
    out = subprocess.run(
        ["make", "-n", "smoke", "URL=https://x.modal.run", f"API_KEY={KEY}"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    ).stdout
    assert "generator smoke" in out and KEY not in out and "--api-key" not in out


def test_make_variables_cannot_become_shell_syntax(tmp_path):
    marker = tmp_path / "PWNED"
    out = subprocess.run(
        ["make", "-s", "plan", "PY=echo", "READY=", f"PROFILE=x; touch {marker}"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    ).stdout
    assert out == f"-m generator plan x; touch {marker}\n" and not marker.exists()


def test_credentials_in_a_url_are_masked(tmp_path, monkeypatch):
    from generator.operate import smoke

    monkeypatch.setenv("API_KEY", "k")
    report = tmp_path / "r.json"
    with FakeSGLang() as url:
        secret_url = url.replace("http://", "http://user:hunter2@")
        parser = __import__("argparse").ArgumentParser()
        smoke.add_arguments(parser)
        args = parser.parse_args(["--url", secret_url, "--model", "m", "--report", str(report)])
        smoke.main(args)
    assert "hunter2" not in report.read_text() and "***@127.0.0.1" in report.read_text()
    assert smoke.display_url("https://a:b@x.modal.run/v1") == "https://***@x.modal.run/v1"


# prod sits behind Modal's proxy auth: smoke and bench need a Proxy Auth Token to start at all.
PROXY_TOKEN_ENV = {"MODAL_PROXY_TOKEN_ID": "wk-x", "MODAL_PROXY_TOKEN_SECRET": "ws-x"}


def test_smoke_gives_up_on_a_refused_connection_within_seconds(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.monotonic()
    code, out, err = run_cli(
        "smoke",
        "--profile",
        "prod",
        "--url",
        f"http://127.0.0.1:{port}",
        "--report",
        str(tmp_path / "r.json"),
        env={"API_KEY": "k", **PROXY_TOKEN_ENV},
    )
    assert code == 1 and "refuses connections" in out and "Traceback" not in err
    assert time.monotonic() - start < 25  # not the 30-minute cold-start wait


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--url", "http://[::1"], "not an http(s) URL"),
        (["--url", "http://x:99999"], "not an http(s) URL"),
        (["--url", "http://x", "--request-timeout", "nan"], "expected a positive number"),
        (["--url", "http://x", "--request-timeout", "-1"], "expected a positive number"),
    ],
)
def test_bench_bad_arguments_are_clean_errors(argv, message):
    code, out, err = run_cli(
        "bench", "--profile", "prod", *argv, env={"API_KEY": "k", **PROXY_TOKEN_ENV}
    )
    assert code in (1, 2) and message in out + err and "Traceback" not in err


def test_bench_bad_out_dir_is_found_before_the_sweep(tmp_path):
    (tmp_path / "file").write_text("")
    with FakeSGLang() as url:
        code, _, err = run_cli(
            "bench",
            "--profile",
            "prod",
            "--url",
            url,
            "--model",
            "glm-5.1",
            "--out-dir",
            str(tmp_path / "file" / "out"),
            env={"API_KEY": "k", **PROXY_TOKEN_ENV},
        )
    assert code == 1 and "--out-dir" in err and "cannot create" in err and "Traceback" not in err


def test_bench_ctrl_c_keeps_the_finished_levels(tmp_path, monkeypatch, capsys):
    """The second level is interrupted (KeyboardInterrupt where the user's Ctrl-C would land):
    the first is written, the command exits 130 without a traceback."""
    from fake_sglang import DEFAULT_KEY, DEFAULT_MODEL

    from generator.operate import bench

    real = bench.summarize
    done = []

    def summarize_then_interrupt(*args, **kwargs):
        if done:
            raise KeyboardInterrupt
        done.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(bench, "summarize", summarize_then_interrupt)
    monkeypatch.setenv("API_KEY", DEFAULT_KEY)
    parser = __import__("argparse").ArgumentParser()
    bench.add_arguments(parser)
    with FakeSGLang() as url:
        args = parser.parse_args(
            [
                "--url",
                url,
                "--model",
                DEFAULT_MODEL,
                "--concurrency",
                "1,2",
                "--requests",
                "2",
                "--output-tokens",
                "4",
                "--input-tokens",
                "8",
                "--out-dir",
                str(tmp_path),
            ]
        )
        assert bench.main(args) == 130
    err = capsys.readouterr().err
    assert "1 completed level(s) written" in err and "Traceback" not in err
    result = json.loads((tmp_path / "latest.json").read_text())
    assert result["interrupted"] is True and [lv["concurrency"] for lv in result["levels"]] == [1]


def test_malformed_history_is_a_clean_error(tmp_path, monkeypatch, cli):
    monkeypatch.setattr(deploy_module, "DEPLOYS_DIR", tmp_path / "deploys")
    history = tmp_path / "deploys" / "prod" / "history.json"
    history.parent.mkdir(parents=True)
    for text in ('{"not": "a list"}', '[{"action": "deploy"}]', "[1, 2]", "[{"):
        history.write_text(text)
        code, _, err = cli("rollback", "prod", "--dry-run")
        assert code == 1 and "history.json" in err and "restore" in err


def test_concurrent_deploy_records_are_all_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(deploy_module, "DEPLOYS_DIR", tmp_path / "deploys")
    loaded = load("prod")
    records = [deploy_module.make_record(loaded, f"app {i}") for i in range(10)]
    for i, record in enumerate(records):
        record["tag"] = f"prod-{i:012d}"
    threads = [
        threading.Thread(target=deploy_module.write_record, args=(r, "app")) for r in records
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(deploy_module.read_history("prod")) == 10


def test_broken_modal_config_is_a_clean_error(tmp_path):
    (tmp_path / "p.yaml").write_text(BASE + PINNED)
    config = tmp_path / ".modal.toml"
    config.write_text("this is [not toml\n")
    env = {"HOME": str(tmp_path), "MODAL_CONFIG_PATH": str(config)}
    env = {**env, "MODAL_TOKEN_ID": "", "MODAL_TOKEN_SECRET": ""}
    code, _, err = run_cli("deploy", str(tmp_path / "p.yaml"), env=env)
    assert code == 1 and "cannot read Modal's configuration" in err and "Traceback" not in err


def test_extends_reads_only_yaml_files(tmp_path):
    """A pull request cannot make CI read, and quote in its errors, a file such as
    ~/.modal.toml or /proc/self/environ through `extends`."""
    (tmp_path / "creds.toml").write_text('token_id = "ak-0123456789abcdefghij"\n')
    (tmp_path / "p.yaml").write_text(f"extends: {tmp_path / 'creds.toml'}\n")
    code, _, err = run_cli("validate", str(tmp_path / "p.yaml"))
    assert code == 1 and "extends: profile not found" in err and "ak-0123" not in err


def test_a_credential_in_a_wrong_value_is_not_quoted_in_the_error(tmp_path):
    (tmp_path / "p.yaml").write_text(BASE + f"gpu:\n  type: {KEY}\n")
    code, _, err = run_cli("validate", str(tmp_path / "p.yaml"))
    assert code == 1 and "looks like a credential (not shown)" in err and KEY not in err


# --- Round 2: bounds, output, writes, committed data ---------------------------------------------
# Each input below is built here (generated, not a committed blob) and each test failed on the
# code before round 2. Bounds are asserted as outcomes (a located error inside the 1 GiB / 20 s
# child of `_validate_bounded`), not as timings.


def _chain(tmp_path: Path, count: int, body: str) -> Path:
    """p0.yaml extends p1.yaml ... extends p<count-1>.yaml, which extends the shipped base."""
    for index in range(count):
        parent = f"p{index + 1}" if index + 1 < count else str(BASE_PROFILE)
        (tmp_path / f"p{index}.yaml").write_text(f"extends: {parent}\n{body}")
    return tmp_path / "p0.yaml"


def _validate_file_bounded(path: Path, *args: str) -> tuple[int, str, str]:
    """`validate` of `path` in a child capped at 1 GiB of address space and 20 s."""
    limit = (
        "import resource, runpy, sys;"
        "resource.setrlimit(resource.RLIMIT_AS, (2**30, 2**30));"
        "sys.argv = ['generator', 'validate', *sys.argv[1:]];"
        "runpy.run_module('generator', run_name='__main__')"
    )
    result = subprocess.run(
        [sys.executable, "-c", limit, *args, str(path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    return result.returncode, result.stdout, result.stderr


def test_chain_of_large_files_is_bounded_together(tmp_path):
    path = _chain(tmp_path, 3, "# " + "x" * 200_000 + "\n")  # each file alone is under 256 KiB
    code, _, err = _validate_file_bounded(path)
    assert code == 1 and "p1.yaml: this profile and the profiles it extends hold more" in err
    assert "than 256 KiB together" in err


def test_chain_of_many_values_is_bounded_together(tmp_path):
    path = _chain(tmp_path, 3, "x-pad: [" + ", ".join(["1"] * 4_000) + "]\n")
    code, _, err = _validate_file_bounded(path)
    assert code == 1 and "hold more than 10,000 values together" in err and "p2.yaml:2:" in err


def test_extends_chain_length_is_bounded(tmp_path):
    code, _, err = _validate_file_bounded(_chain(tmp_path, 10, ""))
    assert code == 1 and "extends: the chain is longer than 8 profiles" in err
    assert "p7.yaml:1:10:" in err


def test_aliased_long_strings_are_bounded_as_text(tmp_path):
    text = BASE + f"x-a: &a {'y' * 100_000}\nx-b: [{', '.join(['*a'] * 20)}]\n"
    code, err = _validate_bounded(tmp_path, text)
    assert code == 1 and "aliases expand this profile past 1,048,576 characters of text" in err


def test_secret_pattern_is_linear_on_a_long_token_like_value(tmp_path):
    """`eyJ-eyJ-...` made the JWT alternative rescan the rest of the value from every `eyJ`."""
    code, err = _validate_bounded(tmp_path, BASE + f"env:\n  NOTE: {'eyJ-' * 60_000}\n")
    assert "NOTE" not in err or "looks like a credential" not in err  # finished, and no false hit


def test_secret_pattern_still_finds_tokens_inside_text():
    from generator.profile.credentials import looks_secret

    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.sig"
    assert looks_secret(f"see {jwt} here") and looks_secret(f"x {KEY}\ny")
    assert not looks_secret("eyJ" + "-" * 5_000) and not looks_secret("sk-short")


def test_thousands_of_unknown_flags_are_all_reported_with_bounded_suggestions(tmp_path):
    flags = ", ".join(f"--zz-unknown-{i}" for i in range(3_000))
    path = tmp_path / "p.yaml"
    path.write_text(BASE + f"sglang:\n  extra_args: [{flags}]\n")
    code, _, err = _validate_file_bounded(path)
    assert code == 1 and err.count("has no flag --zz-unknown-") == 3_000
    assert err.count("did you mean") <= 20 + 5  # the first 20 flags, and the other rules' hints


def test_a_file_name_cannot_write_workflow_commands(tmp_path):
    bad = tmp_path / "a\n::stop-commands::pwned\n::error::forged.yaml"
    bad.write_text(BASE)
    (tmp_path / "good.yaml").write_text(BASE)
    code, out, err = run_cli(
        "validate", "--format", "github", str(bad), str(tmp_path / "good.yaml")
    )
    assert code == 1 and "Traceback" not in err
    lines = out.splitlines()
    assert lines and all(
        line.startswith(("ok: ", "invalid: ", "::error ", "::warning ")) for line in lines
    )
    assert not any(line.startswith(("::stop-commands", "::error::")) for line in lines)
    assert "ok: good" in lines


@pytest.mark.parametrize("output_format", ["text", "github"])
def test_extends_with_a_newline_prints_one_line_per_problem(tmp_path, output_format):
    (tmp_path / "p.yaml").write_text('extends: "nope\\n::error::forged"\n')
    code, out, err = run_cli("validate", "--format", output_format, str(tmp_path / "p.yaml"))
    assert code == 1 and "Traceback" not in err
    assert not any(line.startswith("::error::") for line in (out + err).splitlines())
    assert "\\x0a::error::forged" in out + err  # in the message, escaped: one line


def test_render_prints_flag_values_escaped(tmp_path):
    (tmp_path / "p.yaml").write_text(
        BASE + 'sglang:\n  extra_args: ["--log-lev=info\\n::error::forged"]\n'
    )
    code, _, err = run_cli("render", str(tmp_path / "p.yaml"), "-o", str(tmp_path / "o" / "a.py"))
    # Round 3: the newline is refused at validation (control characters), shown escaped there.
    assert code == 1 and "info\\n::error::forged" in err
    assert not any(line.startswith("::") for line in err.splitlines())


def test_an_over_long_extends_is_that_profiles_problem_and_json_still_prints(tmp_path):
    (tmp_path / "long.yaml").write_text('extends: "' + "a/" * 3_000 + '\\n::error::x.yaml"\n')
    (tmp_path / "good.yaml").write_text(BASE)
    code, out, err = run_cli(
        "validate", "--format", "json", str(tmp_path / "long.yaml"), str(tmp_path / "good.yaml")
    )
    assert code == 1 and "Traceback" not in err
    document = json.loads(out)
    status = {p["profile"]: p["status"] for p in document["profiles"]}
    assert status == {"long": "invalid", "good": "ok"}
    [problem] = document["profiles"][0]["problems"]
    assert "cannot use profile" in problem["message"] and len(problem["message"]) < 300


def test_an_over_long_profile_argument_is_a_clean_one_line_error(tmp_path):
    ref = "a/" * 3_000 + "\n::error::x.yaml"
    code, out, err = run_cli("validate", ref, str(tmp_path / "missing.yaml"))
    assert code == 1 and "Traceback" not in err and "cannot use profile" in err
    assert not any(line.startswith("::") for line in err.splitlines())


def _history(tmp_path: Path, monkeypatch, records: list[dict] | str) -> Path:
    monkeypatch.setattr(deploy_module, "DEPLOYS_DIR", tmp_path / "deploys")
    path = tmp_path / "deploys" / "prod" / "history.json"
    path.parent.mkdir(parents=True)
    path.write_text(records if isinstance(records, str) else json.dumps(records))
    return path


def _record(**changes) -> dict:
    record = {
        "action": "deploy",
        "profile": "prod",
        "tag": "prod-0123456789ab",
        "app_name": "glm51-prod",
        "time": "2026-12-01T00:00:00+00:00",
        "sglang_version": "0.5.23",
        "settings": {},
    }
    return {**record, **changes}


@pytest.mark.parametrize(
    "text",
    ["[" * 100_000 + "]" * 100_000, "[" + "9" * 5_000 + "]"],
    ids=["deep-nesting", "5000-digits"],
)
def test_history_json_that_would_overflow_the_parser_is_a_clean_error(
    tmp_path, monkeypatch, cli, text
):
    _history(tmp_path, monkeypatch, text)
    code, _, err = cli("rollback", "prod", "--dry-run")
    assert code == 1 and "history.json" in err and "restore the file from git" in err


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"tag": "../../../etc"}, "tag"),
        ({"tag": "prod-0123456789ab/../../x"}, "tag"),
        ({"app_name": "--help"}, "app_name"),
        ({"profile": "other"}, "profile"),
    ],
)
def test_deploy_record_names_are_checked_before_use(tmp_path, monkeypatch, cli, change, field):
    _history(tmp_path, monkeypatch, [_record(), _record(**change)])
    code, out, err = cli("rollback", "prod", "--dry-run")
    assert (
        code == 1 and f"record [1] lacks or mistypes {field}" in err and "app rollback" not in out
    )


def test_rollback_prints_committed_record_text_escaped(tmp_path, monkeypatch, cli):
    forged = "t\n::error::forged"
    _history(tmp_path, monkeypatch, [_record(time=forged), _record(tag="prod-ba9876543210")])
    code, out, err = cli("rollback", "prod", "--dry-run")
    assert code == 0, err
    assert "t\\x0a::error::forged" in out and not any(x.startswith("::") for x in out.splitlines())


def test_diff_prints_committed_settings_escaped(tmp_path, monkeypatch, cli):
    _history(tmp_path, monkeypatch, [_record(settings={"x\n::error::forged": 1})])
    code, out, err = cli("diff", "prod", "--against", "deployed")
    assert code == 0, err
    assert "x\\x0a::error::forged" in out and not any(x.startswith("::") for x in out.splitlines())


def _pinned_with_lock(tmp_path: Path, lock: str) -> Path:
    (tmp_path / "p.yaml").write_text(BASE + PINNED)
    (tmp_path / "checkpoints.lock.json").write_text(lock)
    return tmp_path / "p.yaml"


LOCK_KEY = "zai-org/GLM-5.1-FP8@0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize(
    ("lock", "message"),
    [
        ("[" * 100_000 + "]" * 100_000, "checkpoints.lock.json: nested deeper than 32 levels"),
        (json.dumps({LOCK_KEY: {"bytes": 10**40}}), "a number of 41 digits"),
        ('{"a": ' + "9" * 5_000 + "}", "a number of 5000 digits"),
        (json.dumps({LOCK_KEY: {"bytes": 1}}), "bytes=1 is not a plausible size"),
        (json.dumps({LOCK_KEY: {"bytes": "757e9"}}), "bytes='757e9' is not a plausible size"),
    ],
    ids=["deep", "huge-int", "5000-digits", "one-byte", "text"],
)
def test_lock_file_is_believed_only_when_plausible(tmp_path, lock, message):
    code, _, err = run_cli("validate", str(_pinned_with_lock(tmp_path, lock)))
    assert code == 1 and message in err and "Traceback" not in err


def test_a_broken_lock_does_not_lose_the_rest_of_a_github_report(tmp_path):
    (tmp_path / "a").mkdir()
    bad = _pinned_with_lock(tmp_path / "a", "[" * 100_000)
    (tmp_path / "good.yaml").write_text(BASE)
    code, out, err = run_cli(
        "validate", "--format", "github", str(bad), str(tmp_path / "good.yaml")
    )
    assert code == 1 and "Traceback" not in err
    assert "invalid: p" in out.splitlines() and "ok: good" in out.splitlines()


def _repo(tmp_path: Path) -> Path:
    """A checkout that is not this one: a folder with .git (profile_root finds it)."""
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    return repo


def test_extends_cannot_name_a_file_outside_the_repository(tmp_path):
    repo = _repo(tmp_path)
    creds = tmp_path / "outside" / "creds.yaml"
    creds.write_text(f"app:\n  name: {KEY}\n")
    (repo / "p.yaml").write_text(f"extends: {creds}\n")
    code, _, err = run_cli("validate", str(repo / "p.yaml"))
    assert code == 1 and "is outside" in err and KEY not in err
    (repo / "q.yaml").write_text("extends: ../outside/creds.yaml\n")
    code, _, err = run_cli("validate", str(repo / "q.yaml"))
    assert code == 1 and "is outside" in err


def test_a_symlinked_profile_cannot_lead_out_of_the_repository(tmp_path):
    repo = _repo(tmp_path)
    (tmp_path / "outside" / "x.yaml").write_text(BASE)
    (repo / "evil.yaml").symlink_to(tmp_path / "outside" / "x.yaml")
    (repo / "base.yaml").symlink_to(tmp_path / "outside" / "x.yaml")
    (repo / "child.yaml").write_text("extends: base\n")
    for name in ("evil", "child"):
        code, _, err = run_cli("validate", str(repo / f"{name}.yaml"))
        assert code == 1 and "outside" in err and "Traceback" not in err


def test_a_fifo_cannot_stall_the_reader(tmp_path):
    """Opened without blocking and checked on its descriptor: no writer needed to get an error."""
    os.mkfifo(tmp_path / "base.yaml")
    code = (
        "from pathlib import Path; import sys\n"
        "from generator.errors import UserError\n"
        "from generator.profile.load import load_yaml\n"
        "try:\n    load_yaml(Path(sys.argv[1]))\nexcept UserError as e:\n    print(e)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "base.yaml")],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert "base.yaml: not a regular file" in result.stdout


def test_two_profiles_of_one_name_are_refused(tmp_path):
    (tmp_path / "prod.yaml").write_text(BASE)
    (tmp_path / "prod.yml").write_text(BASE)
    for suffix in (".yaml", ".yml"):
        code, _, err = run_cli(
            "render", str(tmp_path / f"prod{suffix}"), "-o", str(tmp_path / "a.py")
        )
        assert code == 1 and "another profile is named 'prod'" in err and "build/prod/" in err
    assert not (tmp_path / "a.py").exists()


def test_a_profile_in_a_subfolder_cannot_take_a_shipped_profiles_name(tmp_path, monkeypatch):
    from generator.profile import load as load_module

    repo = _repo(tmp_path)
    (repo / "profiles" / "team").mkdir(parents=True)
    for path in (repo / "profiles" / "prod.yaml", repo / "profiles" / "team" / "prod.yaml"):
        path.write_text("app:\n  name: x\n")
    monkeypatch.setattr(load_module, "REPO_ROOT", repo)
    monkeypatch.setattr(load_module, "PROFILES_DIR", repo / "profiles")
    with pytest.raises(
        UserError, match=r"another profile is named 'prod' \(.*profiles/prod.yaml\)"
    ):
        load_module.load_profile(repo / "profiles" / "team" / "prod.yaml")


def test_a_committed_build_symlink_cannot_send_the_render_outside(tmp_path, monkeypatch):
    from generator.render import write as write_module

    repo = _repo(tmp_path)
    (repo / "build").symlink_to(tmp_path / "outside")
    monkeypatch.setattr(write_module, "BUILD_DIR", repo / "build")
    with pytest.raises(UserError, match=r"build: leads to .*outside.*refusing to write through it"):
        render_to_file(load("prod"))
    assert list((tmp_path / "outside").iterdir()) == []


def test_a_symlinked_profile_folder_under_build_is_refused_too(tmp_path, monkeypatch):
    from generator.render import write as write_module

    repo = _repo(tmp_path)
    (repo / "build").mkdir()
    (repo / "build" / "prod").symlink_to(tmp_path / "outside")
    monkeypatch.setattr(write_module, "BUILD_DIR", repo / "build")
    with pytest.raises(UserError, match=r"build/prod: leads to"):
        render_to_file(load("prod"))
    assert list((tmp_path / "outside").iterdir()) == []


def test_a_committed_deploys_symlink_cannot_receive_records(tmp_path, monkeypatch):
    repo = _repo(tmp_path)
    (repo / "deploys").symlink_to(tmp_path / "outside")
    monkeypatch.setattr(deploy_module, "DEPLOYS_DIR", repo / "deploys")
    record = deploy_module.make_record(load("prod"), "app")
    with pytest.raises(UserError, match=r"deploys: is a symbolic link"):
        deploy_module.write_record(record, "app")
    assert list((tmp_path / "outside").iterdir()) == []


def test_pin_refuses_a_lock_symlink_that_leaves_the_folder(tmp_path, cli, hub):
    hub["sha"] = "0123456789abcdef0123456789abcdef01234567"
    repo = _repo(tmp_path)
    victim = tmp_path / "outside" / "victim.json"
    victim.write_text("{}\n")
    (repo / "checkpoints.lock.json").symlink_to(victim)
    (repo / "p.yaml").write_text(BASE + "model:\n  revision: main\n")
    code, _, err = cli("pin-revision", str(repo / "p.yaml"))
    assert code == 1 and "checkpoints.lock.json: is a symbolic link" in err
    assert victim.read_text() == "{}\n" and "revision: main" in (repo / "p.yaml").read_text()


def test_pin_refuses_a_lock_symlink_even_inside_the_repository(tmp_path, cli, hub):
    """Round 3: a committed record is never read or written through a link, wherever it points
    (generator/profile/committed.py)."""
    hub["sha"] = "0123456789abcdef0123456789abcdef01234567"
    repo = _repo(tmp_path)
    (repo / "data").mkdir()
    (repo / "data" / "lock.json").write_text("{}\n")
    (repo / "checkpoints.lock.json").symlink_to(repo / "data" / "lock.json")
    (repo / "p.yaml").write_text(BASE + "model:\n  revision: main\n")
    code, _, err = cli("pin-revision", str(repo / "p.yaml"))
    assert code == 1 and "checkpoints.lock.json: is a symbolic link" in err, err
    assert (repo / "data" / "lock.json").read_text() == "{}\n"
    # refused before the profile's revision is rewritten (not after, with no lock entry)
    assert "revision: main" in (repo / "p.yaml").read_text()


def test_plan_json_is_strict_json(tmp_path):
    (tmp_path / "p.yaml").write_text(BASE + "pricing:\n  gpu_hour_usd: 1.0e+308\n")
    code, out, err = run_cli("plan", str(tmp_path / "p.yaml"), "--json")
    assert code == 1 and "pricing.gpu_hour_usd" in err and "Infinity" not in out
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("app:\n  name: ap-abcdefghijklmnopqrstuv\n", "app.name"),
        ("volumes:\n  weights: {name: ap-0123456789ABCDEFGHIJab, mount_path: /w}\n", "volumes"),
        ("secrets:\n  api_key: {name: ap-0123456789ABCDEFGHIJab, key: API_KEY}\n", "secrets"),
    ],
)
def test_names_modal_takes_for_app_ids_are_refused(tmp_path, text, where):
    (tmp_path / "p.yaml").write_text(BASE + text)
    code, _, err = run_cli("validate", str(tmp_path / "p.yaml"))
    assert code == 1 and "[modal-name]" in err and where in err and "is an App ID" in err


def test_a_profile_name_too_long_for_a_deploy_tag_is_refused_at_validation(tmp_path):
    name = "a" * 38  # <name>-<12 hex> is 51 characters; Modal's runner allows 50
    (tmp_path / f"{name}.yaml").write_text(BASE)
    code, _, err = run_cli("validate", str(tmp_path / f"{name}.yaml"))
    assert code == 1 and "[modal-name]" in err and "at most 37" in err
    (tmp_path / f"{name[:37]}.yaml").write_text(BASE)
    _, _, err = run_cli("validate", str(tmp_path / f"{name[:37]}.yaml"))
    assert "[modal-name]" not in err


@pytest.mark.parametrize("where", ["command line", "environment"])
def test_make_variables_cannot_become_make_syntax(tmp_path, where):
    marker = tmp_path / "PWNED"
    value = f"$(shell touch {marker})x"
    argv = ["make", "-s", "plan", "PY=echo", "READY="]
    env = {**os.environ}
    if where == "command line":
        argv.append(f"PROFILE={value}")
    else:
        env["PROFILE"] = value
    out = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, env=env).stdout
    assert out == f"-m generator plan {value}\n" and not marker.exists()


@pytest.mark.parametrize("inside", [False, True], ids=["leaving", "inside"])
def test_deploy_checks_where_its_record_goes_before_anything_deploys(
    tmp_path, monkeypatch, cli, inside
):
    """A `deploys` link, even one to a folder of the repository, is refused before `modal
    deploy` runs, not by the record write after it."""
    repo = _repo(tmp_path)
    target = repo / "elsewhere" if inside else tmp_path / "outside"
    target.mkdir(exist_ok=True)
    (repo / "deploys").symlink_to(target)
    monkeypatch.setattr(deploy_module, "DEPLOYS_DIR", repo / "deploys")
    (tmp_path / "round2-deploy.yaml").write_text(BASE + PINNED)
    code, out, err = cli("deploy", str(tmp_path / "round2-deploy.yaml"), "--dry-run")
    assert code == 1 and "deploys: is a symbolic link" in err and "modal deploy" not in out
    assert list(target.iterdir()) == []


def test_suggestions_skip_long_words_and_reuse_their_work():
    from generator.errors import MAX_SUGGESTION_WORD, _closest, did_you_mean

    known = ["--tensor-parallel-size", "--context-length"]
    assert did_you_mean("--tensor-paralel-size", known) == "did you mean --tensor-parallel-size?"
    before = _closest.cache_info().hits
    assert did_you_mean("--tensor-paralel-size", reversed(known))  # same words, any order
    assert _closest.cache_info().hits == before + 1
    assert did_you_mean("--tensor-paralel-size" + "e" * MAX_SUGGESTION_WORD, known) == ""
