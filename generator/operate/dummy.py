"""A dry run with dummy weights: `deploy PROFILE --dummy-weights` (`make deploy DUMMY=1`).

The profile is deployed along the same serving path (same image, GPUs, flags, parsers, Volumes
and Secrets) with SGLang's `--load-format dummy` added: SGLang's DummyModelLoader gives every
tensor random values of the real shapes and downloads nothing (sglang 0.5.23
srt/model_loader/loader.py `DummyModelLoader.download_model` is a no-op), so no 757 GB read. It
still reads the model's config, tokenizer and remote code from --model-path: for the dummy
variant that is CONFIG_DIR on the weights Volume (Deployment.config_dir), which setup fills
first with those files alone (a few MB). `make setup DUMMY=1` fetches only them, so
`make deploy DUMMY=1` works before the weights are downloaded.

It never serves as the live app: the variant is a profile of its own, `<profile>-dummy`, built
from the real one in memory, so its app is `<app>-dummy`, its records go to
deploys/<profile>-dummy/ (action `dummy-run`) and no canary promote applies. The gates then run
against it; the correctness probe is expected to fail on random weights and says why.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

from generator import PROFILES_DIR
from generator.errors import Location, UserError
from generator.operate import deploy as deploy_module
from generator.pipeline import Loaded, complete, load
from generator.profile.load import Profile, load_profile

DUMMY_FLAGS = ["--load-format", "dummy"]  # sglang 0.5.23 srt/configs/load_config.py LoadFormat
SUFFIX = "-dummy"


def dummy_profile(ref: str) -> Profile:
    """The dummy-weights variant of a profile: `<profile>-dummy`, app `<app>-dummy`, SGLang's
    dummy loader added, no canary. Built in memory from the merged profile, so every value
    keeps its place in the real files for errors."""
    load(ref)  # the real profile must be valid on its own
    real = load_profile(ref)
    _check_no_collision(real)
    data = copy.deepcopy(real.data)
    data["description"] = f"Dummy-weights dry run of {real.name}: never the live app."
    data["app"]["name"] += SUFFIX
    sglang = data["sglang"]
    sglang["extra_args"] = [*sglang.get("extra_args", []), *DUMMY_FLAGS]
    data["release"] = {**(data.get("release") or {}), "canary": False}
    return dataclasses.replace(real, name=real.name + SUFFIX, data=data, dummy_of=real.name)


def _check_no_collision(real: Profile) -> None:
    """The variant's name, app and records folder must not be a real profile's: its records
    would mix with that profile's history, and its `modal app stop` would stop that app."""
    name, app = real.name + SUFFIX, real.data["app"]["name"] + SUFFIX
    folders = dict.fromkeys([real.path.parent, PROFILES_DIR])
    for folder in folders:
        for path in sorted(folder.glob("*.yaml")):
            if path.stem == name:
                raise UserError(
                    f"{Location(path)}: a real profile is named {name}, the dummy-weights "
                    f"variant of {real.name}; rename one of them"
                )
            try:
                other = load_profile(path)
            except UserError:
                continue  # an invalid profile deploys nothing
            if path != real.path and (other.data.get("app") or {}).get("name") == app:
                raise UserError(
                    f"{Location(path)}: its app is {app}, the dummy-weights variant's app of "
                    f"{real.name}; a dry run would replace and stop it. Rename one of them"
                )
    records = deploy_module.read_history(name)
    if any(record.get("action") != "dummy-run" for record in records):
        raise UserError(
            f"{deploy_module.history_path(name)}: holds records of a real profile named {name}; "
            "the dummy-weights variant writes its records there. Rename one of them"
        )


def prepare(ref: str) -> tuple[Loaded, Path, str]:
    return deploy_module.prepare_loaded(complete(dummy_profile(ref)))


def setup(ref: str, *, dry_run: bool = False) -> int:
    """`make setup DUMMY=1`: the dummy app's entrypoint fetches the config and tokenizer files
    alone (download_config); no weights, no compile caches."""
    loaded = complete(dummy_profile(ref))
    return deploy_module.modal_run_loaded(loaded, "modal_app.py", "setup", dry_run)
