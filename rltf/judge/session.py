"""The worker's handle on a live program process: calls go out as data, values come back as data.

Program objects that are not plain data stay in the program process; the worker holds
``RemoteObject`` handles to them. Calls the problem's tests were predicted to make
(``plan``) were already made by the program process, and their values are waiting in the
pipe; the session checks each actual call against the prediction.
"""

from __future__ import annotations

from itertools import takewhile
from typing import Any

from . import plaindata
from .plan import PlannedCall
from .process import ProgramProcess, ProgramStopped, broken_channel, reported_error


class PlanDiverged(BaseException):
    """The test did not make the predicted call: the run must be redone call by call."""


class RemoteObject:
    """A program object, held by number. It can be called and inspected, never trusted:
    it equals nothing but itself, so it cannot pass a comparison."""

    __slots__ = ("_proc", "_handle")

    def __init__(self, proc: "Session", handle: int):
        object.__setattr__(self, "_proc", proc)
        object.__setattr__(self, "_handle", handle)

    def __call__(self, *args, **kwargs):
        return self._proc.call(self._handle, args, kwargs)

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return self._proc.op({"op": "getattr", "handle": self._handle, "name": name}, AttributeError)

    def __setattr__(self, name: str, value: Any) -> None:
        self._proc.op({"op": "setattr", "handle": self._handle, "name": name,
                       "value": self._proc.encode(value)}, AttributeError)

    def __iter__(self):
        return iter(self._proc.op({"op": "iter", "handle": self._handle}, TypeError))

    def __len__(self) -> int:
        return self._proc.op({"op": "len", "handle": self._handle}, TypeError)

    def __bool__(self) -> bool:
        """The program's own truth value: a constant answer, no stronger than returning True."""
        return self._proc.op({"op": "bool", "handle": self._handle}, TypeError) is True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RemoteObject) and other._handle == self._handle

    def __hash__(self) -> int:
        return hash(("remote", self._handle))

    def __repr__(self) -> str:
        return f"<program object #{self._handle}>"


class Session:
    """A live program and the names the tests use from it.

    Every frame from the program is checked for its shape before anything in it is used;
    anything else is the program's fault (``BrokenChannel``), as is a value the worker will
    not compare (``UnsafeValue``).
    """

    def __init__(self, proc: ProgramProcess, plan: list[PlannedCall], program_lines: int):
        self.proc = proc
        self.names: dict[str, Any] = {}
        self.plan = plan
        self.planned_time = 0.0
        self.lines = program_lines

    def start(self) -> None:
        reply = self._reply(self.proc.wait_frame(), "names")
        if not isinstance(reply["names"], dict):
            raise broken_channel("names that are not a mapping")
        self.names = {str(k): self.decode(v) for k, v in reply["names"].items()}
        self.plan = list(takewhile(lambda call: call.target[0] in self.names, self.plan))

    def next_planned(self) -> dict[str, Any]:
        """The program's answer to the next predicted call, in the order it made them."""
        self.plan = self.plan[1:]
        reply = self.proc.wait_frame()
        spent = reply.get("t", 0.0) if isinstance(reply, dict) else 0.0
        if type(spent) not in (int, float) or not 0 <= spent < 1e6:
            raise broken_channel("a call time that is not a number")
        self.planned_time += spent
        return self._reply(reply, "value")

    def _reply(self, frame: Any, key: str) -> dict[str, Any]:
        """``frame`` if it carries ``key``; a crash it reports is raised as the program's."""
        if not isinstance(frame, dict):
            raise broken_channel("a reply that is not a mapping")
        if key == "names" and "compile_error" in frame:
            raise ProgramStopped("compile_error", self._error(frame["compile_error"]))
        if "raised" in frame:
            raise ProgramStopped("runtime_error", self._error(frame["raised"]))
        if key not in frame:
            raise broken_channel(f"a reply without {key!r}")
        return frame

    def _error(self, info: Any) -> dict[str, Any]:
        return reported_error(info, self.lines)

    def _planned(self, handle: int, args: tuple, kwargs: dict) -> bool:
        if not self.plan:
            return False
        target = self.plan[0].target
        expected = self.names.get(target[0]) if len(target) == 1 else None
        if (not kwargs and isinstance(expected, RemoteObject) and expected._handle == handle
                and self.encode(list(args)) == self.plan[0].args):
            return True
        raise PlanDiverged()

    def decode(self, data: Any) -> Any:
        try:
            return plaindata.from_json(data, lambda h: RemoteObject(self, h), plaindata.HashGuard())
        except plaindata.UnsafeValue as exc:
            raise ProgramStopped("runtime_error", {"type": "UnsafeValue", "message": str(exc), "line": None}) from None
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError, MemoryError) as exc:
            raise broken_channel(f"a value that is not plain data ({type(exc).__name__})") from None

    def encode(self, value: Any) -> Any:
        return plaindata.to_json(value, _handle_of)

    def call(self, handle: int, args: tuple, kwargs: dict) -> Any:
        if self._planned(handle, args, kwargs):
            return self.decode(self.next_planned()["value"])
        reply = self._reply(self.proc.request({"op": "call", "handle": handle, "args": self.encode(list(args)),
                                               "kwargs": self.encode(kwargs)}), "value")
        returned = reply.get("args", ())
        if not isinstance(returned, list):
            raise broken_channel("changed arguments that are not a list")
        for sent, back in zip(args, returned):
            if back is not None:
                _copy_into(sent, self.decode(back))
        return self.decode(reply["value"])

    def op(self, message: dict[str, Any], local_error: type[Exception]) -> Any:
        """Inspection that fails is the test's problem (a wrong answer), not a program crash."""
        if self.plan:
            raise PlanDiverged()
        reply = self.proc.request(message)
        if isinstance(reply, dict) and "raised" in reply:
            raise local_error(self._error(reply["raised"])["message"])
        return self.decode(self._reply(reply, "value")["value"])


def _handle_of(value: Any) -> int:
    if isinstance(value, RemoteObject):
        return object.__getattribute__(value, "_handle")
    raise plaindata.NotPlainData(f"cannot send a {type(value).__name__} to the program")


def _copy_into(sent: Any, back: Any) -> None:
    if isinstance(sent, list) and isinstance(back, list):
        sent[:] = back
    elif isinstance(sent, (dict, set)) and type(back) is type(sent):
        sent.clear()
        sent.update(back)
