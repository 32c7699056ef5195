"""`synthlift COMMAND ...` (also `python -m synthlift`): the user's entry points under one name.

- `synthlift compare [OVERRIDES]`: does synthetic data help on my data, and which generator (synthlift.compare);
- `synthlift report SWEEP_DIR`: judge every configuration of a sweep (synthlift.report).
Experiments and sweeps themselves run with `synthlift-run` / `python -m synthlift.run` (Hydra's command line).
"""

from __future__ import annotations

import sys

USAGE = "usage: synthlift {compare,report} ...  (synthlift compare --help, synthlift report --help)"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "compare":
        from synthlift.compare import compare

        return compare(rest)
    if command == "report":
        from synthlift.report.__main__ import main as report

        return report(rest)
    print(f"synthlift: unknown command {command!r}\n{USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
