"""`synthlift-report SWEEP_DIR` / `python -m synthlift.report SWEEP_DIR`: exit 0 with the report
written, 1 when no run finished, 2 when the directory holds no results.json at all (or is missing), as for a
usage error."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from synthlift.core.errors import DataError
from synthlift.core.verdicts import CORRECTIONS, DecisionRule
from synthlift.report.render import print_report, write_report
from synthlift.report.summary import build_report


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of points, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="synthlift-report", description="Judge the lift of every configuration in a sweep."
    )
    parser.add_argument("sweep_dir", type=Path, help="a run or sweep output directory holding results.json files")
    parser.add_argument("--margin", type=_positive, default=1.0, help="equivalence margin δ in points (default 1)")
    parser.add_argument("--alpha", type=_fraction, default=0.05, help="level of every test (default 0.05)")
    parser.add_argument(
        "--correction", choices=sorted(CORRECTIONS), default="holm", help="multiplicity adjustment (default holm)"
    )
    parser.add_argument("--all-lifts", action="store_true", help="print every lift, not only the primary one")
    args = parser.parse_args(argv)
    rule = DecisionRule(margin=args.margin / 100, alpha=args.alpha, correction=args.correction)
    try:
        report = build_report(args.sweep_dir, rule)
    except DataError as exc:
        print(f"synthlift-report: {exc}", file=sys.stderr)
        return 2
    paths = write_report(report)
    print_report(report, all_lifts=args.all_lifts)
    print("wrote " + ", ".join(map(str, paths)))
    if not report.groups["n"].sum():  # a report of failures only is written, but is not a success
        print(f"synthlift-report: no finished run below {args.sweep_dir}, {len(report.failed)} failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
