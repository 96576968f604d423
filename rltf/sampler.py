"""Endless shuffled passes over a list, with a state that checkpoints restore exactly."""

from __future__ import annotations

import random
from typing import Any, Generic, Sequence, TypeVar

T = TypeVar("T")


class Cycler(Generic[T]):
    def __init__(self, items: Sequence[T], seed: int):
        if not items:
            raise ValueError("nothing to cycle over")
        self.items = list(items)
        self.rng = random.Random(seed)
        self.order: list[int] = []
        self.position = 0

    def take(self, n: int) -> list[T]:
        """The next ``n`` items; a new shuffle starts whenever a pass ends."""
        out = []
        while len(out) < n:
            if self.position >= len(self.order):
                self.order = list(range(len(self.items)))
                self.rng.shuffle(self.order)
                self.position = 0
            out.append(self.items[self.order[self.position]])
            self.position += 1
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.rng.getstate(), "order": self.order, "position": self.position}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.setstate(state["rng"])
        self.order, self.position = list(state["order"]), state["position"]
