"""Reading a provider's options: a misspelt or ill-typed option is the user's error, in one line.

Checked when a provider first sees its options, since a misspelt option would otherwise
change training silently. Every error is an ``RltfError``, which stops the run (see
``rltf_score`` in ``rltf.hookspecs``). Third-party providers may use this too.
"""

from __future__ import annotations

import math
from types import MappingProxyType
from typing import Any, Mapping, Sequence

from rltf.errors import RltfError


class OptionReader:
    """The options of one provider, checked against the names it knows."""

    def __init__(self, provider: str, options: Mapping[str, Any], known: Sequence[str]):
        self.provider, self.options = provider, options
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise RltfError(f"unknown option {unknown[0]!r} for feedback provider {provider!r}; "
                            f"valid options: {', '.join(known)}")

    def error(self, name: str, problem: str) -> RltfError:
        return RltfError(f"option {name!r} of feedback provider {self.provider!r} {problem}")

    def flag(self, name: str, default: bool) -> bool:
        value = self.options.get(name, default)
        if not isinstance(value, bool):
            raise self.error(name, f"must be true or false, not {value!r}")
        return value

    def number(self, name: str, default: float, positive: bool = False) -> float:
        return self._number(name, self.options.get(name, default), positive)

    def _number(self, name: str, value: Any, positive: bool = False) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.error(name, f"must be a finite number, not {value!r}")
        if positive and value <= 0:
            raise self.error(name, f"must be positive, not {value!r}")
        return float(value)

    def choice(self, name: str, default: str, choices: Sequence[str]) -> str:
        value = self.options.get(name, default)
        if value not in choices:
            raise self.error(name, f"must be one of {', '.join(choices)}, not {value!r}")
        return value

    def table(self, name: str, defaults: Mapping[str, float], what: tuple[str, str]) -> Mapping[str, float]:
        """Numbers by key; keys left out keep their defaults, so one entry can be retuned alone.

        ``what`` names a key, singular and plural, for the messages ("outcome", "outcomes").
        """
        overrides = self.options.get(name, {})
        if not isinstance(overrides, Mapping):
            raise self.error(name, f"must be a table of {what[1]}")
        unknown = sorted(set(overrides) - set(defaults))
        if unknown:
            raise RltfError(f"unknown {what[0]} {unknown[0]!r} in option {name!r} of feedback provider "
                            f"{self.provider!r}; {what[1]}: {', '.join(defaults)}")
        checked = {key: self._number(f"{name}.{key}", value) for key, value in overrides.items()}
        return MappingProxyType({**defaults, **checked})
