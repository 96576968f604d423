"""Fail fast, with the ways out, when the Hugging Face hub cannot be reached.

Without network, huggingface_hub retries each request with backoff for about 25 seconds
before giving up, and its final error names neither of the two things a user can do: set
``HF_HUB_OFFLINE=1`` to read only the local cache, or point rltf at a local copy (a model
folder, ``--data-path``). One short TCP connection to the hub, made once per process,
tells in seconds which case this is, so a load can fail at once with a one-line hint, or
go straight to a cached copy when there is one. With ``HF_HUB_OFFLINE`` set nothing is
probed: the libraries read the cache themselves.

No torch here: dataset loaders, the judge and ``rltf eval`` import this module.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import threading
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

from rltf.errors import RltfError

log = logging.getLogger("rltf.hub")

DEFAULT_ENDPOINT = "https://huggingface.co"
PROBE_TIMEOUT_S = 3.0
OFFLINE_HINT = "set HF_HUB_OFFLINE=1 to use only the local cache"


@dataclass(frozen=True)
class ModelSource:
    """A ``--model`` name, what ``from_pretrained`` is given for it, and how it may fetch files."""

    name: str
    location: str
    local: bool
    local_files_only: bool = False

    def error(self, error: Exception) -> RltfError:
        """One line for a model the libraries failed to load; in offline mode, the way out."""
        first = (str(error).strip().splitlines() or [type(error).__name__])[0].rstrip(".")
        message = f"cannot load model {self.name!r}: {first}"
        if is_offline_mode() and not self.local:
            message += ("; HF_HUB_OFFLINE is set, so only the local cache was searched: unset it where the hub "
                        "can be reached, or give --model a local folder (model.name)")
        return RltfError(message)


def is_offline_mode() -> bool:
    """``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) exactly as the libraries read it,
    so rltf never probes when they will not connect, nor skips a probe when they will."""
    import huggingface_hub

    return huggingface_hub.is_offline_mode()


def hub_address() -> tuple[str, int]:
    """Host and port a request to the hub first connects to: ``HF_ENDPOINT``, or the proxy
    that the environment names for it, since a proxy user may have no direct route."""
    endpoint = urlsplit(os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT)
    host = endpoint.hostname or ""
    proxy = urllib.request.getproxies().get(endpoint.scheme)
    if proxy and not urllib.request.proxy_bypass(host):
        endpoint = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        host = endpoint.hostname or ""
    return host, endpoint.port or (443 if endpoint.scheme == "https" else 80)


def unreachable_reason() -> str | None:
    """Why the hub cannot be reached now, or None when it can or offline mode forbids asking."""
    if is_offline_mode():
        return None
    return probe(*hub_address())


@functools.lru_cache(maxsize=None)
def probe(host: str, port: int) -> str | None:
    """None when a TCP connection to ``host:port`` opens within ``PROBE_TIMEOUT_S``, else why not.

    Resolution and connection run in a daemon thread: a resolver that hangs cannot hold the
    caller past the timeout, and the thread cannot keep the process alive at exit.
    """
    outcome: list[str | None] = []
    thread = threading.Thread(target=_connect, args=(host, port, outcome), name="rltf-hub-probe", daemon=True)
    thread.start()
    thread.join(PROBE_TIMEOUT_S)
    return outcome[0] if outcome else f"no answer from {host}:{port} within {PROBE_TIMEOUT_S:g} s"


def _connect(host: str, port: int, outcome: list[str | None]) -> None:
    try:
        socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S).close()
        outcome.append(None)
    except socket.gaierror as err:
        outcome.append(f"cannot resolve {host}: {err.strerror or err}")
    except OSError as err:
        outcome.append(f"cannot connect to {host}:{port}: {err.strerror or err}")


def looks_like_path(name: str) -> bool:
    """A name no hub id can be, so the user meant a folder on this machine."""
    return name.startswith((".", "/", "~")) or "\\" in name or name.count("/") > 1 or name.endswith("/")


def model_source(name: str) -> ModelSource:
    """A ``--model`` name as a local folder or a hub id that can be loaded now.

    transformers takes any name that is not an existing folder for a hub id, so a mistyped
    path would be refused for its characters, or retried against the hub; both are told
    here as what they are.
    """
    path = Path(name).expanduser()
    if path.is_dir():
        return ModelSource(name, str(path), local=True)
    if path.exists():
        raise RltfError(f"--model {name}: not a folder; give the folder holding config.json and the weights")
    if looks_like_path(name):
        raise RltfError(f"--model {name}: no such folder")
    _check_repo_id(name)
    cached = cached_copy(name, "config.json", "model", lambda reason: RltfError(
        f"cannot load model {name!r}: the Hugging Face hub cannot be reached ({reason}) and the model is not "
        f"in the local cache; give --model a local folder (model.name), or fetch the model into the cache "
        f"where there is network and {OFFLINE_HINT}"))
    return ModelSource(name, name, local=False, local_files_only=cached is not None)


def _check_repo_id(name: str) -> None:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(name)
    except HFValidationError as err:
        raise RltfError(f"--model {name}: no such folder, nor a Hugging Face model id ({err})") from None


def cached_copy(repo_id: str, filename: str, repo_type: str, error: Callable[[str], RltfError]) -> str | None:
    """The cached ``filename`` of the repo when the hub cannot be reached, to be used without
    asking the hub; None when the hub may be asked. ``error(reason)`` is raised when the hub
    cannot be reached and the file is not cached either."""
    reason = unreachable_reason()
    if reason is None:
        return None
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(repo_id, filename, repo_type=repo_type)
    if not isinstance(cached, str):
        raise error(reason)
    log.warning("the Hugging Face hub cannot be reached (%s); using the cached copy of %s", reason, repo_id)
    return cached


def dataset_error(what: str, reason: str, local_copies: str) -> RltfError:
    return RltfError(
        f"could not load {what} from the Hugging Face hub: it cannot be reached ({reason}); pass --data-path "
        f"to a local copy (offline copies live under ../shared/data: {local_copies}), or {OFFLINE_HINT}"
    )


def check_dataset_hub(what: str, local_copies: str) -> None:
    """Fail at once, not after the download's retries, when the hub cannot be reached."""
    reason = unreachable_reason()
    if reason is not None:
        raise dataset_error(what, reason, local_copies)


def dataset_cached_copy(repo_id: str, filename: str, what: str, local_copies: str) -> str | None:
    """As ``cached_copy``, for one file of a dataset repo."""
    return cached_copy(repo_id, filename, "dataset", lambda reason: dataset_error(what, reason, local_copies))
