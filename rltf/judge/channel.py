"""Length-prefixed frames over pipes: the only way messages cross a process boundary.

Frames between the host and a worker, and from a worker to its programs, are JSON (or, for
the code a program runs, ``marshal`` bytes) from trusted code. Frames from a program are
untrusted: ``FrameBuffer`` reads them with a size cap, and anything that is not a well-formed
frame of plain JSON (garbage bytes, a header announcing more than the cap, integers too
long to parse in linear time, nesting too deep) raises ``BrokenFrame``, which the worker
blames on the program.
"""

from __future__ import annotations

import json
import os
from typing import Any

from . import plaindata

_HEADER = 4
MAX_FRAME = 256 << 20
_MAX_INT_DIGITS = 30  # honest programs send longer integers as "$int" hex, which parses in linear time


class ChannelClosed(EOFError):
    """The other end is gone (a program that died, a worker that was killed)."""


class BrokenFrame(ValueError):
    """A program sent bytes that are not a frame the worker can read."""


class FrameTooLarge(BrokenFrame):
    """A frame header announcing more than the reader accepts."""


def send(fd: int, message: Any) -> None:
    send_bytes(fd, plaindata.dumps(message))


def send_bytes(fd: int, payload: bytes) -> None:
    _write_all(fd, len(payload).to_bytes(_HEADER, "big") + payload)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def recv(fd: int) -> Any:
    """Blocking read of one frame from trusted code."""
    return plaindata.loads(recv_bytes(fd))


def recv_bytes(fd: int) -> bytes:
    size = int.from_bytes(_read_exact(fd, _HEADER), "big")
    if size > MAX_FRAME:
        raise FrameTooLarge(f"a frame of {size} bytes")
    return _read_exact(fd, size)


def _read_exact(fd: int, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise ChannelClosed()
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_INT_DIGITS:
        raise BrokenFrame(f"an integer of {len(text)} digits where hex was expected")
    return int(text)


_UNTRUSTED = json.JSONDecoder(parse_int=_bounded_int)


def loads_untrusted(raw: bytes) -> Any:
    try:
        return _UNTRUSTED.decode(raw.decode("utf-8"))
    except BrokenFrame:
        raise
    except (ValueError, RecursionError, MemoryError) as exc:
        raise BrokenFrame(f"{type(exc).__name__}: {str(exc)[:200]}") from None


class FrameBuffer:
    """Reassembles a program's frames from non-blocking reads, for a reader that also
    watches other pipes; frames over ``max_frame`` bytes are refused before they arrive."""

    def __init__(self, max_frame: int = MAX_FRAME):
        self._buf = bytearray()
        self._max = max_frame

    def feed(self, data: bytes) -> None:
        self._buf += data
        if len(self._buf) >= _HEADER and int.from_bytes(self._buf[:_HEADER], "big") > self._max:
            raise FrameTooLarge(f"a frame of {int.from_bytes(self._buf[:_HEADER], 'big')} bytes, over "
                                f"the limit of {self._max}")

    def has_frame(self) -> bool:
        if len(self._buf) < _HEADER:
            return False
        return len(self._buf) >= _HEADER + int.from_bytes(self._buf[:_HEADER], "big")

    def pop(self) -> tuple[bool, Any]:
        if not self.has_frame():
            return False, None
        end = _HEADER + int.from_bytes(self._buf[:_HEADER], "big")
        payload = bytes(self._buf[_HEADER:end])
        del self._buf[:end]
        return True, loads_untrusted(payload)
