"""Grading speed: one full submission (every solutions notebook) and a class
of them with parallel workers, beside stock `nbgrader autograde` on the same
notebooks in the same run, and beside `nbgrader autograde` with the course's
plug-in (autograder/nbgrader_plugin.py).

Targets: one full submission in under 15 s on 2 cores; a class of
50 in under 15 minutes. The class is measured, not projected, at
BENCH_CLASS_SIZE submissions (default 10, to keep `make bench` short); the
50 row is a projection from it unless BENCH_CLASS_SIZE=50 (then measured).
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from autograder.grade import grade_paths

SEED = "hidden inputs from the grader's secret (AUTOGRADER_SECRET, else the instructor's)"

REPO = Path(__file__).resolve().parent.parent
SOLUTIONS = sorted((REPO / "solutions").glob("[0-9][0-9]_*.ipynb"))
CLASS_SIZE = int(os.environ.get("BENCH_CLASS_SIZE", "10"))
TARGET_CLASS = 50
WORKERS = 2


def run() -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="lmcourse-bench-grading-") as tmp:
        folder = Path(tmp)
        for student in range(CLASS_SIZE):
            submission = folder / "class" / f"student{student:02d}"
            submission.mkdir(parents=True)
            for notebook in SOLUTIONS:
                shutil.copy(notebook, submission / notebook.name)

        start = time.perf_counter()
        # Its notebooks graded side by side, one per core: what "on 2 cores" allows.
        one = grade_paths([str(folder / "class" / "student00")], workers=WORKERS)
        one_seconds = time.perf_counter() - start

        start = time.perf_counter()
        everyone = grade_paths([str(folder / "class")], workers=WORKERS)
        class_seconds = time.perf_counter() - start
        per_submission = class_seconds / CLASS_SIZE

        stock_seconds = nbgrader_autograde_seconds(folder / "stock", sandboxed=False)
        plugin_seconds = nbgrader_autograde_seconds(folder / "plugin", sandboxed=True)

    notebooks = f"{len(SOLUTIONS)} notebooks ({', '.join(n.stem[:2] for n in SOLUTIONS)})"
    rows = [
        {"benchmark": f"grade 1 full submission, {notebooks}", "workers": WORKERS, "seconds": one_seconds,
         "baseline": "stock nbgrader autograde", "baseline_seconds": stock_seconds,
         "full_marks": _full_marks(one), "target": "< 15 s", "ok": one_seconds < 15},
        {"benchmark": "nbgrader autograde with the course plug-in, 1 full submission", "workers": 1,
         "seconds": plugin_seconds, "baseline": "stock nbgrader autograde",
         "baseline_seconds": stock_seconds},
        {"benchmark": f"grade a class of {CLASS_SIZE} (measured)", "workers": WORKERS,
         "seconds": class_seconds, "full_marks": _full_marks(everyone),
         **({"target": "< 900 s", "ok": class_seconds < 900} if CLASS_SIZE >= TARGET_CLASS else {})},
    ]
    if CLASS_SIZE < TARGET_CLASS:
        projected = per_submission * TARGET_CLASS
        rows.append({"benchmark": f"grade a class of {TARGET_CLASS} (projected from {CLASS_SIZE})",
                     "workers": WORKERS, "seconds": projected, "target": "< 900 s", "ok": projected < 900})
    return rows


def _full_marks(rows) -> bool:
    return bool(rows) and all(row["status"] == "passed" for row in rows)


def nbgrader_autograde_seconds(course: Path, sandboxed: bool) -> float:
    """Seconds for `nbgrader autograde` of one student holding every solutions
    notebook: stock (it runs the notebook and its visible checks in a kernel
    of its own), or with the course's plug-in in place of that step."""
    from nbgrader.apps import NbGraderAPI
    from traitlets.config import Config

    # nbgrader's gradebook shells out to `alembic`, beside this interpreter.
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
    config = Config()
    config.CourseDirectory.root = str(course)
    config.CourseDirectory.db_url = f"sqlite:///{course / 'gradebook.db'}"
    config.ExecutePreprocessor.timeout = 600
    if sandboxed:
        from autograder.nbgrader_plugin import AUTOGRADE_PREPROCESSORS
        config.Autograde.autograde_preprocessors = AUTOGRADE_PREPROCESSORS
    for notebook in SOLUTIONS:
        for folder in (course / "source" / notebook.stem, course / "submitted" / "alice" / notebook.stem):
            folder.mkdir(parents=True)
            shutil.copy(notebook, folder / notebook.name)
    api = NbGraderAPI(config=config)
    with api.gradebook as gradebook:  # what `nbgrader db student add alice` does
        gradebook.add_student("alice")
    for notebook in SOLUTIONS:
        api.generate_assignment(notebook.stem, force=True, create=True)
    start = time.perf_counter()
    for notebook in SOLUTIONS:
        result = api.autograde(notebook.stem, "alice", force=True, create=True)
        if not result["success"]:
            raise RuntimeError(f"nbgrader autograde failed on {notebook.name}: {result.get('log')}")
    return time.perf_counter() - start
