"""Run every benchmark and print its rows as a table: `python -m bench` (`make bench`);
`python -m bench bench.bpe ...` runs those alone. Each benchmark's rows also go
to RESULTS.md (bench.results), with the date, commit, machine, load and seed.

Add a benchmark by writing a module with `run() -> list[dict]` (and `SEED`, a
sentence on its seeds, where it draws at random) and listing it below.
"""
from __future__ import annotations

import importlib
import os
import sys
import time

BENCHMARKS = [
    "bench.pretraining_data",
    "bench.bpe",
    "bench.grading",
    "bench.gradescope",
    "bench.masked_lm",
    "bench.causal_lm",
    "bench.span_corruption",
    "bench.choosing_a_model",
]


def format_value(value) -> str:
    from bench import format_number
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, (int, float)):
        return format_number(value)
    return str(value)


def print_table(rows: list[dict]) -> None:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    cells = [[format_value(row.get(column, "")) for column in columns] for row in rows]
    widths = [max(len(column), *(len(line[i]) for line in cells)) for i, column in enumerate(columns)]
    print("  ".join(column.ljust(width) for column, width in zip(columns, widths)))
    for line in cells:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths)))


def main(names: list[str]) -> int:
    from bench import results
    failed = False
    for name in names or BENCHMARKS:
        print(f"== {name}")
        started, load = time.time(), os.getloadavg()[0]
        module = importlib.import_module(name)
        rows = module.run()
        print_table(rows)
        print()
        seed = getattr(module, "SEED", "none drawn (deterministic)")
        results.update({name: results.section(name, rows, started, load, seed)}, BENCHMARKS)
        failed |= any(row.get("ok") is False for row in rows)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
