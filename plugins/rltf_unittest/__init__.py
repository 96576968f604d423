"""rltf's unit-test feedback: coarse, fine-grained and adaptive rewards (RLTF, arXiv 2307.04349)."""
