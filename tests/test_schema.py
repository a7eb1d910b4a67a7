"""The profile schema itself: strict, documented, and the shipped profiles' editor modeline target."""

from __future__ import annotations

import jsonschema

from generator.profile.validate import schema


def _objects(node, path="#"):
    if isinstance(node, dict):
        if node.get("type") == "object" or "properties" in node:
            yield path, node
        for key, value in node.items():
            yield from _objects(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _objects(value, f"{path}/{i}")


def test_schema_is_valid_draft_2020_12():
    assert schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema())


def test_every_object_is_closed_and_every_field_described():
    for path, node in _objects(schema()):
        if "properties" in node:
            assert node.get("additionalProperties") is False, f"{path} is open"
            for name, prop in node["properties"].items():
                assert prop.get("description"), f"{path}/properties/{name} has no description"
        else:  # maps keyed by name (env, silence): their values are typed
            assert isinstance(node.get("additionalProperties"), dict), f"{path} is untyped"
