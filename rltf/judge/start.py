"""Start-up of a judge worker, in the order that keeps test data out of every program.

The worker sets up its descriptors, environment and scratch directory, loads what programs
use most, and forks its base zygote before it imports its own test-running code and before
it reads its first job. Only then does it become the worker.
"""

from __future__ import annotations

import json
import os
import sys
import warnings


def main() -> None:
    config = json.loads(sys.argv[1])
    proto_in, proto_out = os.dup(0), os.dup(1)
    os.dup2(2, 1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)

    from . import zygote
    from .confine import clean_environment, forbid_inspection

    forbid_inspection()
    os.environ.clear()
    os.environ.update(clean_environment(config["scratch"]))
    warnings.simplefilter("ignore", SyntaxWarning)
    _prepare_scratch(config)
    cgroup = config.get("cgroup") or {}
    zygote.join_cgroups(cgroup.get("cpu"))  # the worker's own decoding and tests share its programs' core
    for name in zygote.PRELOAD:
        __import__(name)
    base = zygote.start_base(config)

    from .worker import serve

    serve(base, config, proto_in, proto_out)


def _prepare_scratch(config: dict) -> None:
    """The programs' working directory (and, in the sandbox, ``/dev/shm``) belong to their uid."""
    os.makedirs(config["scratch"], mode=0o700, exist_ok=True)
    if config.get("uid") is not None:
        os.chown(config["scratch"], config["uid"], config["uid"])
    os.chmod(config["scratch"], 0o700)
