"""The online buffer between the actor's judged samples and the learner (RLTF's online queue).

A bounded FIFO: new examples push the oldest out once ``capacity`` is reached. Pushed
examples become visible to the learner at the next refresh (every ``refresh_every``
steps), as the paper's learner reloads the generator's samples periodically. The learner
takes the examples it has used least, newest first: fresh samples while the actor keeps
up (on-policy), and whole passes over the buffer when it does not (the offline mode).
"""

from __future__ import annotations

from collections import deque
from typing import Any

from rltf.token_rewards import Example


class OnlineBuffer:
    def __init__(self, capacity: int, refresh_every: int = 1, max_uses: int = 0):
        self.capacity, self.refresh_every, self.max_uses = capacity, refresh_every, max_uses
        self.visible: deque[Example] = deque(maxlen=capacity)
        self.incoming: list[Example] = []

    def __len__(self) -> int:
        return len(self.visible)

    def push(self, examples: list[Example]) -> None:
        self.incoming.extend(examples)

    def refresh(self, step: int, force: bool = False) -> None:
        """Make pushed examples visible on refresh steps; the deque drops the oldest beyond capacity."""
        if force or step % self.refresh_every == 0:
            self.visible.extend(self.incoming)
            self.incoming = []

    def draw(self, n: int) -> list[Example]:
        """Up to ``n`` examples, least used first and newest first among equals.

        With ``max_uses`` set, an example drawn that often is never drawn again: each step
        then learns only from rows it has not yet used up (``max_uses = 1``: fresh rows
        only, as on-policy methods such as GRPO do), so rows skipped for a zero advantage
        save their compute instead of being replaced by older ones.
        """
        usable = [i for i in range(len(self.visible)) if not self.max_uses or self.visible[i].uses < self.max_uses]
        order = sorted(usable, key=lambda i: (self.visible[i].uses, -i))
        chosen = [self.visible[i] for i in order[:n]]
        for example in chosen:
            example.uses += 1
        return chosen

    def state_dict(self) -> dict[str, Any]:
        return {"visible": [e.to_dict() for e in self.visible], "incoming": [e.to_dict() for e in self.incoming]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.visible = deque((Example.from_dict(e) for e in state["visible"]), maxlen=self.capacity)
        self.incoming = [Example.from_dict(e) for e in state["incoming"]]
