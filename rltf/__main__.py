"""``python -m rltf``: the CLI, for launchers that start a module (``torchrun -m rltf bench ...``)."""

from rltf.cli import app

app(prog_name="rltf")
