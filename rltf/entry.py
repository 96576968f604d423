"""The ``rltf`` command: loading the CLI's libraries takes a moment, and a Ctrl-C then is one
line too, not a traceback from inside some import."""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from rltf.cli import app
    except KeyboardInterrupt:
        sys.stderr.write("interrupted: before starting; nothing was done\n")
        raise SystemExit(130) from None
    app(prog_name="rltf")
