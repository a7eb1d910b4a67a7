"""`migrate`: a profile moved to another SGLang version, with every consequence reported, and
`--write` rewriting the file in place (comments kept), validated and rendered first.

The expected releases are read from the wheels' source, independently of the history they check:
facts.md (`--nsa-*` renamed `--dsa-*` in 0.5.13 and rejected from 0.5.20; SGLANG_ENABLE_SPEC_V2
in 0.5.10, gone in 0.5.23); sglang==0.5.14 `srt/server_args.py:6362` (`--cuda-graph-max-bs` a
deprecated alias, new_flag `--cuda-graph-max-bs-decode`, same dest); sglang==0.5.10
`srt/server_args.py:5259` defines `--enable-double-sparsity`, no file of the 0.5.11 wheel does.
"""

from __future__ import annotations

import json
import os

import pytest
from conftest import SHIPPED_PROFILES

from generator import PROFILES_DIR
from generator.operate.migrate import migrate, retag
from generator.operate.plan import build
from generator.pipeline import load
from generator.profile.deployment import build_deployment
from generator.profile.load import load_profile
from generator.profile.validate import validate_profile
from generator.rules import run_rules
from generator.sglang import history
from generator.sglang.versions import supported_versions

OLD, NEW = "0.5.10", "0.5.23"

# A copy of prod pinned to 0.5.10 with the v0.5.10 image, as a 0.5.10 user wrote it: the
# cookbook's SGLANG_ENABLE_SPEC_V2, the `nsa` spelling, and two flags in extra_args that 0.5.23
# no longer has under that name.
PROD_0510 = f"""\
# Production, still on the 0.5.10 image.
extends: {PROFILES_DIR / "prod.yaml"}

images:
  serve:
    repository: lmsysorg/sglang
    tag: v0.5.10   # the image the flags were checked against

sglang:
  version: "0.5.10"
  attention:
    backend: nsa  # DeepSeek sparse attention, as 0.5.10 spells it
  extra_args:
    # Fewer CUDA graphs: faster start.
    - --cuda-graph-max-bs
    - "64"
    - --stream-output   # one chunk per token
  env:
    # The cookbook's overlap scheduler for EAGLE.
    SGLANG_ENABLE_SPEC_V2: "1"
    SGLANG_ENABLE_JIT_DEEPGEMM: "1"

# Kept as it is.
timeouts:
  startup: 3600
"""


@pytest.fixture
def prod_0510(profile_tree):
    return profile_tree({"prod-0510.yaml": PROD_0510}) / "prod-0510.yaml"


def _messages(m, section):
    return [p.message for p in m.items if p.rule == f"migrate-{section}"]


def test_report_names_every_renamed_flag_variable_and_choice(prod_0510):
    m = migrate(str(prod_0510), NEW)
    flags = "\n".join(_messages(m, "flag"))
    # facts.md: --nsa-* renamed --dsa-* in 0.5.13, the old names gone from 0.5.20.
    assert "--nsa-prefill-backend was renamed --dsa-prefill-backend in 0.5.13" in flags
    assert "--nsa-decode-backend was renamed --dsa-decode-backend in 0.5.13" in flags
    assert "the old name was removed in 0.5.20" in flags
    # 0.5.10 already deprecated --stream-output for --incremental-streaming-output.
    assert "--stream-output was renamed --incremental-streaming-output in 0.5.11" in flags
    assert (
        "--cuda-graph-max-bs was renamed --cuda-graph-max-bs-decode in 0.5.14; "
        "the old name was removed in 0.5.20; --write respells it"
    ) in flags
    assert "attention.backend nsa is spelt dsa" in flags
    assert "--enable-flashinfer-allreduce-fusion" in flags  # now a backend choice
    env = _messages(m, "env")
    assert len(env) == 1 and "no longer reads SGLANG_ENABLE_SPEC_V2" in env[0]
    gone = history.env_removed_in("SGLANG_ENABLE_SPEC_V2", OLD, NEW)
    assert f"removed in {gone}" in env[0]
    # SGLang's own all-reduce fusion choice changes; prod pins it, so nothing changes for it.
    fusion = [c for c in m.choices if c["setting"] == "sglang.enable_flashinfer_allreduce_fusion"]
    assert fusion and fusion[0]["from"] is False and fusion[0]["to"] == "auto"
    assert fusion[0]["changes_behaviour"] is False
    assert m.valid_after


