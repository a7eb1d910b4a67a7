"""The rendered preflight: a CPU function in the serve image that checks what a deploy needs.

Its in-container checks run here on folders laid out like the Volumes; Modal and the image's
SGLang are not here, so the flag parse is covered by the ground-truth parser tests instead.
"""

from __future__ import annotations

import json

import pytest
from conftest import SHIPPED_PROFILES, function_settings, load_modal_app

from generator.pipeline import load, render_to_file


@pytest.fixture(scope="module", params=SHIPPED_PROFILES)
def preflight(request, tmp_path_factory):
    loaded = load(request.param)
    app_path = render_to_file(loaded, tmp_path_factory.mktemp(request.param) / "modal_app.py")
    return loaded, load_modal_app(app_path.with_name("preflight.py"))


def test_preflight_function_is_cpu_only_in_the_serve_image(preflight):
    loaded, module = preflight
    d = loaded.deployment
    settings = function_settings(module.inspect_deployment)
    assert settings["spec"].gpus is None
    assert {p: v.name for p, v in settings["spec"].volumes.items()} == {
        "/model-cache": d.volumes.weights.name,
        "/dg-cache": d.volumes.deepgemm_cache.name,
    }
    assert module.SERVE_IMAGE == d.images.serve.ref
    assert module.app.name == f"{d.app_name}-preflight"
    assert [name for name, _, _ in module.SECRETS] == [
        d.secrets.huggingface.name,
        d.secrets.api_key.name,
    ]


def _lay_out_weights(root, revision, shards=("a.safetensors", "b.safetensors")):
    root.mkdir(parents=True)
    index = {"weight_map": {f"w{i}": shard for i, shard in enumerate(shards)}}
    (root / "model.safetensors.index.json").write_text(json.dumps(index))
    for shard in shards:
        (root / shard).write_bytes(b"x")
    meta = root / ".cache" / "huggingface" / "download"
    meta.mkdir(parents=True)
    (meta / "config.json.metadata").write_text(f"{revision}\netag\n0\n")


def test_weights_check(preflight, tmp_path):
    _, module = preflight
    good = tmp_path / "good"
    _lay_out_weights(good, module.MODEL_REVISION)
    assert module._check_weights(str(good))[0]
    missing = tmp_path / "missing"
    _lay_out_weights(missing, module.MODEL_REVISION)
    (missing / "b.safetensors").unlink()
    ok, detail = module._check_weights(str(missing))
    assert not ok and "1 of 2 shards missing" in detail
    other = tmp_path / "other"
    _lay_out_weights(other, "f" * 40)
    ok, detail = module._check_weights(str(other))
    assert not ok and "the profile pins" in detail
    ok, detail = module._check_weights(str(tmp_path / "empty"))
    assert not ok and "to download" in detail


def test_compile_cache_check(preflight, tmp_path):
    _, module = preflight
    gpu = next(iter(module.SGLANG_FLAGS))
    info = {"gpu": gpu, "sglang_version": module.SGLANG_VERSION, "image": module.SERVE_IMAGE}
    (tmp_path / "build-info.json").write_text(json.dumps(info))
    assert module._check_compile_caches(gpu, str(tmp_path))[0]
    (tmp_path / "build-info.json").write_text(json.dumps({**info, "gpu": "H100:8"}))
    ok, detail = module._check_compile_caches(gpu, str(tmp_path))
    assert not ok and "H100:8" in detail


@pytest.mark.filterwarnings("ignore:The inspect_deployment function is executing locally")
def test_inspect_reports_instead_of_crashing(preflight, tmp_path):
    _, module = preflight
    cache_dirs = {gpu: str(tmp_path) for gpu in module.SGLANG_FLAGS}  # one per GPU type
    rows = module.inspect_deployment.local(model_dir=str(tmp_path), cache_dirs=cache_dirs)
    assert [name for name, _, _ in rows] == [
        "serve image: SGLang and CUDA",
        "SGLang accepts the flags",
        "weights Volume",
        *(f"compile caches {gpu}" for gpu in module.SGLANG_FLAGS),
    ]
    assert not any(ok for _, ok, _ in rows)  # no sglang here, nothing downloaded


def test_image_check_reads_the_images_own_sglang_and_cuda(preflight, monkeypatch):
    """The tag is only a name: the image's sglang.__version__ and torch.version.cuda decide."""
    _, module = preflight
    newest = max(module.CUDA_MIN.values(), key=lambda v: tuple(map(int, v.split("."))))
    monkeypatch.setattr(module, "_image_versions", lambda: (module.SGLANG_VERSION, "13.0"))
    assert module._check_image() == (True, f"SGLang {module.SGLANG_VERSION}, CUDA runtime 13.0")
    other = "0.5.10" if module.SGLANG_VERSION != "0.5.10" else "0.5.23"
    monkeypatch.setattr(module, "_image_versions", lambda: (other, "13.0"))
    ok, detail = module._check_image()
    assert (
        not ok and f"image has SGLang {other}, the profile says {module.SGLANG_VERSION}" in detail
    )
    monkeypatch.setattr(module, "_image_versions", lambda: (module.SGLANG_VERSION, "11.7"))
    ok, detail = module._check_image()
    assert not ok and f"needs {newest}" in detail and "CUDA runtime is 11.7" in detail


def test_a_blackwell_gpu_needs_cuda_12_8(preflight):
    _, module = preflight
    for gpu, need in module.CUDA_MIN.items():
        assert need == ("12.8" if gpu.startswith("B200") else "11.8"), gpu
