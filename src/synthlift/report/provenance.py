"""The code versions of the runs a table aggregates, and a warning when they are not one.

A table's runs may come from several invocations (a sweep resumed after a fix, stages run weeks apart):
finished runs are not rerun when the code changes, so a table can average numbers from different code.
It says so, from each record's `code` (core/provenance.py), instead of presenting them as one measurement.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

from synthlift.core.provenance import short_label

_CLEAN_COMMIT = re.compile(r"[0-9a-f]{7,40}")  # what short_label gives for a committed, unedited source


def code_label(record: dict[str, Any]) -> str:
    """The record's code version as a table shows it (`short_label` of its `code`)."""
    return short_label(record.get("code"))


def _runs(count: int) -> str:
    return f"{count} run" if count == 1 else f"{count} runs"


def code_versions_lines(labels: Iterable[str]) -> list[str]:
    """Markdown lines naming the code versions of a table's runs (one label per run): one line when they all
    come from one committed, unedited version; else a bold warning, then each version with its run count."""
    counts = Counter(labels)
    if not counts:
        return []
    if len(counts) == 1:
        [(label, count)] = counts.items()
        if _CLEAN_COMMIT.fullmatch(label):
            return [f"Code version of the runs: `{label}` ({_runs(count)})."]
        warning = (
            f"**Warning: the code of these runs (`{label}`) is not a committed version of synthlift; "
            "these numbers cannot be reproduced from the repository.**"
        )
    else:
        warning = (
            f"**Warning: these runs come from {len(counts)} different code versions; "
            "numbers from different code are not one measurement.**"
        )
    return [warning, "", *(f"- `{label}`: {_runs(count)}" for label, count in counts.most_common())]
