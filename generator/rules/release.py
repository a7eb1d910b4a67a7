"""What is released: who may call the endpoint, which weights and which serving image."""

from __future__ import annotations

import re

from generator.profile.deployment import Deployment
from generator.rules.engine import Finding, rule


@rule("public-endpoint", "warning", "The endpoint accepts requests without an API key.")
def _public_endpoint(d: Deployment):
    if not d.auth.require_api_key and not d.serving.proxy_auth:
        yield Finding(
            "anyone with the URL can run 8x B200 replicas on your bill; keep "
            "auth.require_api_key: true unless a gateway in front authenticates, or turn on "
            "serving.proxy_auth. Found: auth.require_api_key=false, serving.proxy_auth=false",
            ("auth", "require_api_key"),
        )


@rule("model-revision-unpinned", "warning", "model.revision is a branch or tag, not a commit.")
def _revision_unpinned(d: Deployment):
    if not d.model.pinned:
        yield Finding(
            f"revision {d.model.revision!r} can move: the weights you download today and the "
            "ones a replica loads next month may differ. Run `make pin-revision PROFILE=...` to "
            f"pin the current commit; deploy refuses until then. Found: revision={d.model.revision}",
            ("model", "revision"),
        )


@rule("latest-image-tag", "error", "The serve image uses a moving `latest` tag.")
def _latest_tag(d: Deployment):
    if d.images.serve.tag == "latest" and not d.images.serve.allow_latest:
        yield Finding(
            "a `latest` tag changes under you between deploys; pin a release tag such as "
            f"v{d.sglang.version}, or set images.serve.allow_latest: true. Found: tag=latest",
            ("images", "serve", "tag"),
        )


@rule("latest-image-allowed", "warning", "A `latest` image tag was explicitly allowed.")
def _latest_allowed(d: Deployment):
    if d.images.serve.tag == "latest" and d.images.serve.allow_latest:
        yield Finding(
            "deploying `latest`: SGLang can change under you and sglang.version may no longer "
            "describe the image. Found: tag=latest, allow_latest=true",
            ("images", "serve", "tag"),
        )


_TAG_VERSION = re.compile(r"v?(\d+\.\d+\.\d+(?:\.post\d+)?)(?:[-_].*)?")  # matched whole


@rule("image-version-mismatch", "error", "The serve image tag and sglang.version disagree.")
def _image_version(d: Deployment):
    tag = d.images.serve.tag
    if tag == "latest":
        return
    match = _TAG_VERSION.fullmatch(tag)
    tag_version = match.group(1).split(".post")[0] if match else None
    if tag_version != d.sglang.version:
        yield Finding(
            "the serve image's SGLang version must be the one the flags are checked against; "
            f"use a v{d.sglang.version} tag or change sglang.version. "
            f"Found: tag={tag}, sglang.version={d.sglang.version}",
            ("images", "serve", "tag"),
        )


@rule(
    "metrics-public",
    "warning",
    "SGLang's /metrics answers anyone with the URL: its API key does not cover it.",
    "SGLang 0.5.23 srt/utils/auth.py:104 (0.5.10: line 100) allows /health and /metrics "
    "without a key",
)
def _metrics_public(d: Deployment):
    if d.sglang.enable_metrics and not d.serving.proxy_auth:
        yield Finding(
            "SGLang exempts /metrics from --api-key (for Prometheus scrapers), so request rates, "
            "queue depth and the model name are public; turn on serving.proxy_auth (Modal "
            "checks every path) or set sglang.enable_metrics: false. "
            "Found: sglang.enable_metrics=true, serving.proxy_auth=false",
            ("sglang", "enable_metrics"),
        )
