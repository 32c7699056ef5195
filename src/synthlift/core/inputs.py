"""The content of a run's input files, part of its config fingerprint.

A resumed sweep skips a job whose results.json finished with the same config. The config names a data
file by its path, so replacing the file's content under the same path would leave a result of the old
data standing as "finished". Every existing file or folder the config names is therefore digested
(size and SHA-256 of each file) and the digests enter the fingerprint: new content, stale result, rerun.

Hashing a folder of images on every job start would cost seconds, so digests are memoised per file by
(path, size, mtime) in a JSON file in the shared cache; a lost race on that memo only costs a rehash.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from synthlift.core.io import atomic_write_json

MEMO_FILE = "input_digests.json"
CHUNK = 1 << 20
BASE_FOLDER_KEYS = frozenset({"data_dir"})  # e.g. a dataset's `data_dir`, kept only to explain a missing file


def named_paths(config: Any) -> Iterator[Path]:
    """Every string in the (semantic) config that names an existing file or folder. Only path-like
    strings count (an absolute path, or one with a '/' or a file suffix), so a plain word such as a
    dataset's `name` never matches a folder that happens to exist in the working directory; keys in
    `BASE_FOLDER_KEYS` name where data lives, not what a run reads, and are skipped."""
    if isinstance(config, dict):
        for key, value in config.items():
            if key not in BASE_FOLDER_KEYS:
                yield from named_paths(value)
    elif isinstance(config, list):
        for value in config:
            yield from named_paths(value)
    elif isinstance(config, str) and config.strip() and ("/" in config or Path(config).suffix):
        path = Path(config).expanduser()
        if path.exists():
            yield path.resolve()


class InputDigests:
    """SHA-256 digests of files and folders, memoised by (path, size, mtime) in `memo_path`."""

    def __init__(self, memo_path: str | os.PathLike) -> None:
        self.memo_path = Path(memo_path)
        try:
            self.memo: dict[str, str] = json.loads(self.memo_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.memo = {}
        self.changed = False

    def file(self, path: Path) -> str:
        stat = path.stat()
        key = f"{path}|{stat.st_size}|{stat.st_mtime_ns}"
        if key not in self.memo:
            digest = hashlib.sha256()
            with open(path, "rb") as handle:
                while chunk := handle.read(CHUNK):
                    digest.update(chunk)
            self.memo[key], self.changed = f"{stat.st_size}:{digest.hexdigest()}", True
        return self.memo[key]

    def of(self, path: Path) -> str:
        """A file's size and hash; a folder's hash over its files' relative paths and digests."""
        if path.is_file():
            return self.file(path)
        listing = sorted(p for p in path.rglob("*") if p.is_file())
        lines = "\n".join(f"{p.relative_to(path).as_posix()}\t{self.file(p)}" for p in listing)
        return f"{len(listing)} files:{hashlib.sha256(lines.encode('utf-8')).hexdigest()}"

    def save(self) -> None:
        if self.changed:
            atomic_write_json(self.memo_path, self.memo)
            self.changed = False


def input_digests(config: dict[str, Any], cache_dir: str | os.PathLike) -> dict[str, str]:
    """{path: digest} of every file or folder the config names (empty when it names none)."""
    digests = InputDigests(Path(cache_dir) / MEMO_FILE)
    found = {str(path): digests.of(path) for path in sorted(set(named_paths(config)))}
    digests.save()
    return found
