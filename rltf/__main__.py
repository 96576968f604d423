"""``python -m rltf``: the CLI, for launchers that start a module (``torchrun -m rltf bench ...``)."""

from rltf.entry import main

main()
