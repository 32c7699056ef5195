"""`python -m benchmarks [--quick] [--only text|image]` (`make bench`): speed and memory of each stage.

Prints a table and writes `outputs/bench/<track>.json` atomically. Numbers depend on the machine and on
what else runs on it; compare runs on the same machine. Each module's docstring states its goals.
"""

from __future__ import annotations

import argparse
import resource

import pandas as pd

from benchmarks import image, text
from synthlift.core.io import atomic_write_json
from synthlift.core.paths import PROJECT_ROOT

TRACKS = {"text": text, "image": image}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer texts and steps")
    parser.add_argument("--only", choices=sorted(TRACKS), help="one track")
    args = parser.parse_args()
    for name, module in TRACKS.items():
        if args.only and name != args.only:
            continue
        rows = module.run(args.quick)
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        rows.append({"stage": "peak RSS of this process so far", "n": 0, "seconds": 0.0, "rate": f"{peak_mib:.0f} MiB"})
        print(f"\n== {name}\n" + pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        out = PROJECT_ROOT / "outputs" / "bench" / f"{name}.json"
        atomic_write_json(out, rows)
        print(f"written: {out}")


if __name__ == "__main__":
    main()
