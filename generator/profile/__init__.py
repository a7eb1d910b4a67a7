"""Profile: read a profile YAML (bounded, located, `extends` and merge), check it against the
schema, and build the frozen Deployment model from it."""