def test_plan_difference_is_the_plan_of_each_version(prod_0510, tmp_path):
    """The before and after figures are `plan`'s own for the profile and the migrated one."""
    m = migrate(str(prod_0510), NEW)
    before = load(prod_0510)
    plan_before = build(before.profile, before.deployment, before.warnings, 0.3)
    for key, value in m.plan["from"].items():
        assert plan_before[key] == value, key
    m.profile.path.write_text(PROD_0510)  # --write, then plan the written file
    from generator.operate.migrate import write

    write(m)
    after = validate_profile(load_profile(prod_0510))
    d = build_deployment(after)
    plan_after = build(after, d, run_rules(d, after), 0.3)
    for key, value in m.plan["to"].items():
        assert plan_after[key] == value, key
    # SGLang 0.5.23 counts the DSA indexer differently: the KV cell size moves.
    assert m.plan["from"]["kv_bytes_per_token"] != m.plan["to"]["kv_bytes_per_token"]
    assert "KV bytes per token" in "\n".join(_messages(m, "plan"))


def test_write_keeps_comments_and_result_validates_and_renders(prod_0510, cli):
    code, out, err = cli("migrate", str(prod_0510), "--to", NEW, "--write")
    assert code == 0, err
    text = prod_0510.read_text()
    for line in PROD_0510.splitlines():  # every comment survives, in place or commented out
        if "#" in line and "SGLANG_ENABLE_SPEC_V2" not in line and "cuda-graph" not in line:
            assert line.split("#", 1)[1] in text, line
    assert 'version: "0.5.23"' in text and "tag: v0.5.23   # the image" in text
    assert "backend: dsa  # DeepSeek sparse attention" in text
    assert "- --incremental-streaming-output # one chunk per token" in text
    assert '    - --cuda-graph-max-bs-decode\n    - "64"\n' in text
    assert '# SGLANG_ENABLE_SPEC_V2: "1"' in text
    assert "# removed by `migrate --to 0.5.23`: SGLang 0.5.14 stopped reading it" in text
    assert 'SGLANG_ENABLE_JIT_DEEPGEMM: "1"' in text
    loaded = load(prod_0510)  # validates at 0.5.23
    assert loaded.deployment.sglang.version == NEW
    assert loaded.deployment.sglang.extra_args == (
        "--cuda-graph-max-bs-decode",
        "64",
        "--incremental-streaming-output",
    )
    assert dict(loaded.deployment.sglang.env) == {"SGLANG_ENABLE_JIT_DEEPGEMM": "1"}
    assert "rendered" in out


def test_write_refuses_an_invalid_result_and_writes_nothing(profile_tree, cli):
    """0.5.23 dropped cutlass_mla from --decode-attention-backend: no edit can fix it."""
    text = PROD_0510.replace(
        "    - --stream-output   # one chunk per token\n",
        "    - --decode-attention-backend\n    - cutlass_mla\n",
    )
    path = profile_tree({"prod-0510.yaml": text}) / "prod-0510.yaml"
    before = os.stat(path)
    code, out, err = cli("migrate", str(path), "--to", NEW, "--write")
    assert code == 1
    assert "nothing written" in err
    gone = history.choice_removed_in("--decode-attention-backend", "cutlass_mla", OLD, NEW)
    assert gone and f"'cutlass_mla' was dropped from --decode-attention-backend in {gone}" in out
    assert path.read_text() == text and os.stat(path).st_mtime_ns == before.st_mtime_ns
    assert sorted(p.name for p in path.parent.iterdir()) == ["prod-0510.yaml"]


def test_write_refuses_a_symlink(prod_0510, cli):
    link = prod_0510.with_name("linked.yaml")
    link.symlink_to(prod_0510)
    code, _, err = cli("migrate", str(link), "--to", NEW, "--write")
    assert code == 1 and "symbolic link" in err
    assert prod_0510.read_text() == PROD_0510 and link.is_symlink()


