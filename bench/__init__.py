"""Benchmarks (`make bench`, `python -m bench`): each module in `bench.__main__.BENCHMARKS`
exposes `run() -> list[dict]`, one row per measurement, printed as a table.

A row's keys are its columns. By convention a row has "benchmark", "seconds",
"baseline", "baseline_seconds" and "target", and "ok" (bool) says whether the
target was met; `python -m bench` exits 1 if any row says `ok: False`.
"""
from __future__ import annotations

import ast
import json
import os
import time
from pathlib import Path
from typing import Callable

import nbformat

REPO = Path(__file__).resolve().parent.parent
# A notebook's default run is repeated this many times (`BENCH_RUNS=1 make bench` for a quick look):
# its time budgets make the steps, and so the results, vary from run to run.
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
# Every notebook's wall-time targets on 2 CPU cores: a Run All in default settings, and grading mode.
NOTEBOOK_TARGET_S = {"default": 600.0, "grading": 60.0}


def load_notebook_definitions(notebook: str | Path) -> dict:
    """Execute the definitions of a notebook's code cells (imports, functions, classes and
    UPPER_CASE constants) in a fresh namespace, in grading mode, and return the namespace.

    Demo statements are skipped, and so are cells that are not plain Python (IPython
    magics such as the Colab setup cell), so this is fast and needs no kernel:
    `load_notebook_definitions("solutions/01_tokenization.ipynb")["train_bpe"]`.
    """
    path = Path(notebook)
    if not path.is_absolute():
        path = REPO / path
    definitions = []
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        try:
            module = ast.parse(cell.source)
        except SyntaxError:
            continue
        definitions += [node for node in module.body if _is_definition(node)]

    namespace = {"__name__": f"notebook:{path.stem}"}
    previous = os.environ.get("LMCOURSE_GRADING")
    os.environ["LMCOURSE_GRADING"] = "1"
    try:
        code = compile(ast.Module(body=definitions, type_ignores=[]), str(path), "exec")
        exec(code, namespace)
    finally:
        if previous is None:
            del os.environ["LMCOURSE_GRADING"]
        else:
            os.environ["LMCOURSE_GRADING"] = previous
    return namespace


def _is_definition(node: ast.stmt) -> bool:
    if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef)):
        return True
    return isinstance(node, ast.Assign) and all(
        isinstance(target, ast.Name) and target.id.isupper() for target in node.targets
    )


def merge_runs(runs: list[list[dict]]) -> list[dict]:
    """The rows of repeated runs of one benchmark as one table: row i of every run
    becomes one row, each value all runs share kept as is, numbers that differ
    given as "lowest-highest", other values that differ joined by " / ", and `ok`
    true only if every run met the target. Rows must line up: name them without
    the numbers that vary (put those in columns)."""
    if len({len(rows) for rows in runs}) != 1:
        raise ValueError("the runs gave different numbers of rows")
    merged = []
    for rows in zip(*runs):
        row = {}
        for key in dict.fromkeys(key for one in rows for key in one):
            values = [one.get(key, "") for one in rows]
            if key == "ok":
                row[key] = all(values)
            elif all(value == values[0] for value in values):
                row[key] = values[0]
            elif all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in values):
                row[key] = f"{format_number(min(values))}-{format_number(max(values))}"
            else:
                row[key] = " / ".join(dict.fromkeys(str(value) for value in values))
        merged.append({**row, "runs": len(runs)})
    return merged


def format_number(value: float) -> str:
    """A measurement as the tables print it: whole numbers as they are, then as many
    decimals as a value of its size needs."""
    if isinstance(value, int):
        return str(value)
    if value != value:  # NaN: not reached
        return "nan"
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.2f}" if abs(value) >= 1 else f"{value:.3f}"


def parameters_cell(notebook: nbformat.NotebookNode) -> int:
    """The index of the notebook's one code cell tagged `parameters`
    (papermill's convention: the settings a grader or a benchmark changes)."""
    found = [index for index, cell in enumerate(notebook.cells)
             if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", [])]
    if len(found) != 1:
        raise RuntimeError(f"the notebook has {len(found)} cells tagged 'parameters', not one")
    return found[0]


def inject_parameters(notebook: nbformat.NotebookNode, parameters: dict) -> None:
    """As papermill does: a cell tagged `injected-parameters`, right after the
    `parameters` cell, assigns each value (its repr). A name the parameters
    cell does not assign raises, so a renamed setting cannot be ignored."""
    index = parameters_cell(notebook)
    assigned = {target.id for node in ast.parse(notebook.cells[index].source).body
                if isinstance(node, ast.Assign) for target in node.targets if isinstance(target, ast.Name)}
    unknown = sorted(set(parameters) - assigned)
    if unknown:
        raise RuntimeError(f"the parameters cell assigns no {unknown}; update the caller")
    source = "# Parameters injected by the benchmark\n" + "".join(
        f"{name} = {value!r}\n" for name, value in parameters.items())
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["tags"] = ["injected-parameters"]
    notebook.cells.insert(index + 1, cell)


def wall_time_row(notebook_path: Path, mode: str, seconds: float, device: str = "") -> dict:
    """A notebook's wall time against its target: mode "default" (run on `device`) or "grading"."""
    what = f"default settings ({device})" if mode == "default" else "grading mode"
    return {"benchmark": f"{notebook_path.name[:2]} notebook, {what}", "seconds": seconds,
            "target": f"<= {NOTEBOOK_TARGET_S[mode]:g} s", "ok": seconds <= NOTEBOOK_TARGET_S[mode]}


def grading_mode_row(notebook_path: Path, report_cell: str) -> dict:
    """The notebook run once in grading mode: its wall-time row."""
    seconds, _ = run_notebook(notebook_path, report_cell, grading=True)
    return wall_time_row(notebook_path, "grading", seconds)


def run_notebook(notebook_path: Path, report_cell: str, grading: bool,
                 cell_timeout_s: int | None = 900,
                 edit: Callable[[nbformat.NotebookNode], None] | None = None,
                 parameters: dict | None = None) -> tuple[float, dict]:
    """Execute the notebook with `report_cell` appended, in a fresh kernel, in
    default or grading mode: (wall seconds, the JSON the report cell printed).
    A cell that runs past `cell_timeout_s` (None: no limit) stops the run.
    `parameters` override the values of the notebook's `parameters` cell
    (`inject_parameters`); `edit(notebook)`, if given, then changes the
    notebook in memory (cells left out); the file is not touched."""
    from nbclient import NotebookClient

    notebook = nbformat.read(notebook_path, as_version=4)
    if parameters:
        inject_parameters(notebook, parameters)
    if edit is not None:
        edit(notebook)
    notebook.cells.append(nbformat.v4.new_code_cell(report_cell))
    # JPY_SESSION_NAME as JupyterLab sets it: the last cell's self-check grades this file, as a
    # learner's would (without it, check_my_work cannot tell which notebook it is in and raises).
    env = {**os.environ, "MPLBACKEND": "Agg", "JPY_SESSION_NAME": str(notebook_path)}
    env.pop("NBGRADER_EXECUTION", None)
    if grading:
        env["LMCOURSE_GRADING"] = "1"
    else:
        env.pop("LMCOURSE_GRADING", None)
    client = NotebookClient(notebook, timeout=cell_timeout_s, kernel_name="python3",
                            resources={"metadata": {"path": str(notebook_path.parent)}})
    start = time.perf_counter()
    client.execute(env=env)
    seconds = time.perf_counter() - start
    report = next(output["text"] for output in notebook.cells[-1].outputs if output.get("name") == "stdout")
    return seconds, json.loads(report)
