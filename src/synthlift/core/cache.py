"""Content-addressed on-disk cache shared by every job of a sweep (embeddings, pretrained GANs).

An entry is created once under a file lock and published by atomic rename, so concurrent jobs
neither corrupt an entry nor compute it twice.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from synthlift.core.io import atomic_path, file_lock


def fingerprint(*parts: Any) -> str:
    """A stable hex digest of JSON-serialisable parts (dicts are key-sorted)."""
    payload = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def get_or_create(path: str | Path, create: Callable[[Path], None]) -> tuple[Path, bool]:
    """Return `(path, created)`; if `path` is missing, `create(tmp)` writes it and it is renamed in.

    `created` is False when the entry already existed (a cache hit), including when another job
    finished creating it while this one waited for the lock.
    """
    path = Path(path)
    if path.exists():
        return path, False
    with file_lock(path.parent / f".{path.name}.lock"):
        if path.exists():
            return path, False
        with atomic_path(path) as tmp:
            create(tmp)
    return path, True
