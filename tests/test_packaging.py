"""The installed command, and what the core install (the pre-commit hook's) can run without extras."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import BASE_PROFILE

from generator import PACKAGE_DIR, REPO_ROOT

COMMAND = Path(sys.executable).parent / "modal-sglang"


@pytest.fixture
def split_profile(profile_tree, monkeypatch):
    root = profile_tree({"split.yaml": f"extends: {BASE_PROFILE}\ngpu:\n  count: 4\n"})
    monkeypatch.chdir(root)
    monkeypatch.setenv("GITHUB_WORKSPACE", str(root))
    return root / "split.yaml"


def test_console_command(split_profile):
    """`modal-sglang` is installed beside the interpreter and is the same CLI."""
    result = subprocess.run(
        [str(COMMAND), "validate", "--format", "github", "split.yaml"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1, result.stderr
    assert "::error file=split.yaml,line=3,col=10,title=gpu-count-parallelism::" in result.stdout
    usage = subprocess.run([str(COMMAND), "--help"], capture_output=True, text=True)
    assert usage.stdout.startswith("usage: modal-sglang ")


def _python(script: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)


def test_validation_imports_no_deploy_dependencies(split_profile):
    """The pre-commit hook installs only the core dependencies: validate must not need the rest."""
    result = _python(
        "import sys\n"
        "from generator.cli import DEPLOY_EXTRA_MODULES, main\n"
        "main(['validate', '--format', 'json', 'split.yaml'])\n"
        "heavy = DEPLOY_EXTRA_MODULES | {'jinja2'}\n"
        "print(sorted(m for m in sys.modules if m.partition('.')[0] in heavy))\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "[]"


@pytest.mark.parametrize(
    "missing,args",
    [
        ("huggingface_hub", ["pin-revision", "prod"]),
        ("openai", ["smoke", "--url", "http://127.0.0.1:9"]),
        ("httpx", ["bench", "--url", "http://127.0.0.1:9"]),
    ],
)
def test_a_missing_extra_is_named(missing, args):
    """Without the `deploy` extra, a command that needs it says what to install; no traceback."""
    result = _python(
        "import sys\n"
        f"sys.modules[{missing!r}] = None  # what `import {missing}` sees when it is not installed\n"
        "from generator.cli import main\n"
        f"sys.exit(main({args!r}))\n"
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr == (
        f"error: this command needs {missing}: pip install 'modal-sglang-generator[deploy]'\n"
    )


def _install_outside_the_checkout(tmp_path: Path) -> Path:
    """`pip install` of what the package is built from (pyproject.toml, README.md, generator/,
    templates/) into a folder of its own: no checkout around it, so anything the package needs
    at run time must come as package data. Returns the site folder."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, src / name)
    for folder in ("generator", "templates"):
        ignore = shutil.ignore_patterns("__pycache__")
        shutil.copytree(REPO_ROOT / folder, src / folder, ignore=ignore)
    site = tmp_path / "site"
    command = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    command += ["--no-deps", "--no-build-isolation", "--target", str(site), str(src)]
    installed = subprocess.run(command, capture_output=True, text=True)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return site


def test_templates_live_at_the_top_of_the_checkout():
    """The design card's layout: templates/ at the top, none under generator/."""
    assert sorted(p.name for p in (REPO_ROOT / "templates").glob("*.j2")) == [
        "_deployment.py.j2",
        "modal_app.py.j2",
        "preflight.py.j2",
    ]
    assert not list(PACKAGE_DIR.rglob("*.j2"))


@pytest.mark.slow
def test_installed_outside_a_checkout(tmp_path):
    """Installed elsewhere (pip, pre-commit), the package brings its data (templates, schema,
    manifests, catalogs), and profiles/ and build/ are those of the current directory."""
    site = _install_outside_the_checkout(tmp_path)
    assert (site / "generator" / "templates" / "modal_app.py.j2").is_file()
    assert (site / "generator" / "operate" / "probe_set.json").is_file()  # the release gates' set
    work = tmp_path / "deployments"
    (work / "profiles").mkdir(parents=True)
    (work / "profiles" / "base.yaml").write_text(BASE_PROFILE.read_text())
    (work / "profiles" / "typo.yaml").write_text(
        "extends: base\nautoscaling:\n  max_container: 1\n"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}

    def run(*args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "generator", *args]
        return subprocess.run(command, capture_output=True, text=True, cwd=work, env=env)

    where = subprocess.run(
        [sys.executable, "-c", "import generator; print(generator.TEMPLATES_DIR)"],
        capture_output=True,
        text=True,
        cwd=work,
        env=env,
    )
    assert where.stdout.strip() == str((site / "generator" / "templates").resolve())
    validated = run("validate")
    assert validated.returncode == 1
    # unpinned weights, 150 s web cap, /metrics without proxy auth, trtllm prefill with BF16 KV,
    # 48 running requests of which 3 fit at full context
    assert validated.stdout == "ok: base (5 warnings)\n"
    assert "profiles/typo.yaml:3:3: autoscaling.max_container: unknown field" in validated.stderr
    rendered = run("render", "base")
    assert rendered.returncode == 0, rendered.stderr
    app = work / "build" / "base" / "modal_app.py"
    assert app.is_file() and (work / "build" / "base" / "preflight.py").is_file()
    assert "import modal" in app.read_text()
