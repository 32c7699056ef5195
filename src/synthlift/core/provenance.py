"""The code that made a result: the git commit of synthlift's source, and whether that source was edited.

A results.json records its resolved config and the versions of the packages it ran on, but a number also
depends on synthlift's own code: a fix to a metric or a generator changes results while the config stays
the same. Without the code version, a table that aggregates runs made before and after such a change mixes
two measurements without saying so, and a number cannot be traced back to the code that produced it. So
every record carries `code_version()`, and the generated tables list the code versions of their runs and
flag a mix (`report/provenance.py`).

Only synthlift's source directory counts: an edited test, README or generated table does not make a run
"dirty". The config is recorded in full beside it, and the other packages in `versions`. A source edited
but not committed is recorded as dirty, with a hash of its changes (tracked and untracked files), so runs
of two different edits of one commit are told apart. The code version is not part of the resume
fingerprint: a finished run is not rerun because the code changed (the table flags the mix instead).
"""

from __future__ import annotations

import functools
import hashlib
import os
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import synthlift

GIT_TIMEOUT_S = 10
UNKNOWN_LABEL = "unknown (recorded before provenance)"


def package_version() -> str | None:
    """The installed synthlift distribution's version, or None when it is not installed (run from a tree)."""
    try:
        return metadata.version("synthlift")
    except metadata.PackageNotFoundError:
        return None


def _git(directory: Path, *args: str) -> bytes:
    """`git -C directory args...`'s output; raises when git is missing, fails or hangs."""
    return subprocess.run(
        ["git", "-C", str(directory), *args],
        capture_output=True,
        check=True,
        timeout=GIT_TIMEOUT_S,
        # Reading only: `git status` must not take the index lock from someone committing at the same time.
        env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},
    ).stdout


def _changes_sha256(directory: Path, diff: bytes, untracked: list[str]) -> str:
    """SHA-256 of the tracked files' diff against HEAD and of each untracked file's name and content."""
    digest = hashlib.sha256(diff)
    for name in untracked:
        digest.update(b"\0untracked\0" + name.encode() + b"\0")
        try:
            digest.update((directory / name).read_bytes())
        except OSError:  # deleted since git listed it
            digest.update(b"\0unreadable\0")
    return digest.hexdigest()


def code_version_at(directory: str | Path) -> dict[str, Any]:
    """The code version of the source in `directory` (uncached; `code_version` is this for synthlift's).

    `{"source": "git", "commit": <40 hex>, "dirty": bool, "diff_sha256": <hex> | None, "version": ...}` when
    `directory` holds files tracked by git: dirty when a tracked file under it differs from HEAD or an
    untracked, not ignored file lies under it; `diff_sha256` hashes those changes (None when clean).
    `{"source": "package", "commit": None, "dirty": None, "diff_sha256": None, "version": ...}` when git is
    missing or the source is not in a git work tree (an installed package): only its version is known.
    `version` is the installed synthlift package's version (None when not installed)."""
    directory = Path(directory)
    version = package_version()
    try:
        if not _git(directory, "ls-files", "--", ".").strip():  # e.g. installed inside an ignored .venv/
            raise ValueError(f"{directory} holds no file tracked by git")
        commit = _git(directory, "rev-parse", "--verify", "HEAD").decode().strip()
        # Paths relative to `directory`, which `-C` makes the pathspec's base: changes under it only.
        modified = _git(directory, "status", "--porcelain", "--untracked-files=no", "--", ".").strip()
        untracked = _git(directory, "ls-files", "--others", "--exclude-standard", "-z", "--", ".").decode()
        untracked_names = sorted(name for name in untracked.split("\0") if name)
        diff = _git(directory, "diff", "HEAD", "--no-ext-diff", "--binary", "--", ".") if modified else b""
    except (OSError, subprocess.SubprocessError, ValueError):  # UnicodeDecodeError is a ValueError
        return {"source": "package", "commit": None, "dirty": None, "diff_sha256": None, "version": version}
    dirty = bool(modified or untracked_names)
    return {
        "source": "git",
        "commit": commit,
        "dirty": dirty,
        "diff_sha256": _changes_sha256(directory, diff, untracked_names) if dirty else None,
        "version": version,
    }


@functools.cache
def _synthlift_code_version() -> dict[str, Any]:
    return code_version_at(Path(synthlift.__file__).resolve().parent)


def code_version() -> dict[str, Any]:
    """The code version of the running synthlift (see `code_version_at`), found once per process: the code
    a process runs is the code it imported when it started."""
    return dict(_synthlift_code_version())


def short_label(code: dict[str, Any] | None) -> str:
    """`3fa1b2c`, `3fa1b2c+dirty(ab12cd34)`, `synthlift 0.1.0 (no git)`, or `unknown (recorded before
    provenance)` for a record without `code`."""
    if not isinstance(code, dict):
        return UNKNOWN_LABEL
    if code.get("source") == "git" and code.get("commit"):
        label = str(code["commit"])[:7]
        if code.get("dirty"):
            label += f"+dirty({str(code.get('diff_sha256') or '?')[:8]})"
        return label
    version = code.get("version")
    return f"synthlift {version} (no git)" if version else "synthlift, unknown version (no git)"
