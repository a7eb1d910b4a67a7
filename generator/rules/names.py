"""Names Modal refuses, found at validation instead of at `modal deploy`.

The rules are modal 1.6.4's own (modal/_utils/name_utils.py): an object name (App, Volume,
Secret: `check_object_name`) is at most 64 characters of [a-zA-Z0-9-_.] and must not look like
an App ID (`app_id_regex`, "ap-" and 22 letters or digits: `is_valid_object_name` refuses it
so a name never reads as an ID, and `App.lookup` takes such a string as an ID); a deploy tag
(modal/runner.py `deploy_app`: `is_valid_tag(tag, max_length=50)`) is 1-50 of [a-zA-Z0-9._-].
The other ID prefixes modal registers (`type_prefixes=` in _object.py subclasses: vo, st, im,
fu, cs, ...) are not refused as names by 1.6.4, so they are not refused here either.
"""

from __future__ import annotations

import re

from generator.profile.deployment import Deployment
from generator.rules.engine import Finding, rule

MODAL_OBJECT_NAME = re.compile(r"[a-zA-Z0-9._-]{1,64}")  # name_utils.is_valid_object_name
MODAL_APP_ID = re.compile(r"ap-[a-zA-Z0-9]{22}")  # name_utils.app_id_regex
MODAL_TAG = re.compile(r"[a-zA-Z0-9._-]{1,50}")  # name_utils.is_valid_tag, runner.deploy_app
TAG_HASH_DIGITS = 12  # operate/deploy.py deploy_tag: <profile>-<12 hex of the profile hash>


def _object_names(d: Deployment):
    yield ("app", "name"), "App", d.app_name
    yield ("volumes", "weights", "name"), "Volume", d.volumes.weights.name
    yield ("volumes", "deepgemm_cache", "name"), "Volume", d.volumes.deepgemm_cache.name
    yield ("secrets", "huggingface", "name"), "Secret", d.secrets.huggingface.name
    yield ("secrets", "api_key", "name"), "Secret", d.secrets.api_key.name
    for index, name in enumerate(d.secrets.extra):
        yield ("secrets", "extra", index), "Secret", name


@rule(
    "modal-name",
    "error",
    "A name Modal 1.6.4 refuses: an object name shaped like an App ID, or a deploy tag too long.",
    "modal/_utils/name_utils.py (modal 1.6.4)",
)
def _modal_name(d: Deployment):
    for path, kind, name in _object_names(d):
        if not MODAL_OBJECT_NAME.fullmatch(name) or MODAL_APP_ID.fullmatch(name):
            yield Finding(
                f"Modal refuses this {kind} name: names are 1-64 letters, digits, '-', '_' or "
                "'.', and 'ap-' followed by 22 letters or digits is an App ID; choose another "
                f"name. Found: {name}",
                path,
            )
    tag = f"{d.profile_name}-{'0' * TAG_HASH_DIGITS}"
    if not MODAL_TAG.fullmatch(tag):
        longest = 50 - 1 - TAG_HASH_DIGITS
        yield Finding(
            f"the deploy tag <profile>-<{TAG_HASH_DIGITS} hex> must be 1-50 of Modal's tag "
            f"characters, so a profile name has at most {longest}; rename the file. "
            f"Found: {d.profile_name} ({len(d.profile_name)} characters)",
            (),
        )
