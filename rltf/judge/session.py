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
from .process import ProgramProcess, ProgramStopped


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
    def __init__(self, proc: ProgramProcess, plan: list[PlannedCall]):
        self.proc = proc
        self.names: dict[str, Any] = {}
        self.plan = plan
        self.planned_time = 0.0

    def start(self) -> None:
        reply = self.proc.wait_frame()
        if "raised" in reply:
            raise ProgramStopped("runtime_error", reply["raised"])
        self.names = {k: self.decode(v) for k, v in reply["names"].items()}
        self.plan = list(takewhile(lambda call: call.target[0] in self.names, self.plan))

    def next_planned(self) -> dict[str, Any]:
        """The program's answer to the next predicted call, in the order it made them."""
        self.plan = self.plan[1:]
        reply = self.proc.wait_frame()
        self.planned_time += reply.get("t", 0.0)
        if "raised" in reply:
            raise ProgramStopped("runtime_error", reply["raised"])
        return reply

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
        return plaindata.from_json(data, lambda h: RemoteObject(self, h))

    def encode(self, value: Any) -> Any:
        return plaindata.to_json(value, _handle_of)

    def call(self, handle: int, args: tuple, kwargs: dict) -> Any:
        if self._planned(handle, args, kwargs):
            return self.decode(self.next_planned()["value"])
        reply = self.proc.request({"op": "call", "handle": handle, "args": self.encode(list(args)),
                                   "kwargs": self.encode(kwargs)})
        if "raised" in reply:
            raise ProgramStopped("runtime_error", reply["raised"])
        for sent, back in zip(args, reply.get("args", ())):
            if back is not None:
                _copy_into(sent, self.decode(back))
        return self.decode(reply["value"])

    def op(self, message: dict[str, Any], local_error: type[Exception]) -> Any:
        """Inspection that fails is the test's problem (a wrong answer), not a program crash."""
        if self.plan:
            raise PlanDiverged()
        reply = self.proc.request(message)
        if "raised" in reply:
            raise local_error(reply["raised"]["message"])
        return self.decode(reply["value"])


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
