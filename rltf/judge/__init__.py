"""Fast, isolated, tamper-resistant execution of generated programs against unit tests.

Names are imported on first use: sandboxed workers import ``rltf.judge.worker``, and
every module they load makes each fork of a worker dearer.
"""

from importlib import import_module

_EXPORTS = {
    "Judge": "pool", "JudgeConfig": "pool", "Submission": "pool",
    "JudgeResult": "result", "ProgramError": "result", "TestVerdict": "result", "Outcome": "result",
    "OUTCOMES": "result",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'rltf.judge' has no attribute {name!r}")
    return getattr(import_module(f"rltf.judge.{_EXPORTS[name]}"), name)
