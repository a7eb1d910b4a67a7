"""`validate --format github|json`: PR annotations and the JSON document, exactly."""

from __future__ import annotations

import json
import re

import pytest
from conftest import BASE_PROFILE, SHIPPED_PROFILES

from generator import REPO_ROOT
from generator.operate.report import escape_data, escape_property

PINNED = "model:\n  revision: 0123456789abcdef0123456789abcdef01234567\n"

# A base that extends the shipped one (outside the repository) with nothing to report, a profile
# with schema errors in a folder whose name needs escaping, and one with a rule error and a warning.
FILES = {
    "profiles/base.yaml": f"extends: {BASE_PROFILE}\n{PINNED}"
    "silence:\n  web-server-request-cap: clients stream\n"
    "  metrics-public: scraped from inside only\n"
    "  dsa-prefill-trtllm-bf16: the guide's recipe\n"
    "  running-requests-beyond-kv-pool: short turns\n",
    "profiles/v2,x:y/typo.yaml": 'extends: ../base.yaml\nautoscaling:\n  max_container: 3\napp:\n  name: "100%"\n',
    "profiles/split.yaml": "extends: base\ngpu:\n  count: 4\nauth:\n  require_api_key: false\n",
}


@pytest.fixture
def repo(profile_tree, monkeypatch):
    """The tree as a repository checked out by a workflow, validated from a subfolder."""
    root = profile_tree(FILES)
    (root / "sub").mkdir()
    monkeypatch.chdir(root / "sub")
    monkeypatch.setenv("GITHUB_WORKSPACE", str(root))
    return root


def test_github_annotations(repo, cli):
    code, out, err = cli(
        "validate", "--format", "github", "../profiles/v2,x:y/typo.yaml", "../profiles/split.yaml"
    )
    assert code == 1 and err == ""
    assert out.splitlines() == [
        "invalid: typo",
        "::error file=profiles/v2%2Cx%3Ay/typo.yaml,line=5,col=9,title=app.name::"
        'string "100%25" does not match ^[a-z0-9][a-z0-9-]{0,62}$ '
        "(Modal app name; also the deployment name.)",
        "::error file=profiles/v2%2Cx%3Ay/typo.yaml,line=3,col=3,title=autoscaling.max_container::"
        "unknown field 'max_container' (did you mean max_containers?)",
        "invalid: split",
        "::error file=profiles/split.yaml,line=3,col=10,title=gpu-count-parallelism::"
        "gpu.count: SGLang uses tensor_parallel_size x data_parallel_size = 8 GPUs per replica; "
        "set gpu.count to that, or change the parallel sizes. "
        "Found: gpu.count=4, tensor_parallel_size=8, data_parallel_size=1",
        "::warning file=profiles/split.yaml,line=5,col=20,title=public-endpoint::"
        "auth.require_api_key: anyone with the URL can run 8x B200 replicas on your bill; keep "
        "auth.require_api_key: true unless a gateway in front authenticates, or turn on "
        "serving.proxy_auth. Found: auth.require_api_key=false, serving.proxy_auth=false "
        "(silence with `silence: {public-endpoint: reason}`)",
    ]


def test_github_unlocated_and_yaml_errors(repo, cli):
    (repo / "profiles" / "broken.yaml").write_text("extends: base\napp: {name: x\n")
    code, out, _ = cli("validate", "--format", "github", "../profiles/broken.yaml", "nowhere")
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == "invalid: broken"
    assert lines[1].startswith(
        "::error file=profiles/broken.yaml,line=3,col=1::invalid YAML: while parsing a flow mapping"
    )
    assert lines[2] == "invalid: nowhere"
    assert lines[3].startswith("::error::profile not found: nowhere")
    assert len(lines) == 4


def test_github_prints_an_inherited_warning_once(repo, cli):
    (repo / "profiles" / "open.yaml").write_text("extends: base\nauth:\n  require_api_key: false\n")
    (repo / "profiles" / "child.yaml").write_text("extends: open\n")
    code, out, _ = cli(
        "validate", "--format", "github", "../profiles/open.yaml", "../profiles/child.yaml"
    )
    assert code == 0
    assert [line.split("::")[1] for line in out.splitlines() if line.startswith("::")] == [
        "warning file=profiles/open.yaml,line=3,col=20,title=public-endpoint"
    ]
    assert "ok: open" in out and "ok: child" in out


def test_paths_outside_the_repository_are_absolute(repo, cli, monkeypatch):
    monkeypatch.setenv("GITHUB_WORKSPACE", str(repo / "sub"))
    _, out, _ = cli("validate", "--format", "github", "../profiles/split.yaml")
    assert f"file={escape_property(str(repo / 'profiles' / 'split.yaml'))}," in out


def test_repository_root_is_the_git_work_tree(profile_tree, cli, monkeypatch):
    root = profile_tree(FILES)
    (root / ".git").mkdir()
    (root / "sub").mkdir()
    monkeypatch.chdir(root / "sub")
    monkeypatch.delenv("GITHUB_WORKSPACE", raising=False)
    _, out, _ = cli("validate", "--format", "github", "../profiles/split.yaml")
    assert "::error file=profiles/split.yaml,line=3,col=10," in out


def test_workflow_command_escaping():
    """actions/toolkit packages/core/src/command.ts: escapeData and escapeProperty."""
    assert escape_data("50% a:b,c\r\nd") == "50%25 a:b,c%0D%0Ad"
    assert escape_property("50% a:b,c\r\nd") == "50%25 a%3Ab%2Cc%0D%0Ad"
    assert escape_property("%3A") == "%253A"  # % first, so an escape is not unescaped later


