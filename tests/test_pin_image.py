"""pin-image against a local stand-in of a container registry's HTTP API (the OCI distribution
spec's manifest pull, Docker's token authentication): a 401 naming a token realm, an anonymous
token from it, a manifest list under `Accept`, and the digest in `Docker-Content-Digest`. Docker
Hub cannot be reached here; `generator.operate.image.registry_url` is pointed at the stand-in."""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import BASE_PROFILE, load_modal_app

from generator.operate import image

COMMIT = "89abcdef0123456789abcdef0123456789abcdef"
TOKEN = "anon-pull-token-7f3"
INDEX = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.index.v1+json",
    "manifests": [
        {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": "sha256:" + "a" * 64,
            "size": 1234,
            "platform": {"architecture": "amd64", "os": "linux"},
        },
        {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": "sha256:" + "b" * 64,
            "size": 1234,
            "platform": {"architecture": "arm64", "os": "linux"},
        },
    ],
}


class Registry:
    """Serves lmsysorg/sglang's tags from `tags` ({tag: manifest bytes}); `seen` keeps every
    request's path and Authorization header."""

    def __init__(self) -> None:
        body = json.dumps(INDEX).encode()
        self.tags = {"v0.5.23": body}
        self.digest_header: str | None = None  # None: the body's own sha256
        self.seen: list[tuple[str, str | None]] = []
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status, body=b"", headers=()):
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                registry.seen.append((self.path, self.headers.get("Authorization")))
                url = urlsplit(self.path)
                if url.path == "/token":
                    query = parse_qs(url.query)
                    assert query["scope"] == ["repository:lmsysorg/sglang:pull"]
                    return self._send(200, json.dumps({"token": TOKEN}).encode())
                prefix = "/v2/lmsysorg/sglang/manifests/"
                if not url.path.startswith(prefix):
                    return self._send(404)
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    realm = f"http://127.0.0.1:{registry.port}/token"
                    challenge = (
                        f'Bearer realm="{realm}",service="registry.docker.io",'
                        'scope="repository:lmsysorg/sglang:pull"'
                    )
                    return self._send(401, b"{}", [("WWW-Authenticate", challenge)])
                assert "application/vnd.oci.image.index.v1+json" in self.headers["Accept"]
                tag = url.path.removeprefix(prefix)
                if tag not in registry.tags:
                    return self._send(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}')
                body = registry.tags[tag]
                digest = registry.digest_header or "sha256:" + hashlib.sha256(body).hexdigest()
                media = json.loads(body)["mediaType"]
                self._send(200, body, [("Content-Type", media), ("Docker-Content-Digest", digest)])

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.tags["v0.5.23"]).hexdigest()


@pytest.fixture
def registry(monkeypatch):
    stand_in = Registry()
    monkeypatch.setattr(image, "registry_url", lambda host: f"http://127.0.0.1:{stand_in.port}")
    yield stand_in
    stand_in.server.shutdown()
    stand_in.server.server_close()


@pytest.fixture
def profile(profile_tree):
    text = BASE_PROFILE.read_text().replace("revision: main", f"revision: {COMMIT}")
    return profile_tree({"p.yaml": text}) / "p.yaml"


def test_pin_image_records_the_digest_and_the_app_pulls_by_digest(registry, profile, cli, tmp_path):
    code, out, err = cli("pin-image", str(profile))
    assert code == 0, err
    assert f"lmsysorg/sglang:v0.5.23 -> lmsysorg/sglang@{registry.digest}" in out
    assert "linux/amd64, linux/arm64" in out
    # anonymous: the token request carried nothing; only the registry got the token
    assert [auth for path, auth in registry.seen if path.startswith("/token")] == [None]
    lock = json.loads((profile.parent / "checkpoints.lock.json").read_text())
    assert lock["image lmsysorg/sglang:v0.5.23"]["digest"] == registry.digest
    app = tmp_path / "app.py"
    code, _, err = cli("render", str(profile), "-o", str(app))
    assert code == 0, err
    text = app.read_text()
    assert (
        f'SERVE_IMAGE = "lmsysorg/sglang@{registry.digest}"  # lmsysorg/sglang:v0.5.23, pinned'
        in text
    )
    assert load_modal_app(app).SERVE_IMAGE == f"lmsysorg/sglang@{registry.digest}"


def test_deploy_warns_until_the_image_is_pinned(registry, profile, cli):
    code, _, err = cli("deploy", str(profile), "--dry-run")
    assert code == 0
    assert "the serve image lmsysorg/sglang:v0.5.23 is not pinned by digest" in err
    assert cli("pin-image", str(profile))[0] == 0
    code, _, err = cli("deploy", str(profile), "--dry-run")
    assert code == 0 and "not pinned by digest" not in err


def test_an_unknown_tag_is_a_clear_error_and_nothing_is_written(registry, profile, cli):
    del registry.tags["v0.5.23"]  # the tag was never pushed (or was deleted)
    code, _, err = cli("pin-image", str(profile))
    assert code != 0
    assert "has no lmsysorg/sglang:v0.5.23 (HTTP 404)" in err and "Traceback" not in err
    assert not (profile.parent / "checkpoints.lock.json").exists()


def test_a_lock_that_is_a_link_is_refused(registry, profile, cli, tmp_path):
    """A committed link named checkpoints.lock.json is refused when pin-image reads the lock,
    before the registry is asked, and what it points at is untouched (the write guard itself,
    render/write.py write_committed, is tested in test_hostile_round3.py)."""
    victim = tmp_path / "victim.json"
    victim.write_text("{}\n")
    (profile.parent / "checkpoints.lock.json").symlink_to(victim)
    code, _, err = cli("pin-image", str(profile))
    assert code != 0 and "is a symbolic link" in err and "Traceback" not in err
    assert victim.read_text() == "{}\n"


def test_a_digest_header_that_does_not_match_the_manifest_is_refused(registry, profile, cli):
    registry.digest_header = "sha256:" + "0" * 64
    code, _, err = cli("pin-image", str(profile))
    assert code != 0 and "but the registry says sha256:000" in err
    assert not (profile.parent / "checkpoints.lock.json").exists()


def test_an_image_list_without_linux_amd64_is_refused(registry, profile, cli):
    arm_only = {**INDEX, "manifests": INDEX["manifests"][1:]}
    registry.tags["v0.5.23"] = json.dumps(arm_only).encode()
    code, _, err = cli("pin-image", str(profile))
    assert code != 0 and "has no linux/amd64 image" in err


def test_an_edited_lock_digest_never_reaches_the_app(registry, profile, cli, tmp_path):
    """The lock is committed: a PR could put code where the digest goes."""
    assert cli("pin-image", str(profile))[0] == 0
    lock_file = profile.parent / "checkpoints.lock.json"
    lock = json.loads(lock_file.read_text())
    lock["image lmsysorg/sglang:v0.5.23"]["digest"] = 'sha256:x"; import os; os.system("id") #'
    lock_file.write_text(json.dumps(lock))
    code, _, err = cli("render", str(profile), "-o", str(tmp_path / "app.py"))
    assert code != 0 and "expected a digest 'sha256:' + 64 hex digits" in err
    assert not (tmp_path / "app.py").exists()


def test_registry_names_follow_dockers_rules():
    assert image.registry_of("lmsysorg/sglang") == ("registry-1.docker.io", "lmsysorg/sglang")
    assert image.registry_of("ubuntu") == ("registry-1.docker.io", "library/ubuntu")
    assert image.registry_of("nvcr.io/nvidia/pytorch") == ("nvcr.io", "nvidia/pytorch")
