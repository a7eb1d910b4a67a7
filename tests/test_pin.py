"""pin-revision: a branch in the profile becomes the commit it points at, in the file that set it.

The Hugging Face Hub is not reachable here; the one call that would reach it is replaced.
"""

from __future__ import annotations

import pytest
from conftest import BASE_PROFILE

from generator import pin

COMMIT = "89abcdef0123456789abcdef0123456789abcdef"


@pytest.fixture
def hub(monkeypatch):
    asked = []

    def resolve(model_id, revision):
        asked.append((model_id, revision))
        return COMMIT

    monkeypatch.setattr(pin, "resolve_commit", resolve)
    return asked


def test_pin_rewrites_the_value_where_it_was_set(profile_tree, cli, hub):
    base_text = BASE_PROFILE.read_text()
    root = profile_tree({"base.yaml": base_text, "child.yaml": "extends: base\n"})
    code, out, _ = cli("pin-revision", str(root / "child.yaml"))
    assert code == 0
    assert hub == [("zai-org/GLM-5.1-FP8", "main")]
    assert f"pinned zai-org/GLM-5.1-FP8 main -> {COMMIT}" in out
    pinned = (root / "base.yaml").read_text()
    assert pinned == base_text.replace("revision: main", f"revision: {COMMIT}")  # comments kept
    code, out, _ = cli("pin-revision", str(root / "child.yaml"))
    assert code == 0 and "already pinned" in out


def test_pin_keeps_quotes_out(profile_tree, cli, hub):
    root = profile_tree({"p.yaml": f"extends: {BASE_PROFILE}\nmodel:\n  revision: 'v1.0'  # tag\n"})
    assert cli("pin-revision", str(root / "p.yaml"))[0] == 0
    assert f"  revision: {COMMIT}  # tag\n" in (root / "p.yaml").read_text()


def test_pin_reports_hub_errors_cleanly(profile_tree, cli, monkeypatch):
    from generator.errors import UserError

    def unreachable(model_id, revision):
        raise UserError("cannot reach the Hugging Face Hub: connection refused")

    monkeypatch.setattr(pin, "resolve_commit", unreachable)
    root = profile_tree({"p.yaml": BASE_PROFILE.read_text()})
    code, _, err = cli("pin-revision", str(root / "p.yaml"))
    assert code == 1 and "cannot reach the Hugging Face Hub" in err
    assert (root / "p.yaml").read_text() == BASE_PROFILE.read_text()
