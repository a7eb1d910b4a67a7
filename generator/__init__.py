"""Render YAML deployment profiles into Modal apps that serve MoE LLMs with SGLang."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PROFILES_DIR = REPO_ROOT / "profiles"
TEMPLATES_DIR = REPO_ROOT / "templates"
BUILD_DIR = REPO_ROOT / "build"
SCHEMA_PATH = Path(__file__).resolve().parent / "profile.schema.json"
