"""rltf: online reinforcement learning from unit-test feedback for code LLMs."""

__version__ = "0.1.0"


def __getattr__(name: str):
    """``rltf.hookimpl`` for plugins, imported lazily: judge workers import ``rltf`` too and stay small."""
    if name in ("hookimpl", "hookspec"):
        from rltf import hookspecs

        return getattr(hookspecs, name)
    raise AttributeError(f"module 'rltf' has no attribute {name!r}")
