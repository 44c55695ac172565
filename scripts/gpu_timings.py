"""Times each notebook's default configuration (Run All, not grading mode) on
a GPU, for the README's performance table.

    python scripts/gpu_timings.py                       # solutions/*.ipynb on CUDA
    python scripts/gpu_timings.py --grading --allow-cpu solutions/01_tokenization.ipynb

Each notebook runs top to bottom in a fresh Python process of its own, its
code cells in an IPython shell, from the notebook's folder, as Run All runs
them. Recorded per notebook: the wall time of every cell, the training loop's
"Time budget ... used up" lines (a budget-bound run ends early, not late), an
error if a cell raised (the notebook stops there), and from the notebook's own
process afterwards: the device `lmcourse.runtime.pick_device()` chose, its
name, the autocast dtype it gets, and the peak CUDA memory (0 means no CUDA
work was done). Writes JSON (default reports/gpu_timings.json) and prints a
Markdown table.

Without CUDA it refuses to run unless --allow-cpu, so a CPU number is never
taken for a GPU one. --grading sets LMCOURSE_GRADING=1: the notebooks' own
tiny configuration, for a quick check of this script.

Needs torch, IPython, ipywidgets, matplotlib, tqdm, tokenizers, transformers,
regex and this repository on the path (`pip install -e .`, or PYTHONPATH=.).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BUDGET_LINE = re.compile(r"Time budget of .*? used up after \d+ of \d+ steps\.")
SLOWEST_SHOWN = 3

PROBE = """
import torch
from lmcourse.runtime import mixed_precision_dtype, pick_device
_device = pick_device()
{"device": str(_device),
 "device_name": torch.cuda.get_device_name(_device) if _device.type == "cuda" else "cpu",
 "autocast_dtype": str(mixed_precision_dtype(_device)),
 "peak_cuda_bytes": torch.cuda.max_memory_allocated() if torch.cuda.is_available() else 0,
 "torch": torch.__version__}
"""


class Tee(io.TextIOBase):
    """Writes to the console and keeps a copy."""

    def __init__(self, console):
        self.console, self.kept = console, io.StringIO()

    def write(self, text):
        self.kept.write(text)
        return self.console.write(text)

    def flush(self):
        self.console.flush()


def run_notebook(path: Path) -> dict:
    """Runs the notebook's code cells in this process; the record of one notebook."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    from IPython.core.interactiveshell import InteractiveShell

    notebook = json.loads(path.read_text(encoding="utf-8"))
    os.chdir(path.parent)  # where Jupyter starts a notebook's kernel
    # As JupyterLab sets it: the last cell's check_my_work() then grades this file, as a learner's
    # Run All does (without it, the self-check cannot tell which notebook it is in and raises).
    os.environ["JPY_SESSION_NAME"] = str(path)
    shell = InteractiveShell.instance()
    record = {"notebook": path.stem, "cells": [], "budget_lines": [], "error": None}
    start = time.perf_counter()
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        tee = Tee(sys.stdout)
        began = time.perf_counter()
        with contextlib.redirect_stdout(tee), contextlib.redirect_stderr(tee):
            result = shell.run_cell(source, store_history=True)
        seconds = time.perf_counter() - began
        first_line = source.strip().splitlines()[0] if source.strip() else ""
        record["cells"].append({"index": index, "first_line": first_line[:80], "seconds": round(seconds, 2)})
        record["budget_lines"] += [f"cell {index}: {line}" for line in BUDGET_LINE.findall(tee.kept.getvalue())]
        if not result.success:
            error = result.error_in_exec or result.error_before_exec
            record["error"] = f"cell {index} ({first_line[:60]!r}): {type(error).__name__}: {error}"
            break
    record["seconds"] = round(time.perf_counter() - start, 1)
    record.update(shell.run_cell(PROBE).result or {})
    return record


def run_in_subprocess(path: Path, grading: bool, timeout_s: float) -> dict:
    """One notebook in a fresh process (fresh CUDA memory counters; a crash or
    a hang costs only this notebook)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    env.pop("LMCOURSE_GRADING", None)
    env.pop("NBGRADER_EXECUTION", None)
    if grading:
        env["LMCOURSE_GRADING"] = "1"
    marker = "GPU_TIMINGS_RECORD "
    try:
        done = subprocess.run([sys.executable, __file__, "--one", str(path), "--marker", marker],
                              env=env, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"notebook": path.stem, "error": f"timed out after {timeout_s:g} s", "cells": []}
    for line in done.stdout.splitlines():
        if line.startswith(marker):
            return json.loads(line[len(marker):])
    return {"notebook": path.stem, "cells": [],
            "error": f"exited with status {done.returncode}: {done.stderr.strip()[-500:]}"}


def markdown_table(records: list[dict]) -> str:
    lines = ["| notebook | device | autocast | total (s) | slowest cells (s) | stopped by a time budget |",
             "|---|---|---|---|---|---|"]
    for r in records:
        slowest = sorted(r.get("cells", []), key=lambda cell: -cell["seconds"])[:SLOWEST_SHOWN]
        cells = ", ".join(f"{c['index']}: {c['seconds']:g}" for c in slowest)
        total = f"error: {r['error']}" if r.get("error") else f"{r.get('seconds', '')}"
        lines.append(f"| {r['notebook']} | {r.get('device_name', '?')} | {r.get('autocast_dtype', '?')} | "
                     f"{total} | {cells} | {len(r.get('budget_lines', []))} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="notebooks to time (default: solutions/[0-9][0-9]_*.ipynb)")
    parser.add_argument("--json", type=Path, default=REPO / "reports" / "gpu_timings.json")
    parser.add_argument("--grading", action="store_true", help="grading mode: the notebooks' tiny configuration")
    parser.add_argument("--allow-cpu", action="store_true", help="run even where CUDA is missing")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per notebook")
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)      # internal: run one notebook here
    parser.add_argument("--marker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.one:
        record = run_notebook(args.one.resolve())
        print(args.marker + json.dumps(record), flush=True)
        return 0

    import torch
    if not torch.cuda.is_available() and not args.allow_cpu:
        print("No CUDA device here: these would be CPU times. Pass --allow-cpu to run anyway.", file=sys.stderr)
        return 2
    paths = [p.resolve() for p in args.notebooks] or sorted((REPO / "solutions").glob("[0-9][0-9]_*.ipynb"))
    records = []
    for path in paths:
        print(f"{path.stem} ...", file=sys.stderr, flush=True)
        records.append(run_in_subprocess(path, args.grading, args.timeout))
        print(f"{path.stem}: {records[-1].get('seconds', '-')} s, error: {records[-1]['error']}",
              file=sys.stderr, flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"grading_mode": args.grading, "notebooks": records}, indent=2))
    print(markdown_table(records))
    return 1 if any(r["error"] for r in records) else 0


if __name__ == "__main__":
    sys.exit(main())
