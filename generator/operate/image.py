"""`pin-image`: resolve the profile's serve image `repository:tag` to the digest the registry
holds for it and record it in the lock (LOCK_FILE beside the profile); the rendered app then
pulls `repository@sha256:...` (a tag can be moved, a digest cannot), with the tag in a comment.

The registry's HTTP API (the OCI distribution spec, "Pulling manifests"; Docker's token
authentication, distribution/distribution docs/spec/auth/token.md):
1. GET https://<registry>/v2/<name>/manifests/<tag>, accepting an OCI image index, a Docker
   manifest list, or a single-platform manifest;
2. a 401 names a token service in `WWW-Authenticate: Bearer realm=...,service=...,scope=...`:
   ask it for an anonymous pull token (no credentials of ours go there), retry with it;
3. the digest is the sha256 of the manifest's bytes; the registry's `Docker-Content-Digest`
   header, where sent, must agree. A list must hold a linux/amd64 image (what Modal runs).
Docker Hub names (`lmsysorg/sglang`) live on registry-1.docker.io; `library/` is added to a
one-part name. Every call goes through the endpoint wing's client (generator/endpoint/http.py):
the token never leaves the registry's origin, answers are bounded and time-limited.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import date

import httpx

from generator.endpoint.http import Deadline, Endpoint, printable
from generator.errors import UserError
from generator.operate.pin import write_lock
from generator.pipeline import load
from generator.profile.checkpoint import DIGEST, image_key, lock_path, read_lock

DOCKER_HUB = "registry-1.docker.io"
MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
LIST_TYPES = MANIFEST_TYPES[:2]
MANIFEST_MAX_BYTES = 4 << 20  # an index of a few dozen platforms is a few KB
COMMAND_S = 120.0
LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]")  # plain HTTP, as Docker allows for these only
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class Pinned:
    digest: str
    media_type: str
    platforms: tuple[str, ...]  # os/architecture of a list's images; () for a single manifest
    registry: str


def registry_of(repository: str) -> tuple[str, str]:
    """(registry host, repository name on it): Docker's rules for a reference's first part."""
    first, _, rest = repository.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first, rest
    return DOCKER_HUB, repository if rest else f"library/{repository}"


def registry_url(host: str) -> str:
    return f"{'http' if host in LOCAL_HOSTS else 'https'}://{host}"


def _token(challenge: str, deadline: Deadline) -> str:
    """An anonymous pull token from the realm a 401 named (Docker's token spec)."""
    scheme, _, params = challenge.partition(" ")
    fields = dict(_CHALLENGE.findall(params))
    realm = fields.pop("realm", "")
    if scheme.lower() != "bearer" or not realm.startswith(("https://", "http://")):
        raise UserError(f"the registry asks for {printable(challenge[:80])!r}, not a token")
    if (
        realm.startswith("http://")
        and f"[{httpx.URL(realm).host}]" not in LOCAL_HOSTS
        and (httpx.URL(realm).host not in LOCAL_HOSTS)
    ):
        raise UserError(f"the registry's token service {printable(realm[:80])} is not HTTPS")
    base = "/".join(realm.split("/")[:3])
    with Endpoint(base, request_s=30.0, deadline=deadline, max_bytes=1 << 16).client() as client:
        response = client.get(realm, params=fields)
    if response.status_code != 200:
        raise UserError(f"the registry's token service answered HTTP {response.status_code}")
    try:
        data = response.json()
        token = data.get("token") or data.get("access_token")
    except (ValueError, AttributeError):
        token = None
    if not isinstance(token, str) or not token or not token.isprintable() or len(token) > 8192:
        raise UserError("the registry's token service sent no usable token")
    return token


def resolve(repository: str, tag: str, *, base_url: str | None = None) -> Pinned:
    """The digest the registry holds for repository:tag (`base_url` overrides the registry's
    address, for a stand-in)."""
    host, name = registry_of(repository)
    base = base_url or registry_url(host)
    deadline = Deadline(COMMAND_S)
    url = f"{base}/v2/{name}/manifests/{tag}"
    headers = {"Accept": ", ".join(MANIFEST_TYPES)}
    endpoint = Endpoint(base, request_s=60.0, deadline=deadline, max_bytes=MANIFEST_MAX_BYTES)
    try:
        with endpoint.client(headers=headers) as client:
            response = client.get(url)
            if response.status_code == 401 and "www-authenticate" in response.headers:
                token = _token(response.headers["www-authenticate"], deadline)
                response = client.get(url, headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError as exc:
        raise UserError(f"cannot read {repository}:{tag} from {host}: {printable(exc)}") from None
    if response.status_code in (401, 403, 404):
        raise UserError(
            f"{host} has no {repository}:{tag} (HTTP {response.status_code}); check "
            "images.serve.repository and images.serve.tag"
        )
    if response.status_code != 200:
        raise UserError(f"{host} answered HTTP {response.status_code} for {repository}:{tag}")
    return _pinned(response.content, response.headers, host, f"{repository}:{tag}")


def _pinned(body: bytes, headers, host: str, ref: str) -> Pinned:
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    sent = headers.get("docker-content-digest")
    if sent is not None and sent != digest:
        raise UserError(
            f"{host}: the manifest of {ref} hashes to {digest}, but the registry says "
            f"{printable(sent[:80])}; nothing recorded"
        )
    media = headers.get("content-type", "").split(";")[0].strip()
    try:
        manifest = json.loads(body)
    except ValueError:
        raise UserError(f"{host}: the manifest of {ref} is not JSON") from None
    media = (manifest.get("mediaType") if isinstance(manifest, dict) else None) or media
    if media not in MANIFEST_TYPES:
        raise UserError(f"{host}: {ref} is a {printable(str(media)[:80])!r}, not an image")
    platforms: tuple[str, ...] = ()
    if media in LIST_TYPES:
        entries = manifest.get("manifests")
        if not isinstance(entries, list):
            raise UserError(f"{host}: the image list of {ref} has no manifests")
        platforms = tuple(
            f"{p.get('os')}/{p.get('architecture')}"
            for m in entries
            if isinstance(m, dict) and isinstance(p := m.get("platform"), dict)
        )
        if "linux/amd64" not in platforms:
            shown = ", ".join(printable(p) for p in platforms) or "none"
            raise UserError(f"{ref} has no linux/amd64 image (Modal's); it has {shown}")
    assert DIGEST.fullmatch(digest)
    return Pinned(digest, media, platforms, host)


def record(path, repository: str, tag: str, pinned: Pinned) -> None:
    lock = read_lock(path)
    kind = "image list" if pinned.platforms else "manifest"
    lock[image_key(repository, tag)] = {
        "digest": pinned.digest,
        "source": f"{pinned.registry}, the {kind} of {repository}:{tag}",
        "recorded": date.today().isoformat(),
    }
    write_lock(path, lock)


def pin_image(ref: str, *, base_url: str | None = None) -> int:
    d = load(ref).deployment
    serve = d.images.serve
    path = lock_path(d)
    before = read_lock(path).get(image_key(serve.repository, serve.tag))
    pinned = resolve(serve.repository, serve.tag, base_url=base_url)
    record(path, serve.repository, serve.tag, pinned)
    old = before.get("digest") if isinstance(before, dict) else None
    change = "" if old in (None, pinned.digest) else f" (was {printable(old)}: the tag moved)"
    print(f"pinned {serve.ref} -> {serve.repository}@{pinned.digest}{change} in {path}")
    if pinned.platforms:
        print(f"an image list: {', '.join(printable(p) for p in pinned.platforms)}")
    return 0