def test_removed_flag_names_the_release_it_went(profile_tree):
    """A flag dropped with nothing in its place (--enable-double-sparsity, gone in 0.5.11: see
    the module docstring): the report names it and the release, and --write comments it out."""
    text = PROD_0510.replace(
        "    - --stream-output   # one chunk per token\n", "    - --enable-double-sparsity\n"
    )
    path = profile_tree({"p.yaml": text}) / "p.yaml"
    m = migrate(str(path), NEW)
    said = [p for p in m.items if "--enable-double-sparsity" in p.message]
    assert said and "--enable-double-sparsity was removed in 0.5.11" in said[0].message
    assert said[0].path == ("sglang", "extra_args", 2) and said[0].location.line is not None
    assert said[0].severity == "error" and "--write comments it out" in said[0].message
    assert "--enable-double-sparsity" not in m.new.sglang.extra_args


def test_formats(prod_0510, cli):
    code, out, _ = cli("migrate", str(prod_0510), "--to", NEW, "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert (doc["from"], doc["to"], doc["valid_after_edits"]) == (OLD, NEW, True)
    assert {e["path"] for e in doc["edits"]} >= {"sglang.version", "images.serve.tag"}
    assert doc["image"]["setup_needed"] is True
    assert any(f["rule"] == "migrate-env" for f in doc["findings"])
    code, out, _ = cli("migrate", str(prod_0510), "--to", NEW, "--format", "github")
    lines = out.splitlines()
    assert lines[0].startswith("migrate prod-0510")
    assert all(line.startswith("::") for line in lines[1:])
    assert any("title=migrate-env" in line and "line=" in line for line in lines)
    code, out, _ = cli("migrate", str(prod_0510), "--to", NEW)
    assert "make setup PROFILE=prod-0510" in out and "KV bytes per token" in out


def test_bad_targets(prod_0510, cli):
    code, _, err = cli("migrate", str(prod_0510), "--to", "0.5.230")
    assert code == 2 and "did you mean 0.5.23" in err
    code, _, err = cli("migrate", str(prod_0510), "--to", OLD)
    assert code == 2 and "already pins" in err


def test_retag():
    assert retag("v0.5.10", NEW) == "v0.5.23"
    assert retag("v0.5.10-cu129-amd64", NEW) == "v0.5.23-cu129-amd64"
    assert retag("latest", NEW) == "latest"


def test_history_reproduces_every_supported_manifest():
    """Folding the history's deltas from its base gives each supported version's own flags and
    variables: the history and the shipped manifests cannot disagree."""
    doc = history._document()
    assert doc["releases"][0] == supported_versions()[0]
    assert doc["releases"][-1] == supported_versions()[-1]
    for version in supported_versions():
        folded = history._history_state(version)
        shipped = history.state(version)
        assert folded.env_vars == shipped.env_vars, version
        assert folded.flags == shipped.flags, version
    assert history.HISTORY_PATH.stat().st_size < 400_000


ADJACENT = list(zip(supported_versions(), supported_versions()[1:], strict=False))


@pytest.mark.parametrize("old,new", ADJACENT)
def test_adjacent_versions_never_crash(profile_tree, old, new):
    """Every shipped profile of the model the older versions are modelled for (GLM-5.1),
    pinned to one version, migrated to the next and back."""
    moved = 0
    for name in SHIPPED_PROFILES:
        own = load(PROFILES_DIR / f"{name}.yaml").deployment
        if own.model.id != "zai-org/GLM-5.1-FP8":
            continue
        for start, end in ((old, new), (new, old)):
            text = (
                f"extends: {PROFILES_DIR / name}.yaml\n"
                f"images:\n  serve:\n    tag: v{start}\n"
                f"sglang:\n  version: '{start}'\n  env: null\n"
            )
            path = profile_tree({f"{name}-{start}.yaml": text}) / f"{name}-{start}.yaml"
            m = migrate(str(path), end)
            assert m.new is not None and m.plan["headline"], (name, start, end)
            moved += 1
    assert moved >= 4


@pytest.mark.slow
def test_written_profile_argv_is_accepted_by_the_real_parser(prod_0510):
    """The real SGLang 0.5.23 parser (scripts/sglang_manifest.py's cached venv) accepts every
    flag set of the migrated profile, without a deprecation warning."""
    import sys

    from generator import REPO_ROOT
    from generator.operate.migrate import write
    from generator.sglang.fallback import variants
    from generator.sglang.flags import server_args

    sys.path.insert(0, str(REPO_ROOT / "scripts"))
    from sglang_manifest import real_parse

    write(migrate(str(prod_0510), NEW))
    deployment = load(prod_0510).deployment
    argvs = [[*server_args(v), "--api-key", "k"] for v in variants(deployment)]
    assert any("--incremental-streaming-output" in a for a in argvs)
    for verdict in real_parse(NEW, argvs):
        assert verdict["ok"], verdict["error"]
        assert verdict["warnings"] == []


def test_hostile_values_stay_on_their_line(profile_tree, cli):
    """A removed flag's value quoted in the report and in --write's comment cannot start a line
    (a workflow command in a CI log, or a YAML key in the rewritten profile). A value with a line
    break never gets that far: validation refuses control characters, and --write writes nothing."""
    broken = PROD_0510.replace(
        "    - --stream-output   # one chunk per token\n",
        '    - --ds-heavy-channel-type\n    - "q\\n::error::pwned\\u2028x: 1"\n',
    )
    path = profile_tree({"p.yaml": broken}) / "p.yaml"
    for fmt in ("text", "github"):
        code, out, err = cli("migrate", str(path), "--to", NEW, "--format", fmt)
        assert code != 0 and "control character" in out + err
        assert not any(line.startswith("::error::pwned") for line in (out + err).splitlines())
    code, _, _ = cli("migrate", str(path), "--to", NEW, "--write")
    assert code != 0 and path.read_text() == broken
    text = PROD_0510.replace(
        "    - --stream-output   # one chunk per token\n",
        '    - --ds-heavy-channel-type\n    - "::error::pwned x: 1"\n',
    )
    path.write_text(text)
    for fmt in ("text", "github"):
        code, out, _ = cli("migrate", str(path), "--to", NEW, "--format", fmt)
        assert not any(line.startswith("::error::pwned") for line in out.splitlines())
    code, out, err = cli("migrate", str(path), "--to", NEW, "--write")
    assert code == 0, err
    written = path.read_text()
    assert "pwned" in written and not any(
        line.lstrip().startswith(("::", "x:")) for line in written.splitlines()
    )
    assert load(path).deployment.sglang.extra_args == ("--cuda-graph-max-bs-decode", "64")


def test_write_a_profile_that_inherits_the_version(profile_tree, cli):
    """The version, tag and the rest come from the profile it extends: --write overrides them in
    this file (an inherited variable removed with a null) and leaves the parent alone."""
    root = profile_tree(
        {"base.yaml": PROD_0510, "child.yaml": "# mine\nextends: base\napp:\n  name: child-app\n"}
    )
    code, _, err = cli("migrate", str(root / "child.yaml"), "--to", NEW, "--write")
    assert code == 0, err
    assert (root / "base.yaml").read_text() == PROD_0510
    text = (root / "child.yaml").read_text()
    assert text.startswith("# mine\nextends: base\n") and 'version: "0.5.23"' in text
    d = load(root / "child.yaml").deployment
    assert (d.sglang.version, d.images.serve.tag) == (NEW, "v0.5.23")
    assert dict(d.sglang.env) == {"SGLANG_ENABLE_JIT_DEEPGEMM": "1"}


def test_rules_that_newly_fire_or_stop(profile_tree):
    """0.5.10 deprecates --stream-output (respelt, so that warning stops); 0.5.23 deprecates
    --disable-fast-image-processor (manifests: deprecated in 0.5.23, not in 0.5.10)."""
    text = PROD_0510.replace(
        "    - --stream-output   # one chunk per token\n",
        "    - --stream-output   # one chunk per token\n    - --disable-fast-image-processor\n",
    )
    path = profile_tree({"p.yaml": text}) / "p.yaml"
    m = migrate(str(path), NEW)
    fire = [(r["rule"], r["path"], r["message"]) for r in m.rules["newly_fire"]]
    stop = [(r["rule"], r["path"], r["message"]) for r in m.rules["stop_firing"]]
    assert fire == [
        (
            "sglang-flag-deprecated",
            "sglang.extra_args[3]",
            "--disable-fast-image-processor is deprecated in SGLang 0.5.23. "
            "Found: --disable-fast-image-processor",
        )
    ]
    assert [(r, p) for r, p, _ in stop] == [("sglang-flag-deprecated", "sglang.extra_args[2]")]
    assert "--stream-output" in stop[0][2]
