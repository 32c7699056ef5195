"""`synthlift-report SWEEP_DIR`: per-configuration lift statistics over the seeds of a sweep.

Every run's `results.json` below the sweep directory is read (`collect`); runs that share their
overrides except `seed=` form one configuration, whose per-seed lifts get a paired t CI and a verdict, judged
with the sweep's other configurations as one family (`summary`, through the layer every table shares: `lifts`).
Failed and unreadable runs are listed, never dropped, because a sweep where the "bad" seeds crashed
would otherwise report a rosier lift than it earned; metrics a run stored as null are listed with
their reason.

Writes `report.md`, `report.csv` and `forest.png` into the sweep directory, atomically (`render`).
The command line is `__main__`. The generated tables (`gupta2019`, `handsoff`, `leaderboard`, `label_budget`,
`tuning`) are modules of this package too, built on `lifts` and `tables`, as is `synthlift compare`
(`synthlift/compare.py`); `provenance` names the code versions behind a table and `predictors` asks which
quality metric predicts lift.
"""

from __future__ import annotations

from typing import Any

from synthlift.report.collect import group_key
from synthlift.report.render import write_report
from synthlift.report.summary import build_report

__all__ = ["build_report", "group_key", "main", "write_report"]


def __getattr__(name: str) -> Any:
    # `main` is imported on first use: importing __main__ here would make `python -m synthlift.report`
    # find it already imported and warn (runpy's RuntimeWarning).
    if name == "main":
        from synthlift.report.__main__ import main

        return main
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
