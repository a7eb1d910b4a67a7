"""A profile as committed at a git ref, for `diff`: its folder read with `git`, never a shell.

The ref and the path come from the command line and the committed tree from whoever pushed it,
so both are bounded: the ref is resolved to a commit by `git rev-parse --verify` (a ref starting
with '-' is refused, so it is never an option), the folder's files are listed by
`git ls-tree` and read blob by blob with a cap on their count and size, only regular
.yaml/.yml/.json files are taken (no symlink can point the reader elsewhere), and git gets a
timeout. The files land in a temporary copy of the profile's folder (with its subfolders: the
`extends` chain and the checkpoint lock resolve there as they did at that commit), which the
normal loader then reads with all its own bounds.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from generator.errors import Location, UserError

MAX_FILES = 512  # .yaml/.yml/.json files in the profile's folder at the ref
MAX_BYTES = 16 * 1024 * 1024  # all of them together; a profile chain is bounded at 256 KiB
GIT_TIMEOUT_S = 20
_SUFFIXES = (".yaml", ".yml", ".json")
_REF = re.compile(
    r"[^\s\x00-\x1f\x7f~^:?*\[\\]{1,200}(?:[~^][0-9]{0,4})*"
)  # git's ref grammar, bounded


class RefError(UserError):
    """A ref or committed tree that cannot be compared with."""


def _git(args: list[str], cwd: Path, what: str) -> bytes:
    try:
        result = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            timeout=GIT_TIMEOUT_S,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"},
        )
    except FileNotFoundError:
        raise RefError(f"{what}: git is not installed") from None
    except subprocess.TimeoutExpired:
        raise RefError(f"{what}: git took longer than {GIT_TIMEOUT_S} s") from None
    if result.returncode != 0:
        detail = result.stderr.decode("utf-8", "replace").strip().splitlines()
        raise RefError(f"{what}: {detail[-1] if detail else f'git exit {result.returncode}'}")
    return result.stdout


def resolve(ref: str, folder: Path) -> str:
    """The commit `ref` names in the repository holding `folder` (a UserError otherwise)."""
    if not _REF.fullmatch(ref) or ref.startswith("-"):
        raise RefError(
            f"--against {ref[:100]!r}: not a git ref (a branch, tag or commit such as HEAD~1), "
            "a profile, or `deployed`"
        )
    out = _git(
        ["rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"],
        folder,
        f"--against {ref}",
    )
    return out.decode().strip()


def in_repository(folder: Path) -> bool:
    try:
        _git(["rev-parse", "--is-inside-work-tree"], folder, "git")
    except RefError:
        return False
    return True


def is_ref(ref: str, folder: Path) -> bool:
    try:
        resolve(ref, folder)
    except RefError:
        return False
    return True


@contextlib.contextmanager
def checkout(profile_path: Path, ref: str) -> Iterator[tuple[Path, str, str]]:
    """(the profile's path in a temporary copy of its folder as committed at `ref`, the commit,
    the folder's path in the repository, e.g. "profiles/").

    The copy is removed on exit. A profile that the commit does not hold is a RefError."""
    folder = Path(os.path.abspath(profile_path)).parent
    commit = resolve(ref, folder)
    prefix = _git(["rev-parse", "--show-prefix"], folder, "git").decode().strip()
    listing = _git(
        ["ls-tree", "-r", "-l", "-z", "--full-tree", commit, "--", prefix or "."],
        folder,
        f"--against {ref}",
    )
    entries = []
    for item in listing.split(b"\0"):
        if not item:
            continue
        meta, _, name = item.partition(b"\t")
        mode, kind, blob, size = meta.split()
        path = name.decode("utf-8", "replace")
        if kind != b"blob" or mode not in (b"100644", b"100755") or not path.endswith(_SUFFIXES):
            continue  # symlinks, submodules, other files: never followed or read
        entries.append((path[len(prefix) :], blob.decode(), int(size)))
    if len(entries) > MAX_FILES:
        raise RefError(
            f"{Location(folder)}: more than {MAX_FILES} profile files at {ref}; compare a "
            "profile in a smaller folder"
        )
    if sum(size for _, _, size in entries) > MAX_BYTES:
        raise RefError(f"{Location(folder)}: its files at {ref} exceed {MAX_BYTES >> 20} MiB")
    name = profile_path.name
    if name not in {relative for relative, _, _ in entries}:
        raise RefError(
            f"{Location(profile_path)}: not in {ref} ({commit[:12]}), a new profile: commit it "
            "first, or compare with another profile (--against PROFILE)"
        )
    root = Path(tempfile.mkdtemp(prefix="modal-sglang-diff-"))
    try:
        copy = root / "at-ref"
        (root / ".git").mkdir()  # the copy's repository root: `extends` stays inside it
        for relative, blob, _ in entries:
            target = copy / relative
            if not target.resolve().is_relative_to(copy.resolve()):
                continue  # git refuses such names; never written outside the copy
            target.parent.mkdir(parents=True, exist_ok=True)
            data = _git(["cat-file", "blob", blob], folder, f"--against {ref}")
            target.write_bytes(data)
        yield copy / name, commit, prefix
    finally:
        shutil.rmtree(root, ignore_errors=True)
