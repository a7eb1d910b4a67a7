"""pin-revision: a branch in the profile becomes the commit it points at, in the file that set it,
and the commit's checkpoint size goes into checkpoints.lock.json beside the profile for `plan`.

The Hugging Face Hub is not reachable here: `huggingface_hub.HfApi.model_info` and
`HfApi.hf_hub_download`, the two calls that would reach it, are replaced: the first returns a real
`huggingface_hub.hf_api.ModelInfo` with the fields the Hub sends for `files_metadata=True` (sha,
siblings with sizes), the second writes the commit's config.json where the Hub client would.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from conftest import BASE_PROFILE
from huggingface_hub import HfApi
from huggingface_hub.hf_api import ModelInfo

from generator import catalog

COMMIT = "89abcdef0123456789abcdef0123456789abcdef"
# 3 weight files; the index and the config are not weights.
SIBLINGS = [
    {"rfilename": "config.json", "size": 2_000},
    {"rfilename": "model.safetensors.index.json", "size": 900_000},
    {"rfilename": "model-00001-of-00003.safetensors", "size": 300_000_000_000},
    {"rfilename": "model-00002-of-00003.safetensors", "size": 300_000_000_000},
    {"rfilename": "model-00003-of-00003.safetensors", "size": 156_889_000_000},
]
WEIGHTS = 756_889_000_000


# The commit's config.json as the Hub would serve it: GLM-5.1's recorded config (a test may change it).
HUB_CONFIG = copy.deepcopy(catalog.entry("zai-org/GLM-5.1-FP8").config)


@pytest.fixture
def hub_config():
    return copy.deepcopy(HUB_CONFIG)


@pytest.fixture
def hub(monkeypatch, hub_config):
    asked = []

    def model_info(self, repo_id, *, revision=None, files_metadata=False, **kwargs):
        asked.append((repo_id, revision, files_metadata))
        return ModelInfo(id=repo_id, sha=COMMIT, siblings=SIBLINGS)

    def hf_hub_download(self, repo_id, filename, *, revision=None, local_dir=None, **kwargs):
        assert (filename, revision) == ("config.json", COMMIT)  # the resolved commit's own
        path = Path(local_dir) / filename
        path.write_text(json.dumps(hub_config))
        return str(path)

    monkeypatch.setattr(HfApi, "model_info", model_info)
    monkeypatch.setattr(HfApi, "hf_hub_download", hf_hub_download)
    return asked


def test_pin_rewrites_the_value_where_it_was_set(profile_tree, cli, hub):
    base_text = BASE_PROFILE.read_text()
    root = profile_tree({"base.yaml": base_text, "child.yaml": "extends: base\n"})
    code, out, _ = cli("pin-revision", str(root / "child.yaml"))
    assert code == 0
    assert hub == [("zai-org/GLM-5.1-FP8", "main", True)]
    assert f"pinned zai-org/GLM-5.1-FP8 main -> {COMMIT}" in out
    pinned = (root / "base.yaml").read_text()
    assert pinned == base_text.replace("revision: main", f"revision: {COMMIT}")  # comments kept
    code, out, _ = cli("pin-revision", str(root / "child.yaml"))
    assert code == 0 and "already pinned" in out
    assert len(hub) == 1  # the size is recorded: no second Hub call


def test_pin_records_the_checkpoint_size_and_plan_uses_it(profile_tree, cli, hub):
    root = profile_tree({"p.yaml": BASE_PROFILE.read_text()})
    code, out, _ = cli("pin-revision", str(root / "p.yaml"))
    assert code == 0 and f"{WEIGHTS:,} B" in out
    lock = json.loads((root / "checkpoints.lock.json").read_text())
    entry = lock[f"zai-org/GLM-5.1-FP8@{COMMIT}"]
    assert entry["bytes"] == WEIGHTS == 300e9 + 300e9 + 156.889e9
    code, out, _ = cli("plan", str(root / "p.yaml"), "--json")
    plan = json.loads(out)
    assert plan["checkpoint_bytes"] == WEIGHTS
    assert plan["checkpoint_source"].startswith("checkpoints.lock.json: Hub, 3 *.safetensors")
    # checkpoint / TP 8, but the 2,422,423,008 B every GPU holds whole (test_plan.py) counted 8 times
    assert plan["weights_gib_per_gpu"] == round((WEIGHTS / 8 + 2_422_423_008 * 7 / 8) / 2**30, 2)
    # Another commit in the profile: the entry is keyed by commit, so plan uses the catalog.
    other = (root / "p.yaml").read_text().replace(COMMIT, "f" * 40)
    (root / "p.yaml").write_text(other)
    plan = json.loads(cli("plan", str(root / "p.yaml"), "--json")[1])
    assert plan["checkpoint_source"].startswith("catalog: ")


def test_pinned_profile_without_a_size_gets_one(profile_tree, cli, hub):
    text = BASE_PROFILE.read_text().replace("revision: main", f"revision: {COMMIT}")
    root = profile_tree({"p.yaml": text})
    code, out, _ = cli("pin-revision", str(root / "p.yaml"))
    assert code == 0 and "already pinned; recorded" in out
    assert hub == [("zai-org/GLM-5.1-FP8", COMMIT, True)]
    assert (root / "p.yaml").read_text() == text


def test_pin_keeps_quotes_out(profile_tree, cli, hub):
    root = profile_tree({"p.yaml": f"extends: {BASE_PROFILE}\nmodel:\n  revision: 'v1.0'  # tag\n"})
    assert cli("pin-revision", str(root / "p.yaml"))[0] == 0
    assert f"  revision: {COMMIT}  # tag\n" in (root / "p.yaml").read_text()


def test_pin_reports_hub_errors_cleanly(profile_tree, cli, monkeypatch):
    def unreachable(self, repo_id, **kwargs):
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(HfApi, "model_info", unreachable)
    root = profile_tree({"p.yaml": BASE_PROFILE.read_text()})
    code, _, err = cli("pin-revision", str(root / "p.yaml"))
    assert code == 1 and "cannot reach the Hugging Face Hub" in err
    assert "Traceback" not in err
    assert (root / "p.yaml").read_text() == BASE_PROFILE.read_text()
    assert not (root / "checkpoints.lock.json").exists()


def test_a_repo_without_weight_files_is_a_located_error(profile_tree, cli, monkeypatch):
    def no_weights(self, repo_id, **kwargs):
        return ModelInfo(id=repo_id, sha=COMMIT, siblings=SIBLINGS[:2])

    monkeypatch.setattr(HfApi, "model_info", no_weights)
    root = profile_tree({"p.yaml": BASE_PROFILE.read_text()})
    code, _, err = cli("pin-revision", str(root / "p.yaml"))
    assert code == 1 and "no sized *.safetensors files" in err
    assert (root / "p.yaml").read_text() == BASE_PROFILE.read_text()


def test_pin_records_the_config_and_plan_reads_the_architecture_from_it(
    profile_tree, cli, hub, hub_config
):
    # The pinned commit's config says 80 layers: the plan must size 80, not the catalog's 78.
    hub_config["num_hidden_layers"] = 80
    root = profile_tree({"p.yaml": BASE_PROFILE.read_text()})
    code, out, _ = cli("pin-revision", str(root / "p.yaml"))
    assert code == 0 and "and its config.json" in out
    entry = json.loads((root / "checkpoints.lock.json").read_text())[
        f"zai-org/GLM-5.1-FP8@{COMMIT}"
    ]
    assert entry["config"] == hub_config
    assert entry["config_source"] == f"Hub, config.json at {COMMIT}"
    plan = json.loads(cli("plan", str(root / "p.yaml"), "--json")[1])
    assert plan["architecture_source"].startswith("checkpoints.lock.json: config.json of ")
    assert plan["kv_layers"]["target"] == 80
    assert plan["kv_bytes_per_token"] == 81 * 1284  # 80 layers + the MTP draft, BF16 MLA + indexer
    text = cli("plan", str(root / "p.yaml"))[1]
    assert "architecture: mla_dsa, from checkpoints.lock.json: config.json of" in text
    # Unpinned (another commit): the catalog's recorded config, and plan says so.
    (root / "p.yaml").write_text((root / "p.yaml").read_text().replace(COMMIT, "f" * 40))
    plan = json.loads(cli("plan", str(root / "p.yaml"), "--json")[1])
    assert plan["architecture_source"].startswith("catalog: the recorded config.json")
    assert plan["kv_layers"]["target"] == 78


def test_an_entry_without_a_config_gets_one_on_the_next_pin(profile_tree, cli, hub):
    text = BASE_PROFILE.read_text().replace("revision: main", f"revision: {COMMIT}")
    root = profile_tree({"p.yaml": text})
    lock = {f"zai-org/GLM-5.1-FP8@{COMMIT}": {"bytes": WEIGHTS, "source": "Hub, old"}}
    (root / "checkpoints.lock.json").write_text(json.dumps(lock))
    code, out, _ = cli("pin-revision", str(root / "p.yaml"))
    assert code == 0 and "already pinned; recorded" in out and "config.json" in out
    assert len(hub) == 1
    entry = json.loads((root / "checkpoints.lock.json").read_text())[
        f"zai-org/GLM-5.1-FP8@{COMMIT}"
    ]
    assert entry["config"]["num_hidden_layers"] == 78
    assert cli("pin-revision", str(root / "p.yaml"))[1].endswith(f"already pinned to {COMMIT}\n")
    assert len(hub) == 1  # recorded now: no further Hub call


def test_a_pinned_config_with_an_unmodelled_design_is_refused(profile_tree, cli, hub, hub_config):
    hub_config["architectures"] = ["DeepseekV4ForCausalLM"]
    hub_config["compress_ratios"] = [0, 4, 128]
    root = profile_tree({"p.yaml": BASE_PROFILE.read_text()})
    assert cli("pin-revision", str(root / "p.yaml"))[0] == 0
    code, out, err = cli("plan", str(root / "p.yaml"), "--json")
    assert code == 1 and "Traceback" not in err
    assert "DeepSeek-V4's compressed sliding-window attention" in err
    assert "DSV4PoolConfigurator" in err and "checkpoints.lock.json" in err
    code, out, err = cli("validate", str(root / "p.yaml"))
    assert code == 1 and "architecture-unmodelled" in out + err


def test_a_huge_or_broken_config_is_a_located_error(profile_tree, cli, monkeypatch, hub):
    def broken(self, repo_id, filename, *, local_dir=None, **kwargs):
        path = Path(local_dir) / filename
        path.write_text("{not json")
        return str(path)

    monkeypatch.setattr(HfApi, "hf_hub_download", broken)
    root = profile_tree({"p.yaml": BASE_PROFILE.read_text()})
    code, _, err = cli("pin-revision", str(root / "p.yaml"))
    assert code == 1 and "config.json is not JSON" in err
    assert (root / "p.yaml").read_text() == BASE_PROFILE.read_text()
