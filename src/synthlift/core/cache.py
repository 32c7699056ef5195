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


def _sortable_keys(value: Any) -> Any:
    """`value` with every dict whose keys mix types (`{1: 0, "neg": 1}`, a label map read from YAML) keyed by
    `type:key` strings, which JSON can sort; dicts of one key type are left as they are, so their digests do not
    change. Without it json.dumps(sort_keys=True) raises TypeError comparing an int with a str."""
    if isinstance(value, dict):
        items = {key: _sortable_keys(item) for key, item in value.items()}
        if len({type(key) for key in items}) > 1:
            return {f"{type(key).__name__}:{key}": item for key, item in items.items()}
        return items
    if isinstance(value, list | tuple):
        return [_sortable_keys(item) for item in value]
    return value


def fingerprint(*parts: Any) -> str:
    """A stable hex digest of JSON-serialisable parts (dicts are key-sorted, whatever their keys' types)."""
    payload = json.dumps(_sortable_keys(parts), sort_keys=True, default=str, ensure_ascii=False)
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
