import os
import signal
from pathlib import Path

import pytest
import torch


def pytest_configure(config):
    """Ctrl-C tests need SIGINT to be an interrupt. A shell's background job (`pytest &`) starts with
    SIGINT ignored, which Python then keeps, and so would every process the tests start."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The benchmark files kept beside the repository (../shared/data), or $RLTF_SHARED_DATA.

    Missing data skips the tests that need it, except where RLTF_REQUIRE_SHARED_DATA=1 (CI)
    demands it: there a silent skip would hide that the real files were never read.
    """
    path = Path(os.environ.get("RLTF_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
    if not path.is_dir():
        reason = f"shared benchmark data not found at {path} (set RLTF_SHARED_DATA to its location)"
        if os.environ.get("RLTF_REQUIRE_SHARED_DATA") == "1":
            pytest.fail(f"{reason}; RLTF_REQUIRE_SHARED_DATA=1 requires it", pytrace=False)
        pytest.skip(reason)
    return path


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models run far faster on one thread than contending for a busy machine's cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
