"""Writing rendered files: where they go, and atomic writes (all files of a unit or none)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from generator import BUILD_DIR
from generator.errors import Location, UserError
from generator.profile.committed import check_committed_path, forget
from generator.profile.deployment import Deployment
from generator.profile.load import profile_root

PREFLIGHT_NAME = "preflight.py"


def check_contained(path: Path, root: Path) -> None:
    """Refuse a write whose path, symlinks followed, leaves `root` (resolved once, as the trusted
    anchor). A committed `build`, `deploys` or lock-file symlink could otherwise send rendered
    files and records anywhere on the machine; a symlink that stays inside is followed."""
    resolved_root = root.resolve()
    if path.resolve().is_relative_to(resolved_root):
        return
    link = next(
        (p for p in [*reversed(path.parents), path] if p.is_symlink()),
        path,
    )
    target = link.resolve() if link.is_symlink() else path.resolve()
    raise UserError(
        f"{Location(link)}: leads to {target}, outside {resolved_root}; refusing to write "
        "through it (replace the symlink with a folder or file in the repository)"
    )


def default_output(deployment: Deployment) -> Path:
    output = BUILD_DIR / deployment.profile_name / "modal_app.py"
    check_contained(output, BUILD_DIR.parent)
    if not output.resolve().is_relative_to(BUILD_DIR.resolve()):  # names are checked on load
        raise UserError(f"profile name {deployment.profile_name!r} would leave {BUILD_DIR}")
    return output


def check_output_path(path: Path) -> None:
    """Refuse an app path that is not a place for a regular .py file the generator owns."""
    where = Location(path)
    if path.suffix != ".py":
        raise UserError(f"{where}: the app file must end in .py (`modal run` imports it)")
    if path.name == PREFLIGHT_NAME:
        raise UserError(
            f"{where}: {PREFLIGHT_NAME} is written beside the app; name the app file otherwise"
        )
    for target in (path, path.with_name(PREFLIGHT_NAME)):
        _check_replaceable(target)


def _check_replaceable(path: Path) -> None:
    """A rename would replace a symlink, a device or a folder with a regular file: refuse."""
    if path.is_symlink():
        raise UserError(f"{Location(path)}: is a symlink; refusing to replace it with a file")
    if path.exists() and not path.is_file():
        raise UserError(f"{Location(path)}: exists and is not a regular file")


@contextlib.contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """One writer at a time in a folder (flock on the folder itself: no lock file left behind)."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _temp_copy(path: Path, data: str | bytes) -> Path:
    """The new content in a temporary file beside `path`, with the mode `path` has (or would
    get from the umask), ready to be renamed over it."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        try:
            mode = path.stat().st_mode & 0o7777
        except FileNotFoundError:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask  # mkstemp's 0600 would surprise anyone reading the file
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
    except BaseException:
        os.unlink(tmp)
        raise
    return Path(tmp)


def write_files(files: list[tuple[Path, str | bytes]]) -> None:
    """Write files in one folder as one unit: all of them or none, one writer at a time.

    Each file goes to a temporary copy first; the copies are then renamed into place, and if a
    rename fails the files already replaced are put back. OS errors become located messages.
    """
    folder = files[0][0].parent
    current: Path | None = None
    try:
        current = folder
        folder.mkdir(parents=True, exist_ok=True)
        for path, _ in files:
            _check_replaceable(path)
        with folder_lock(folder):
            temps: list[Path] = []
            backups: list[Path] = []
            replaced: list[tuple[Path, Path | None]] = []
            try:
                for path, data in files:
                    current = path
                    temps.append(_temp_copy(path, data))
                for (path, _), tmp in zip(files, temps, strict=True):
                    current = path
                    backup = None
                    if path.exists():
                        backup = path.with_name(f".{path.name}.{os.getpid()}.old")
                        os.link(path, backup)
                        backups.append(backup)
                    os.replace(tmp, path)
                    replaced.append((path, backup))
            except BaseException:
                for path, backup in reversed(replaced):  # put back what was already replaced
                    if backup is not None:
                        os.replace(backup, path)
                    else:
                        path.unlink(missing_ok=True)
                raise
            finally:
                for leftover in [*temps, *backups]:
                    leftover.unlink(missing_ok=True)
    except OSError as exc:
        raise UserError(
            f"{Location(current or folder)}: cannot write: {exc.strerror or exc}"
        ) from None


def write_atomic(path: Path, data: str | bytes, *, within: Path | None = None) -> None:
    """Write one file via a temporary file and a rename: never a partial file. A symlink is
    followed (its target is written) only while it stays inside `within` (default: the
    repository when `path` is in it, else its folder); an existing file keeps its mode."""
    check_contained(path, within or profile_root(path))
    write_files([(path.resolve() if path.is_symlink() else path, data)])


def write_committed(path: Path, data: str | bytes, root: Path) -> None:
    """Write a committed record (deploy history, its rendered copies, the lock, bench and smoke
    outputs) atomically, never through a symbolic link, wherever it points: `path` must lie in
    `root` with no link on the way (generator/profile/committed.py)."""
    absolute = check_committed_path(path, root)
    write_files([(absolute, data)])
    forget(absolute)
