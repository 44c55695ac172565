"""Grading speed: one full submission (every solutions notebook) and a class
of them with parallel workers, beside stock `nbgrader autograde` on the same
notebooks, in the same run.

Targets (COURSE.md): one full submission in under 60 s on 2 cores; a class of
50 in under 15 minutes. The class size defaults to 8 to keep `make bench`
short; BENCH_CLASS_SIZE=50 measures the real target.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from autograder.grade import grade_paths

REPO = Path(__file__).resolve().parent.parent
SOLUTIONS = sorted((REPO / "solutions").glob("[0-9][0-9]_*.ipynb"))
CLASS_SIZE = int(os.environ.get("BENCH_CLASS_SIZE", "8"))
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
        one = grade_paths([str(folder / "class" / "student00")], workers=1)
        one_seconds = time.perf_counter() - start
        full_marks = all(row["status"] == "passed" for row in one)

        start = time.perf_counter()
        everyone = grade_paths([str(folder / "class")], workers=WORKERS)
        class_seconds = time.perf_counter() - start
        class_full = all(row["status"] == "passed" for row in everyone)
        per_submission = class_seconds / CLASS_SIZE

        stock_seconds = stock_nbgrader_autograde(folder / "nbgrader")

    return [
        {"what": "course grader, 1 full submission", "notebooks": len(SOLUTIONS), "workers": 1,
         "seconds": one_seconds, "target_s": 60, "full_marks": full_marks, "ok": one_seconds < 60},
        {"what": f"course grader, class of {CLASS_SIZE}", "notebooks": len(SOLUTIONS) * CLASS_SIZE,
         "workers": WORKERS, "seconds": class_seconds, "full_marks": class_full},
        {"what": "course grader, class of 50 (projected)", "notebooks": len(SOLUTIONS) * 50,
         "workers": WORKERS, "seconds": per_submission * 50, "target_s": 900,
         "ok": per_submission * 50 < 900},
        {"what": "stock nbgrader autograde, 1 full submission", "notebooks": len(SOLUTIONS),
         "workers": 1, "seconds": stock_seconds},
    ]


def stock_nbgrader_autograde(course: Path) -> float:
    """Seconds for `nbgrader autograde` of one student holding every solutions
    notebook (it runs the visible checks in the student's own kernel)."""
    from nbgrader.apps import NbGraderAPI
    from traitlets.config import Config

    # nbgrader's gradebook shells out to `alembic`, beside this interpreter.
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
    config = Config()
    config.CourseDirectory.root = str(course)
    config.CourseDirectory.db_url = f"sqlite:///{course / 'gradebook.db'}"
    config.ExecutePreprocessor.timeout = 600
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
