"""Length-prefixed JSON frames over pipes: the only way messages cross a process boundary."""

from __future__ import annotations

import os
import struct
from typing import Any

from . import plaindata

_HEADER = struct.Struct(">I")
MAX_FRAME = 256 << 20


class ChannelClosed(EOFError):
    """The other end is gone (a program that died, a worker that was killed)."""


class FrameTooLarge(ValueError):
    """A frame header announcing more than ``MAX_FRAME`` bytes: a broken or hostile sender."""


def send(fd: int, message: Any) -> None:
    payload = plaindata.dumps(message)
    _write_all(fd, _HEADER.pack(len(payload)) + payload)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def recv(fd: int) -> Any:
    """Blocking read of one frame."""
    (size,) = _HEADER.unpack(_read_exact(fd, _HEADER.size))
    if size > MAX_FRAME:
        raise FrameTooLarge(size)
    return plaindata.loads(_read_exact(fd, size))


def _read_exact(fd: int, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise ChannelClosed()
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


class FrameBuffer:
    """Reassembles frames from non-blocking reads, for a reader that also watches other pipes."""

    def __init__(self, max_frame: int = MAX_FRAME):
        self._buf = bytearray()
        self._max = max_frame

    def feed(self, data: bytes) -> None:
        self._buf += data

    def has_frame(self) -> bool:
        if len(self._buf) < _HEADER.size:
            return False
        return len(self._buf) >= _HEADER.size + _HEADER.unpack_from(self._buf)[0]

    def pop(self) -> tuple[bool, Any]:
        if len(self._buf) < _HEADER.size:
            return False, None
        (size,) = _HEADER.unpack_from(self._buf)
        if size > self._max:
            raise FrameTooLarge(size)
        end = _HEADER.size + size
        if len(self._buf) < end:
            return False, None
        payload = bytes(self._buf[_HEADER.size:end])
        del self._buf[:end]
        return True, plaindata.loads(payload)
