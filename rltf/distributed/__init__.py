"""Many processes, GPUs and machines through torch.distributed (launched by torchrun).

``world``: the ranks and the collectives rltf uses; ``bench``: ``rltf bench`` as one shard per
rank, merged by rank 0. The trainer takes a ``World`` and splits each step's work by it.
"""
