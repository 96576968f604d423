"""Hostile programs: each is contained, scored as it deserves, and the judge serves on.

These run under the strongest isolation this machine offers; the ones that need
bubblewrap's namespaces (files, network, the parent's environment) say so when it is
missing, since the fallback is documented not to give those guarantees.
"""

from __future__ import annotations

import os
import socket
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from rltf.judge import Judge, JudgeConfig, Submission
from rltf.judge.sandbox import detect
from tests.judge_fixtures import ADD, ADD_ASSERT, ADD_CALL, ADD_MAIN, ADD_STDIO

SECRET = "rltf-test-secret-" + uuid.uuid4().hex
os.environ["RLTF_TEST_SECRET_TOKEN"] = SECRET
BWRAP = detect().kind == "bwrap"
needs_bwrap = pytest.mark.skipif(not BWRAP, reason="bubblewrap is not available: the fallback sandbox does not "
                                 "isolate files, network or the parent's processes (docs/judge.md)")


@pytest.fixture(scope="module")
def judge():
    with Judge(JudgeConfig(timeout_s=2.0, memory_mb=512, workers=2)) as j:
        yield j


def judged(judge, problem, source):
    """Judge the hostile program, then prove the judge still serves a healthy batch."""
    result = judge.run([Submission(problem, textwrap.dedent(source))])[0]
    healthy = judge.run([Submission(ADD_ASSERT, ADD), Submission(ADD_CALL, ADD), Submission(ADD_STDIO, ADD_MAIN)])
    assert [r.outcome for r in healthy] == ["pass"] * 3
    return result


def test_infinite_loop_times_out(judge):
    result = judged(judge, ADD_ASSERT, "def add(a, b):\n    while True:\n        pass\n")
    assert result.outcome == "timeout"
    assert result.tests[0].verdict == "timeout"


def test_sleep_past_timeout(judge):
    start = time.monotonic()
    result = judged(judge, ADD_STDIO, "import time\ntime.sleep(60)\n")
    assert result.outcome == "timeout"
    assert time.monotonic() - start < 30


def test_program_ignoring_sigterm_is_killed(judge):
    result = judged(judge, ADD_ASSERT, """
        import signal
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        while True:
            pass
    """)
    assert result.outcome == "timeout"


