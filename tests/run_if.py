"""`@RunIf(min_gpus=1)`, `@RunIf(data=True)`, `@RunIf(packages=[...])`: skip with a reason instead of failing
(after lightning-hydra-template's RunIf). The suite never needs a GPU; data-dependent tests need ../shared/data
(or $SYNTHLIFT_DATA_DIR), which CI has; tests of an optional extra (`.[llm]`) run where it is installed."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import pytest
import torch

from synthlift.core.paths import default_data_dir


def RunIf(  # noqa: N802 (reads as a marker)
    *, min_gpus: int = 0, data: bool = False, packages: Sequence[str] = ()
) -> pytest.MarkDecorator:
    conditions, reasons = [], []
    if missing_packages := [name for name in packages if importlib.util.find_spec(name) is None]:
        conditions.append(True)
        reasons.append(f"needs the package(s) {', '.join(missing_packages)}")
    if min_gpus:
        conditions.append(torch.cuda.device_count() < min_gpus)
        reasons.append(f"needs {min_gpus} GPU(s), found {torch.cuda.device_count()}")
    if data:
        missing = not (Path(default_data_dir()) / "text").is_dir()
        conditions.append(missing)
        reasons.append(f"needs the shared data directory {default_data_dir()} (set SYNTHLIFT_DATA_DIR)")
    failing = [reason for condition, reason in zip(conditions, reasons, strict=True) if condition]
    return pytest.mark.skipif(bool(failing), reason="; ".join(failing) or "runs everywhere")
