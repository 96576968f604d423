"""Files rltf writes for its user: checked before any work, written whole or not at all.

A command that judges for an hour and only then finds it cannot write its results has
wasted the hour; one that writes over its own input has destroyed the user's data. So a
command checks every output path when it starts (``check_outputs``: writable, not a
folder, not one of the inputs, not another output), creates nothing until its work is
done, and writes through a temporary file in the same folder renamed into place
(``write_text``, ``write_bytes``, ``write_folder``), so an interrupted write leaves the
previous file, or none, never half of one.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Mapping

from rltf.errors import RltfError


def check_outputs(outputs: Mapping[str, Path | None], inputs: Mapping[str, Path | None] = {}) -> None:
    """Refuse, naming the options, any output that is an input, another output, or unwritable.

    Keys are what the user typed (``"--out"``); ``None`` values are options not given.
    """
    given_inputs = [(name, path) for name, path in inputs.items() if path is not None]
    seen: list[tuple[str, Path]] = []
    for option, path in outputs.items():
        if path is None:
            continue
        for name, source in given_inputs:
            if same_file(path, source):
                raise RltfError(f"{option} {path} is the {name} file; writing it would destroy the input; "
                                f"choose another path")
        for name, other in seen:
            if same_file(path, other):
                raise RltfError(f"{option} and {name} are the same file ({path}); one would overwrite the other")
        check_writable(path, option)
        seen.append((option, path))


def same_file(a: Path, b: Path) -> bool:
    """Same path once links and ``..`` are resolved, or the same file under two names (a hard link)."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_writable(path: Path, option: str) -> None:
    """What ``write_text`` will need: a regular file path (not a folder) whose folder can be made and written.

    A device, pipe or socket is refused: the rename that writes a file whole would put a
    regular file in its place (as root, ``--out /dev/null`` would destroy ``/dev/null``).
    """
    if path.is_dir():
        raise RltfError(f"{option} {path} is a folder; give a file path")
    if path.exists() and not path.is_file():
        raise RltfError(f"{option} {path} is not a regular file (a device, pipe or socket); give a file path")
    target = link_target(path)
    folder = nearest_folder(target.parent)
    if folder is None:
        raise RltfError(f"{option} {path}: a part of its folder path is a file, not a folder")
    _check_creatable(folder, f"{option} {path}")
    if target.exists() and not os.access(target, os.W_OK):
        raise RltfError(f"{option} {path}: the file exists and is read-only")


def check_folder_writable(folder: Path, option: str) -> None:
    """What ``write_bytes`` into ``folder`` will need: a folder (or a path where one can be made) that can be written."""
    if folder.exists() and not folder.is_dir():
        raise RltfError(f"{option} {folder} is a file; give a folder")
    if folder.is_symlink() and not folder.exists():
        raise RltfError(f"{option} {folder} is a symbolic link to a missing folder ({os.readlink(folder)}); "
                        "create that folder or give another path")
    existing = nearest_folder(folder)
    if existing is None:
        raise RltfError(f"{option} {folder}: a part of the path is a file, not a folder")
    _check_creatable(existing, f"{option} {folder}")


def _check_creatable(folder: Path, what: str) -> None:
    """Create and remove a file of a unique name in ``folder``: the one test that holds for root too,
    for whom ``os.access`` says yes to any folder, ``/proc`` and read-only mounts included."""
    try:
        descriptor, name = tempfile.mkstemp(prefix=".rltf-check-", dir=folder)
    except OSError as error:
        raise RltfError(f"{what}: cannot write in {folder} ({error.strerror or error})") from None
    os.close(descriptor)
    os.unlink(name)


def link_target(path: Path) -> Path:
    """Where writing ``path`` must go: through a symbolic link to its target, so the link survives."""
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def nearest_folder(path: Path) -> Path | None:
    """``path`` or its closest existing ancestor, if that is a folder; None when a file is in the way."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate if candidate.is_dir() else None
    return Path(".")


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole: a temporary sibling, flushed to disk, renamed over it."""
    path = link_target(path)
    temporary = path.parent / f".{path.name}.{os.getpid()}.tmp"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    except OSError as error:
        raise RltfError(f"cannot write {path}: {error.strerror or error}") from None
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as error:
        raise RltfError(f"cannot write {path}: {error.strerror or error}") from None
    finally:
        temporary.unlink(missing_ok=True)


def write_folder(folder: Path, fill: Callable[[Path], None]) -> None:
    """Build ``folder`` with ``fill(partial)`` under a temporary name, then rename it into place.

    An older folder of that name is replaced only once the new one is complete.
    """
    partial = folder.parent / f".{folder.name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    try:
        partial.mkdir(parents=True)
        fill(partial)
        if folder.exists():
            old = folder.parent / f".{folder.name}.old"
            shutil.rmtree(old, ignore_errors=True)
            os.replace(folder, old)
            os.replace(partial, folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(partial, folder)
    except OSError as error:
        raise RltfError(f"cannot write {folder}: {error.strerror or error}") from None
    finally:
        shutil.rmtree(partial, ignore_errors=True)
