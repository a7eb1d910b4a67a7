"""Render YAML deployment profiles into Modal apps that serve MoE LLMs with SGLang."""

from pathlib import Path

# The schema, manifests, catalogs and templates are package data: validating and rendering work
# from an installed package (pip, pre-commit) as well as from this checkout.
PACKAGE_DIR = Path(__file__).resolve().parent
SCHEMA_PATH = PACKAGE_DIR / "profile.schema.json"
TEMPLATES_DIR = PACKAGE_DIR / "templates"

# The project the profiles belong to: this checkout when the package runs from it (an editable
# install), else the current directory. profiles/, build/ and deploys/ live there.
_CHECKOUT = PACKAGE_DIR.parent
REPO_ROOT = _CHECKOUT if (_CHECKOUT / "pyproject.toml").is_file() else Path.cwd()
PROFILES_DIR = REPO_ROOT / "profiles"
BUILD_DIR = REPO_ROOT / "build"
