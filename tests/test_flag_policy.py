"""The flag policy (generator/sglang/manifests/sglang-<version>-policy.yaml) against the real
SGLang of each version: the flags it refuses exist and each cited source line says what makes it
dangerous. That the real parser accepts them is in test_ground_truth.py's verdict table."""

from __future__ import annotations

import sys

import pytest

from generator import REPO_ROOT
from generator.sglang.versions import flag_policy, manifest, refused_flag, supported_versions

sys.path.insert(0, str(REPO_ROOT / "scripts"))
from sglang_manifest import ensure_env  # noqa: E402

VERSIONS = supported_versions()


@pytest.mark.parametrize("version", VERSIONS)
def test_every_refused_flag_is_a_flag_of_that_version(version):
    dests = {a.dest for a in manifest(version).arguments}
    policy = flag_policy(version)
    assert {"trust_remote_code", "enable_custom_logit_processor", "custom_weight_loader"} <= set(
        policy
    )
    assert set(policy) <= dests, sorted(set(policy) - dests)
    for dest in policy:
        (option,) = [
            o for a in manifest(version).arguments if a.dest == dest for o in a.option_strings
        ][:1]
        assert refused_flag(option, version).dest == dest


@pytest.mark.slow
@pytest.mark.parametrize("version", VERSIONS)
def test_each_cited_line_is_in_the_real_source(version):
    site = next((ensure_env(version).parent.parent / "lib").glob("python3*/site-packages"))
    for dest, entry in flag_policy(version).items():
        source = entry["source"]
        lines = (site / "sglang" / source["file"]).read_text(encoding="utf-8").splitlines()
        assert source["text"] in lines[source["line"] - 1], f"{version} {dest}: {source}"
