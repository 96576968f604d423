"""The run folder: whose it is, and when rltf may write into it.

A folder that holds anything (a finished run, a run killed before its first checkpoint,
the user's own files) is never written to by a new run; only ``--resume`` continues a
run, and only an unfinished one. The folder is claimed after every input has been
checked and loaded, by creating ``config.toml`` exclusively, so a rejected command
writes nothing and two runs started with the same ``--out`` cannot share it.
"""

from __future__ import annotations

import os
from pathlib import Path

from rltf.errors import RltfError
from rltf.outputs import check_folder_writable, write_text

CONFIG = "config.toml"
METRICS = "metrics.jsonl"
SUMMARY = "summary.json"


def check_new(folder: Path) -> None:
    """A new run may use a folder that does not exist yet, or an empty one."""
    if folder.exists() and not folder.is_dir():
        raise RltfError(f"--out {folder} is a file, not a folder")
    if folder.is_dir() and any(folder.iterdir()):
        what = "a run" if (folder / CONFIG).exists() else "files"
        hint = f"; to continue it: --resume {folder}" if what == "a run" and not (folder / SUMMARY).exists() else ""
        raise RltfError(f"--out {folder} already holds {what}; a new run needs a new or empty folder{hint}")
    check_folder_writable(folder, "--out")


def check_resumable(folder: Path) -> None:
    """``--resume`` continues an unfinished run; a finished one would be trained over."""
    if not (folder / CONFIG).is_file():
        raise RltfError(f"--resume {folder}: no {CONFIG} here; is this a run folder made by rltf train?")
    if (folder / SUMMARY).exists():
        raise RltfError(f"--resume {folder}: this run finished ({SUMMARY} is there); nothing to resume")


def claim(folder: Path, config_text: str) -> None:
    """Make ``folder`` this run's (``create_exclusively``), then give it an empty metrics file."""
    check_new(folder)
    create_exclusively(folder, CONFIG, config_text, "--out")
    write_text(folder / METRICS, "")


def create_exclusively(folder: Path, name: str, text: str, option: str) -> None:
    """Write ``folder/name`` whole and only if no one else did: a draft is hard-linked to the
    name, which fails where the name exists, so two commands given one folder cannot share it."""
    draft = folder / f".{name}.{os.getpid()}.tmp"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_text(draft, text)
        os.link(draft, folder / name)
    except FileExistsError:
        raise RltfError(f"{option} {folder} was claimed by another command just now; choose another folder") from None
    except OSError as error:
        raise RltfError(f"cannot create the folder {folder}: {error.strerror or error}") from None
    finally:
        draft.unlink(missing_ok=True)


def restart(folder: Path) -> None:
    """A resumed run with no checkpoint starts over in its folder: its metrics were of the lost attempt."""
    write_text(folder / METRICS, "")


def newest_checkpoint(folder: Path) -> Path | None:
    from rltf.checkpoint import checkpoints  # torch: imported only by the commands that train

    found = checkpoints(folder / "checkpoints")
    return found[-1] if found else None
