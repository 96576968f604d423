"""The pylint worker process: lints batches of programs for ``rltf_pylint.worker``.

It is a process of its own so that pylint's start-up is paid once per run rather than once per
program, and so that a program pylint crashes or hangs on takes down only this process, which
the trainer then replaces. pylint parses the programs and never executes them.

Started as ``python -I server.py WORKDIR`` with ``PYLINTHOME=WORKDIR`` (where pylint writes its
crash reports). It depends on pylint alone, not on rltf. The protocol is JSON, one object a
line: this process first answers ``{"ready": ...}``; then for each request ``{"config": ...,
"programs": [...], "preambles": [...]}`` it answers ``{"at": i}`` each time it starts parsing
or linting program ``i`` (so the caller can tell a hang from a long batch and name the program),
then ``{"messages": [[message, ...] per program], "stray": [...], "max_rss_mb": ...}``, or
``{"error": ...}`` for a configuration pylint does not accept.
"""

from __future__ import annotations

import functools
import json
import os
import resource
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Sequence

import astroid
import pylint
from pylint.exceptions import UnknownMessageError
from pylint.lint import PyLinter
from pylint.message import Message
from pylint.reporters import BaseReporter

# Address-space cap: pylint on the MBPP programs stays near 100 MB resident; this only stops a
# runaway inference from taking the machine's memory (it then dies and is replaced).
MEMORY_LIMIT_BYTES = 4 << 30
PARENT_POLL_S = 1.0


class ProgramLinter(PyLinter):
    """A linter that ignores ``# pylint:`` pragmas in the programs it checks."""

    _needed_checkers: list[Any] | None = None

    def process_tokens(self, tokens: Any) -> None:
        """The program under judgement must not switch off its own penalties (a policy would
        learn to write ``# pylint: disable=all``), so module and line pragmas are not read."""

    def prepare_checkers(self) -> list[Any]:
        """Chosen once: which messages are on never changes after the linter is built (pragmas
        are ignored), and choosing again costs half of a one-program batch."""
        if self._needed_checkers is None:
            self._needed_checkers = super().prepare_checkers()
        return self._needed_checkers


class Collector(BaseReporter):
    """Keeps each message with the program it belongs to and announces progress."""

    name = "rltf-collector"

    def __init__(self, announce: Callable[[int], None]) -> None:
        super().__init__()
        self.announce = announce
        self.index: dict[str, int] = {}
        self.messages: list[list[dict[str, Any]]] = []
        self.stray: list[str] = []

    def expect(self, paths: Sequence[str]) -> None:
        self.index = {path: i for i, path in enumerate(paths)}
        self.messages = [[] for _ in paths]
        self.stray = []

    def on_set_current_module(self, module: str, filepath: str | None) -> None:
        if filepath in self.index:
            self.announce(self.index[filepath])

    def handle_message(self, msg: Message) -> None:
        index = self.index.get(msg.abspath)
        if index is None:
            self.stray.append(f"{msg.path}:{msg.line}: {msg.msg_id} {msg.msg}")
            return
        self.messages[index].append({
            "category": msg.category, "msg_id": msg.msg_id, "symbol": msg.symbol,
            "line": msg.line, "end_line": msg.end_line, "message": msg.msg,
        })

    def _display(self, layout: Any) -> None:
        """Messages go back to the caller as data; there is no report to display."""


def build_linter(config: dict[str, list[str]], reporter: Collector) -> ProgramLinter:
    """A linter with the caller's message selection; the defaults may name messages that an
    older pylint lacks, the caller's own choices must all exist."""
    linter = ProgramLinter(reporter=reporter)
    linter.load_default_plugins()
    linter.set_option("persistent", False)
    for name in config["defaults"]:
        linter.disable(name, ignore_unknown=True)
    for option, switch in (("disable", linter.disable), ("enable", linter.enable)):
        for name in config[option]:
            try:
                switch(name)
            except UnknownMessageError as error:
                raise ValueError(f"option {option!r}: {error}") from None
    for name in config["always_off"]:
        linter.disable(name, ignore_unknown=True)
    return linter


@functools.lru_cache(maxsize=64)
def preamble_names(preamble: str) -> tuple[str, ...]:
    """Names the problem's preamble binds (star imports included), which the program may use
    without defining them: the judge runs the preamble in the program's namespace."""
    return tuple(sorted(astroid.parse(preamble).locals)) if preamble else ()


class Server:
    """One linter, rebuilt only when the requested message selection changes."""

    def __init__(self, workdir: Path, channel: IO[str]) -> None:
        self.workdir = workdir
        self.channel = channel
        self.reporter = Collector(lambda index: self.send({"at": index}))
        self.current: tuple[dict[str, list[str]], ProgramLinter] | None = None

    def send(self, message: dict[str, Any]) -> None:
        self.channel.write(json.dumps(message) + "\n")
        self.channel.flush()

    def serve(self, requests: Iterable[str]) -> None:
        self.send({"ready": True, "pylint": pylint.__version__, "astroid": astroid.__version__})
        for line in requests:
            request = json.loads(line)
            try:
                linter = self.linter_for(request["config"])
            except ValueError as error:
                self.send({"error": str(error)})
                continue
            self.send(self.lint(linter, request["programs"], request["preambles"]))

    def linter_for(self, config: dict[str, list[str]]) -> ProgramLinter:
        if self.current is None or self.current[0] != config:
            self.current = (config, build_linter(config, self.reporter))
        return self.current[1]

    def lint(self, linter: ProgramLinter, programs: list[str], preambles: list[str]) -> dict[str, Any]:
        """One pylint pass per distinct preamble (usually one per batch)."""
        paths = [self.write(i, program) for i, program in enumerate(programs)]
        self.reporter.expect(paths)
        try:
            for preamble in dict.fromkeys(preambles):
                linter.set_option("additional-builtins", preamble_names(preamble))
                linter.check([path for path, own in zip(paths, preambles) if own == preamble])
        finally:
            self.forget(len(programs))
        return {"messages": self.reporter.messages, "stray": self.reporter.stray,
                "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}

    def write(self, index: int, program: str) -> str:
        """Lone surrogates cannot be UTF-8; written as they are, pylint reports a syntax error."""
        path = self.workdir / f"program_{index}.py"
        path.write_text(program, encoding="utf-8", errors="surrogatepass")
        return str(path)

    def forget(self, count: int) -> None:
        """Remove the batch's files and crash reports and drop its modules from astroid's cache.

        Only the programs are dropped: what they imported (the standard library) stays parsed,
        which is most of the speed of a warm worker. ``astroid.MANAGER.clear_cache()`` would
        re-parse it every batch, and measured slower with memory growing faster.
        """
        for entry in self.workdir.iterdir():
            entry.unlink()
        for index in range(count):
            astroid.MANAGER.astroid_cache.pop(f"program_{index}", None)


def exit_with_parent() -> None:
    """A worker busy on a hanging program never reads the end of its input, so it watches its
    parent instead: the trainer's death must not leave it running."""
    parent = os.getppid()
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_S)
    os._exit(1)


def main() -> None:
    hard = resource.getrlimit(resource.RLIMIT_AS)[1]
    limit = MEMORY_LIMIT_BYTES if hard == resource.RLIM_INFINITY else min(hard, MEMORY_LIMIT_BYTES)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    threading.Thread(target=exit_with_parent, daemon=True).start()
    # The protocol gets a private copy of stdout; anything pylint prints goes to stderr.
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    workdir = Path(sys.argv[1]).resolve()
    os.chdir(workdir)
    Server(workdir, channel).serve(line for line in sys.stdin if line.strip())


if __name__ == "__main__":
    main()
