"""Render YAML deployment profiles into Modal apps that serve MoE LLMs with SGLang.

The package is laid out as the one-way flow (README, "How it is built"):
profile -> sglang -> capacity -> rules -> render, joined by pipeline.py; operate/ and cli.py
on top. The catalogs (catalog/) and errors.py are what every wing reads.
"""

from pathlib import Path

# The schema, manifests and catalogs are package data: validating and rendering work from an
# installed package (pip, pre-commit) as well as from this checkout.
PACKAGE_DIR = Path(__file__).resolve().parent
SCHEMA_PATH = PACKAGE_DIR / "profile" / "schema.json"

# The project the profiles belong to: this checkout when the package runs from it (an editable
# install), else the current directory. profiles/, build/ and deploys/ live there.
_CHECKOUT = PACKAGE_DIR.parent
_IN_CHECKOUT = (_CHECKOUT / "pyproject.toml").is_file()
REPO_ROOT = _CHECKOUT if _IN_CHECKOUT else Path.cwd()
PROFILES_DIR = REPO_ROOT / "profiles"
BUILD_DIR = REPO_ROOT / "build"

# The Jinja2 templates sit at the top of the checkout (templates/); an installed package carries
# them as generator/templates (pyproject.toml maps that package folder to templates/).
TEMPLATES_DIR = _CHECKOUT / "templates" if _IN_CHECKOUT else PACKAGE_DIR / "templates"