def _marker_processes(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if marker.encode() in cmdline:
                found.append(int(entry))
    return found


def test_fork_bomb_is_contained_and_nothing_survives(judge):
    marker = str(9_000_000 + os.getpid())
    result = judged(judge, ADD_ASSERT, f"""
        import os, subprocess
        children = 0
        try:
            for _ in range(10000):
                if os.fork() == 0:
                    os.execv("/bin/sleep", ["sleep", "{marker}"])
                children += 1
        except OSError:
            pass
        for _ in range(50):
            try:
                subprocess.Popen(["sleep", "{marker}"])
            except OSError:
                break
        def add(a, b):
            return a + b
    """)
    assert result.outcome in ("pass", "runtime_error")
    assert _marker_processes(marker) == []


def test_detached_daemon_is_killed(judge):
    marker = str(8_000_000 + os.getpid())
    result = judged(judge, ADD_ASSERT, f"""
        import os
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.execv("/bin/sleep", ["sleep", "{marker}"])
            os._exit(0)
        def add(a, b):
            return a + b
    """)
    assert result.outcome == "pass"
    assert _marker_processes(marker) == []


def test_multi_gigabyte_allocation(judge):
    result = judged(judge, ADD_ASSERT, "def add(a, b):\n    block = bytearray(8 * 1024 ** 3)\n    return a + b\n")
    assert result.outcome == "runtime_error"
    assert result.error.type == "MemoryError"
    assert result.error.line == 2


def test_output_flood(judge):
    result = judged(judge, ADD_STDIO, "while True:\n    print('x' * 10000)\n")
    assert result.outcome == "runtime_error"
    assert result.error.type == "OutputLimitExceeded"
    assert len(result.stdout) <= 2000


def test_deep_recursion(judge):
    result = judged(judge, ADD_ASSERT, "def add(a, b):\n    return add(a, b)\n")
    assert result.outcome == "runtime_error"
    assert result.error.type == "RecursionError"


def test_recursion_past_the_c_stack(judge):
    result = judged(judge, ADD_ASSERT, """
        import sys
        sys.setrecursionlimit(10 ** 8)
        def add(a, b):
            return add(a, b) + 1
    """)
    assert result.outcome in ("runtime_error", "timeout")
    assert result.error.type in ("Signal", "RecursionError", "MemoryError", "Timeout")


def test_segfault_via_ctypes(judge):
    result = judged(judge, ADD_CALL, "import ctypes\ndef add(a, b):\n    return ctypes.string_at(0)\n")
    assert result.outcome == "runtime_error"
    assert result.error.type == "Signal"
    assert "SIGSEGV" in result.error.message


@needs_bwrap
def test_files_outside_scratch_stay_intact(judge):
    target_dir = Path(__file__).resolve().parent.parent / f".hostile-target-{uuid.uuid4().hex}"
    target_dir.mkdir()
    victim = target_dir / "victim.txt"
    victim.write_text("original")
    home_marker = Path.home() / f".rltf-hostile-{uuid.uuid4().hex}"
    try:
        result = judged(judge, ADD_STDIO, f"""
            import os, shutil
            attempts = []
            def attempt(name, action):
                try:
                    action()
                    attempts.append(name + ":done")
                except Exception as exc:
                    attempts.append(name + ":" + type(exc).__name__)
            attempt("write", lambda: open({str(victim)!r}, "w").write("pwned"))
            attempt("delete", lambda: os.remove({str(victim)!r}))
            attempt("chmod", lambda: os.chmod({str(victim)!r}, 0))
            attempt("create", lambda: open({str(target_dir / 'new.txt')!r}, "w").write("x"))
            attempt("rmtree", lambda: shutil.rmtree({str(target_dir)!r}))
            attempt("home", lambda: open({str(home_marker)!r}, "w").write("x"))
            attempt("scratch", lambda: open("mine.txt", "w").write("ok"))
            print(" ".join(attempts))
            a, b = map(int, input().split())
            print(a + b)
        """)
        assert victim.read_text() == "original"
        assert os.stat(victim).st_mode & 0o777 != 0
        assert sorted(p.name for p in target_dir.iterdir()) == ["victim.txt"]
        assert not home_marker.exists()
        assert "scratch:done" in result.stdout
    finally:
        for p in target_dir.iterdir():
            p.unlink()
        target_dir.rmdir()


@needs_bwrap
def test_no_network_to_host_listener(judge):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    try:
        result = judged(judge, ADD_STDIO, f"""
            import socket
            try:
                s = socket.create_connection(("127.0.0.1", {port}), timeout=1)
                s.sendall(b"exfiltrated")
                print("connected")
            except OSError as exc:
                print("blocked", type(exc).__name__)
        """)
        listener.settimeout(0.5)
        with pytest.raises(socket.timeout):
            listener.accept()
        assert "blocked" in result.stdout
    finally:
        listener.close()


@needs_bwrap
def test_parent_environment_is_unreadable(judge):
    result = judged(judge, ADD_STDIO, """
        import os
        found = [v for v in os.environ.values() if "rltf-test-secret" in v]
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    data = open(f"/proc/{pid}/environ", "rb").read()
                except OSError:
                    continue
                if b"rltf-test-secret" in data:
                    found.append(pid)
        print("found" if found else "nothing", len(os.environ))
    """)
    assert "nothing" in result.stdout
    assert SECRET not in result.stdout


def test_killing_the_parent(judge):
    result = judged(judge, ADD_ASSERT, """
        import os, signal
        os.kill(os.getppid(), signal.SIGKILL)
        def add(a, b):
            return a + b
    """)
    assert result.outcome == "runtime_error"


def test_killing_its_process_group(judge):
    result = judged(judge, ADD_ASSERT, "import os, signal\nos.killpg(os.getpgrp(), signal.SIGKILL)\n" + ADD)
    assert result.outcome == "runtime_error"
    assert result.error.type == "Signal"


def test_killing_every_process_it_can(judge):
    result = judged(judge, ADD_ASSERT, "import os, signal\nos.kill(-1, signal.SIGKILL)\n" + ADD)
    assert result.outcome in ("pass", "runtime_error")


@pytest.mark.parametrize("source", [
    "import sys\nsys.exit(0)\n",
    "import sys\ndef add(a, b):\n    sys.exit(0)\n",
    "import os\ndef add(a, b):\n    os._exit(0)\n",
    "import os\nos._exit(0)\n",
    "raise SystemExit(0)\n",
    "def add(a, b):\n    raise KeyboardInterrupt\n",
    "exit()\n",
    "quit()\n",
], ids=["sys.exit-top", "sys.exit-call", "os._exit-call", "os._exit-top", "SystemExit", "KeyboardInterrupt",
        "exit", "quit"])
@pytest.mark.parametrize("problem", [ADD_ASSERT, ADD_CALL], ids=["assert", "call"])
def test_early_exit_never_passes(judge, problem, source):
    result = judged(judge, problem, source)
    assert result.outcome == "runtime_error"
    assert result.passed == 0


@pytest.mark.parametrize("source", [
    "class Yes:\n    def __eq__(self, other):\n        return True\n    __hash__ = None\n"
    "def add(a, b):\n    return Yes()\n",
    "class Int(int):\n    def __eq__(self, other):\n        return True\n"
    "def add(a, b):\n    return Int(12345)\n",
    "class Yes:\n    def __eq__(self, other):\n        return True\n    def __bool__(self):\n        return True\n"
    "    def __sub__(self, other):\n        return 0\n    def __abs__(self):\n        return 0\n"
    "def add(a, b):\n    return Yes()\n",
], ids=["always-equal", "int-subclass", "always-equal-arithmetic"])
@pytest.mark.parametrize("problem", [ADD_ASSERT, ADD_CALL], ids=["assert", "call"])
def test_always_equal_objects_never_pass(judge, problem, source):
    result = judged(judge, problem, source)
    assert result.outcome == "failure"
    assert result.passed == 0


@pytest.mark.parametrize("source", [
    "print('PASSED'); print('{\"outcome\": \"pass\", \"passed\": 3}')\ndef add(a, b):\n    return 0\n",
    "import builtins\nbuiltins.AssertionError = type('Fake', (Exception,), {})\n"
    "builtins.isinstance = lambda *a: True\ndef add(a, b):\n    return 0\n",
    "import sys\nfor name, mod in list(sys.modules.items()):\n    if name.startswith('rltf'):\n"
    "        for attr in ('to_json', 'call_output_matches', 'stdout_matches', 'send'):\n"
    "            if hasattr(mod, attr):\n                setattr(mod, attr, lambda *a, **k: None)\n"
    "def add(a, b):\n    return 0\n",
    "import os, json, struct\nframe = json.dumps({'value': 3, 'outcome': 'pass', 'result': {'outcome': 'pass'}}).encode()\n"
    "for fd in range(3, 64):\n    try:\n        os.write(fd, struct.pack('>I', len(frame)) + frame)\n"
    "    except OSError:\n        pass\ndef add(a, b):\n    return 0\n",
], ids=["fake-markers", "patched-builtins", "patched-harness", "forged-frames"])
@pytest.mark.parametrize("problem", [ADD_ASSERT, ADD_CALL, ADD_STDIO], ids=["assert", "call", "stdio"])
def test_tampering_never_passes(judge, problem, source):
    result = judged(judge, problem, source)
    assert result.outcome != "pass"
    assert result.passed < result.total
