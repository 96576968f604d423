"""rltf: online reinforcement learning from unit-test feedback for code LLMs."""

__version__ = "0.1.0"
