"""A dry run with dummy weights: `deploy PROFILE --dummy-weights` (`make deploy DUMMY=1`).

The profile is deployed along the same serving path (same image, GPUs, flags, parsers, Volumes
and Secrets) with SGLang's `--load-format dummy` added: SGLang's DummyModelLoader gives every
tensor random values of the real shapes and downloads nothing (sglang 0.5.23
srt/model_loader/loader.py `DummyModelLoader.download_model` is a no-op), so no 757 GB read. It
still reads the model's config and tokenizer from --model-path, the weights Volume: `make setup`
must have downloaded the revision once.

It never serves as the live app: the variant is a profile of its own, `<profile>-dummy`, written
under build/dummy/ and extending the real one, so its app is `<app>-dummy`, its records go to
deploys/<profile>-dummy/ (action `dummy-run`) and no canary promote applies. The gates then run
against it; the correctness probe is expected to fail on random weights and says why.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from generator import BUILD_DIR
from generator.operate import deploy as deploy_module
from generator.pipeline import Loaded, load

DUMMY_FLAGS = ["--load-format", "dummy"]  # sglang 0.5.23 srt/configs/load_config.py LoadFormat
SUFFIX = "-dummy"
DUMMY_DIR = BUILD_DIR / "dummy"


def dummy_profile(ref: str, folder: Path | None = None) -> Path:
    """Write the dummy-weights variant of a profile and return its path."""
    real = load(ref)  # the real profile must be valid on its own
    data = real.profile.data
    overlay = {
        "extends": str(real.profile.path.resolve()),
        "description": f"Dummy-weights dry run of {real.profile.name}: never the live app.",
        "app": {"name": data["app"]["name"] + SUFFIX},
        "sglang": {"extra_args": [*data["sglang"].get("extra_args", []), *DUMMY_FLAGS]},
        "release": {"canary": False},
    }
    folder = folder or DUMMY_DIR
    path = folder / f"{real.profile.name}{SUFFIX}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    header = "# Written by `deploy --dummy-weights` (generator/operate/dummy.py); not a profile to edit.\n"
    path.write_text(header + yaml.safe_dump(overlay, sort_keys=False), encoding="utf-8")
    return path


def prepare(ref: str) -> tuple[Loaded, Path, str]:
    return deploy_module.prepare(str(dummy_profile(ref)))
