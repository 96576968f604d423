"""A range of program uids for each judge on the machine.

When the judge runs as root, each worker's programs run as a uid of their own. Limits
such as ``RLIMIT_NPROC`` count per uid across the whole machine, so two judges at once
(two trainings, a training and an ``rltf eval``) must not share uids. A judge claims a
slot by holding an exclusive ``flock`` on the slot's lock file for as long as it lives;
the kernel releases the lock when the process ends, however it ends.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from pathlib import Path

FIRST_UID = 1_500_000
SLOT_SIZE = 4096
SLOTS = 1024


class UidRange:
    """``uids`` is this judge's range; ``close`` gives the slot back."""

    def __init__(self, count: int):
        if count > SLOT_SIZE:
            raise ValueError(f"a judge has at most {SLOT_SIZE} workers, not {count}")
        locks = Path(tempfile.gettempdir()) / "rltf-judge-uids"
        locks.mkdir(mode=0o700, exist_ok=True)
        for slot in range(SLOTS):
            fd = os.open(locks / f"{slot}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self._fd: int | None = fd
            start = FIRST_UID + slot * SLOT_SIZE
            self.uids = range(start, start + count)
            return
        raise RuntimeError(f"all {SLOTS} judge uid ranges are in use ({locks})")

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
