"""Refusing, before anything is allocated, a setting that cannot fit in memory or would generate without end.

Why: a size no machine can hold (`augment.ratio=1e6`) is otherwise found by the kernel's out-of-memory killer,
which ends the job with no message and no results.json, and on a shared machine may take other jobs with it;
a procedural data set of a million images just generates for as long as it is allowed to. So each component
that allocates in proportion to a config value estimates what the value will cost as soon as the numbers
are known (its constructor where it can, else the start of its stage), and calls one of two checks here:

- `check_fits`: items x bytes per item (every copy held at once) must stay under `MEMORY_SAFETY_FRACTION` of the
  memory available now. Each component knows its own items and copies; this module only knows the machine.
- `check_count`: a documented cap for counts whose cost is time rather than memory (a procedural data set).

Both raise `ResourceLimitError`, an `InvalidArgument` that names the key, the estimate, the limit and what
to lower, so it is recorded as a failed run like any other impossible value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

from synthlift.core.errors import ResourceLimitError

# Estimates count only the largest arrays, and other jobs (a sweep's parallel workers) share the machine: a
# setting may take at most this share of the memory available when it is checked.
MEMORY_SAFETY_FRACTION = 0.5

_MEMINFO = Path("/proc/meminfo")
_CGROUP = Path("/sys/fs/cgroup")  # cgroup v2: a container's own limit, often far below the host's memory


def available_memory_bytes() -> int | None:
    """Memory this process can still take: the kernel's MemAvailable (free memory plus reclaimable cache),
    lowered to what a cgroup (container) limit leaves; None where neither can be read, so that only the
    count caps apply there rather than a guess refusing good settings."""
    known = [value for value in (_host_available(), _cgroup_headroom()) if value is not None]
    return min(known) if known else None


def _host_available() -> int | None:
    try:
        for line in _MEMINFO.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024  # reported in kB
    except (OSError, ValueError, IndexError):
        pass
    try:  # no /proc (e.g. macOS): free pages only, an underestimate, but a safe one
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _cgroup_headroom() -> int | None:
    """The cgroup's limit minus what it uses, not counting inactive file cache (the kernel reclaims that
    before it kills anything); None without a cgroup v2 memory limit."""
    try:
        limit = (_CGROUP / "memory.max").read_text().strip()
        if limit == "max":
            return None
        used = int((_CGROUP / "memory.current").read_text())
        stat = dict(line.split() for line in (_CGROUP / "memory.stat").read_text().splitlines())
        return max(int(limit) - used + int(stat.get("inactive_file", 0)), 0)
    except (OSError, ValueError):
        return None


def nbytes(value: Any) -> int:
    """Bytes held by the arrays (numpy or torch) in `value`, looking into dataclass fields, mappings and
    sequences: what one set of examples costs, so that a count of more like them can be priced."""
    if hasattr(value, "nbytes") and not isinstance(value, (str, bytes)):
        return int(value.nbytes)
    if is_dataclass(value) and not isinstance(value, type):
        return sum(nbytes(getattr(value, field.name)) for field in fields(value))
    if isinstance(value, Mapping):
        return sum(nbytes(item) for item in value.values())
    if isinstance(value, list | tuple):
        return sum(nbytes(item) for item in value)
    return 0


def format_bytes(count: float) -> str:
    """`1536` -> "1.5 KiB": sizes in messages, in the units `free -h` shows."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(count) < 1024 or unit == "TiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


def check_fits(
    argument: str, value: Any, *, items: int, item: str, bytes_per_item: float, counting: str, lower: str = "it"
) -> None:
    """Refuse `argument=value` if `items` x `bytes_per_item` exceeds `MEMORY_SAFETY_FRACTION` of the available
    memory. `item` names one item in the message ("synthetic examples"), `counting` what its bytes count (every
    copy held at once); `lower` says what the user can lower ("it": the key the message starts with). Passes
    when the available memory cannot be read."""
    available = available_memory_bytes()
    if available is None:
        return
    estimate = float(items) * bytes_per_item
    limit = available * MEMORY_SAFETY_FRACTION
    if estimate > limit:
        raise ResourceLimitError(
            argument,
            value,
            f"{items:,} {item} at about {format_bytes(bytes_per_item)} each ({counting}) need about "
            f"{format_bytes(estimate)} of memory, more than the limit of {format_bytes(limit)} "
            f"({MEMORY_SAFETY_FRACTION:.0%} of the {format_bytes(available)} available now); lower {lower}",
        )


def check_count(argument: str, value: int, *, cap: int, item: str, why: str, lower: str = "it") -> int:
    """`value` if it is at most `cap` (a documented limit on `item`s made, `why` saying what it protects),
    else `ResourceLimitError`."""
    if value > cap:
        raise ResourceLimitError(
            argument, value, f"it would make {value:,} {item}, more than the cap of {cap:,} ({why}); lower {lower}"
        )
    return value
