"""What a credential looks like, so none is written into a file meant to be committed or printed
in an error message."""

from __future__ import annotations

import re

# Credentials in a profile land in modal_app.py, preflight.py and deploys/<profile>/history.json,
# all meant to be committed. Names as the issue tracker's hostile-input review listed them.
# Both patterns are searched, not matched whole behind `.*`, and every repeat is bounded: the
# work is linear in the length of the text (a `.*(...)` pattern with open repeats backtracked:
# 13 s for one long `eyJ-eyJ-...` value). A pattern looks at most 256 characters past a prefix.
_SECRET_NAME = re.compile(r"_TOKEN\Z|_KEY\Z|SECRET|PASSWORD|PASSWD")
_SECRET_VALUE = re.compile(
    r"\bsk-[A-Za-z0-9_-]{16}"  # OpenAI-style API keys
    r"|\bhf_[A-Za-z0-9]{20}"  # Hugging Face tokens
    r"|\bgh[pousr]_[A-Za-z0-9]{20}|\bgithub_pat_\w{20}"  # GitHub tokens
    r"|\ba[ks]-[A-Za-z0-9]{16}"  # Modal token id / secret
    r"|\bAKIA[0-9A-Z]{16}"  # AWS access key id
    r"|\bxox[abpr]-[A-Za-z0-9-]{10}"  # Slack tokens
    r"|\beyJ[A-Za-z0-9_-]{8,256}\.eyJ[A-Za-z0-9_-]{8}"  # JSON web tokens
    r"|-----BEGIN [A-Z ]{0,64}PRIVATE KEY-----"
)
SECRET_HOME = (
    "keep it in a Modal Secret (`modal secret create NAME KEY=...`): the API key goes in "
    "secrets.api_key, the Hugging Face token in secrets.huggingface, anything else in "
    "secrets.extra; rotate the one you wrote here"
)


def looks_secret(value: object) -> bool:
    """A string that looks like a credential by its well-known prefix or shape."""
    return isinstance(value, str) and _SECRET_VALUE.search(value) is not None


def looks_secret_name(name: str) -> bool:
    """An environment variable named like a credential: *_TOKEN, *_KEY, *SECRET*, *PASSWORD*."""
    return _SECRET_NAME.search(name) is not None


def redacted(text: str) -> str:
    """`text`, or a placeholder when it looks like a credential (for what `plan` prints)."""
    return "<redacted: looks like a credential>" if looks_secret(text) else text