def test_json_document(repo, cli):
    code, out, err = cli(
        "validate",
        "--format",
        "json",
        "../profiles/v2,x:y/typo.yaml",
        "../profiles/split.yaml",
        "base",
    )
    assert code == 1 and err == ""
    assert json.loads(out) == {
        "status": "invalid",
        "profiles": [
            {
                "profile": "typo",
                "file": "profiles/v2,x:y/typo.yaml",
                "status": "invalid",
                "errors": 2,
                "warnings": 0,
                "problems": [
                    {
                        "file": "profiles/v2,x:y/typo.yaml",
                        "line": 5,
                        "column": 9,
                        "path": "app.name",
                        "rule": None,
                        "severity": "error",
                        "message": 'string "100%" does not match ^[a-z0-9][a-z0-9-]{0,62}$',
                        "hint": "Modal app name; also the deployment name.",
                    },
                    {
                        "file": "profiles/v2,x:y/typo.yaml",
                        "line": 3,
                        "column": 3,
                        "path": "autoscaling.max_container",
                        "rule": None,
                        "severity": "error",
                        "message": "unknown field 'max_container'",
                        "hint": "did you mean max_containers?",
                    },
                ],
            },
            {
                "profile": "split",
                "file": "profiles/split.yaml",
                "status": "invalid",
                "errors": 1,
                "warnings": 1,
                "problems": [
                    {
                        "file": "profiles/split.yaml",
                        "line": 3,
                        "column": 10,
                        "path": "gpu.count",
                        "rule": "gpu-count-parallelism",
                        "severity": "error",
                        "message": "SGLang uses tensor_parallel_size x data_parallel_size = 8 GPUs "
                        "per replica; set gpu.count to that, or change the parallel sizes. "
                        "Found: gpu.count=4, tensor_parallel_size=8, data_parallel_size=1",
                        "hint": None,
                    },
                    {
                        "file": "profiles/split.yaml",
                        "line": 5,
                        "column": 20,
                        "path": "auth.require_api_key",
                        "rule": "public-endpoint",
                        "severity": "warning",
                        "message": "anyone with the URL can run 8x B200 replicas on your bill; keep "
                        "auth.require_api_key: true unless a gateway in front authenticates, or "
                        "turn on serving.proxy_auth. "
                        "Found: auth.require_api_key=false, serving.proxy_auth=false",
                        "hint": "silence with `silence: {public-endpoint: reason}`",
                    },
                ],
            },
            {
                "profile": "base",
                "file": None,
                "status": "invalid",
                "errors": 1,
                "warnings": 0,
                "problems": [
                    {
                        "file": None,
                        "line": None,
                        "column": None,
                        "path": None,
                        "rule": None,
                        "severity": "error",
                        "message": "profile not found: base "
                        f"(known profiles: {', '.join(SHIPPED_PROFILES)})",
                        "hint": None,
                    }
                ],
            },
        ],
    }


def test_json_valid_profiles(repo, cli):
    code, out, _ = cli("validate", "--format", "json", "../profiles/base.yaml")
    assert code == 0
    assert json.loads(out) == {
        "status": "ok",
        "profiles": [
            {
                "profile": "base",
                "file": "profiles/base.yaml",
                "status": "ok",
                "errors": 0,
                "warnings": 0,
                "problems": [],
            }
        ],
    }


def test_plan_findings_share_the_problem_shape(repo, cli):
    _, out, _ = cli("validate", "--format", "json", "../profiles/split.yaml")
    problems = json.loads(out)["profiles"][0]["problems"]
    code, out, _ = cli("plan", "--json", "../profiles/split.yaml")
    assert code == 1
    assert sorted(json.loads(out)["findings"], key=json.dumps) == sorted(problems, key=json.dumps)


def test_text_format_is_the_default(repo, cli):
    assert cli("validate", "../profiles/split.yaml") == cli(
        "validate", "--format", "text", "../profiles/split.yaml"
    )
    code, out, err = cli("validate", "../profiles/split.yaml")
    assert code == 1 and out == ""
    assert "profiles/split.yaml:3:10: [gpu-count-parallelism] gpu.count:" in err


def test_unknown_format_is_a_usage_error(cli):
    code, _, err = cli("validate", "--format", "xml", "prod")
    assert code == 2 and "invalid choice: 'xml'" in err


def test_dependents(repo, cli):
    """--dependents adds the profiles in the same folder that extend a given one."""
    (repo / "profiles" / "child.yaml").write_text("extends: split.yaml\n")
    (repo / "profiles" / "unrelated.yaml").write_text("extends: nowhere\n")
    code, out, _ = cli("validate", "--format", "json", "--dependents", "../profiles/base.yaml")
    assert code == 1
    statuses = {p["profile"]: p["status"] for p in json.loads(out)["profiles"]}
    assert statuses == {
        "base": "ok",
        "child": "invalid",
        "split": "invalid",
    }  # typo extends base from a subfolder: --dependents looks in base's own folder
    _, out, _ = cli("validate", "--format", "json", "--dependents", "../profiles/split.yaml")
    assert [p["profile"] for p in json.loads(out)["profiles"]] == ["split", "child"]


def test_json_keys_are_documented(repo, cli):
    """Every key of the document is in the table of them (docs/pull-requests.md)."""
    readme = (REPO_ROOT / "docs" / "pull-requests.md").read_text()
    section = readme.split("## Pull requests and pre-commit")[1].split("\n## ")[0]
    table = section.split("| key | value |")[1].split("\n\n")[0]
    documented = set(re.findall(r"`([a-z_]+)(?:\[\])?`", table))
    _, out, _ = cli("validate", "--format", "json", "../profiles/split.yaml")
    document = json.loads(out)
    (profile,) = document["profiles"]
    keys = set(document) | set(profile) | {k for p in profile["problems"] for k in p}
    assert keys <= documented, keys - documented
