"""Grading submissions: one row per (submission, exercise), whatever the
submission does. Other tools read rows, so their keys stay as they are
(docs/grading.md describes them):

    {"submission": "alice/01_tokenization.ipynb", "notebook": "01_tokenization",
     "exercise": "merge_pair", "points": 1, "max_points": 1,
     "status": "passed", "message": "", "sandbox": "bubblewrap"}

`sandbox` is the mode the submission's code ran in (autograder.sandbox).
"""
import hashlib
import importlib.util
import inspect
import re
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import registry, sandbox, seeds
from .expect import Failed
from .notebook import NotebookError, code_cells, identify
from .session import Limits, NotebookRun, Student, StudentRaised, WorkerLost

STATUSES = ("passed", "failed", "error", "timeout", "missing")


def find_notebooks(paths) -> list[str]:
    """PATHs as given: files stay as they are, folders are searched for
    .ipynb files (checkpoints skipped), in a stable order, each file once."""
    found = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            found += sorted(str(p) for p in path.rglob("*.ipynb")
                            if ".ipynb_checkpoints" not in p.parts)
        else:
            found.append(str(path))
    return list(dict.fromkeys(found))


def grade_paths(paths, *, workers=1, limits=None, on_result=None, journal=None,
                mode=sandbox.DEFAULT_MODE, secret=None) -> list[dict]:
    """Grade every notebook under `paths`; rows in submission order.

    `on_result(path, rows)` is called as each submission is done. With a
    `report.Journal`, a submission it holds (same file content, same grader)
    is not graded again, and each one graded is journalled at once.
    SandboxUnavailable, before anything is graded, where `mode` cannot run."""
    sandbox.require(mode)
    submissions = find_notebooks(paths)
    secret = secret or default_secret()  # read (or made) once, before threads race for it
    limits = limits or Limits()

    def grade_one(path):
        digest = file_sha256(path) if journal is not None else None
        rows = journal.rows_for(path, digest) if digest else None
        if rows is None:
            rows = grade_submission(path, limits, mode=mode, secret=secret)
            if digest:
                journal.record(path, digest, rows)
        if on_result:
            on_result(path, rows)
        return rows

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return [row for rows in pool.map(grade_one, submissions) for row in rows]


def file_sha256(path) -> str | None:
    """The file's content hash; None if it cannot be read (then it is graded,
    as an unreadable file, every time)."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def default_secret() -> str:
    """The instructor's secret, read or made; a student edition's public checks
    draw no hidden inputs, so there none is read or made (the public seed)."""
    return seeds.grader_secret() if registry.edition() == "full" else seeds.PUBLIC_SEED


def grader_fingerprint(secret=None) -> str:
    """Changes whenever a re-grade could give other results: the secret the
    hidden inputs are drawn from, or the code of the grader, its checks and
    references, or the support package the notebooks import (not data/,
    which is large: grade with --fresh after changing it). A journal written
    by another grader is not trusted."""
    digest = hashlib.sha256((secret or default_secret()).encode())
    support_package = Path(importlib.util.find_spec("lmcourse").origin).parent
    for package in (Path(__file__).parent, support_package):
        for source in sorted(package.rglob("*.py")):
            digest.update(source.relative_to(package.parent).as_posix().encode())
            digest.update(source.read_bytes())
    return digest.hexdigest()


def grade_submission(path, limits=None, *, mode=sandbox.DEFAULT_MODE, secret=None) -> list[dict]:
    """The rows of one notebook. SandboxUnavailable where `mode` cannot run;
    the hidden inputs are drawn from `secret` (the instructor's by default)."""
    rows = _grade_notebook(path, limits or Limits(), mode, secret or default_secret())
    for row in rows:
        row["sandbox"] = mode
    return rows


def _grade_notebook(path, limits, mode, secret):
    by_notebook = {nb: registry.exercises_for(nb) for nb in registry.notebooks()}

    def rows_for(notebook, status, message):
        return [_row(path, notebook, ex, 0, status, message) for ex in by_notebook[notebook]]

    try:
        cells = code_cells(path)
    except NotebookError as error:
        notebook = identify(path, [], by_notebook)
        if notebook is None:
            return [_unknown_row(path, f"Could not read the notebook: {error}.")]
        return rows_for(notebook, "error", f"Could not read the notebook: {error}.")
    notebook = identify(path, cells, by_notebook)
    if notebook is None:
        return [_unknown_row(path, "Could not tell which course notebook this is: name the "
                                   "file like the course's (e.g. 01_tokenization.ipynb).")]

    run = NotebookRun(cells, limits, mode)
    try:
        try:
            run.start()
            names = run.names()
        except WorkerLost as lost:
            status = "timeout" if lost.timed_out else "error"
            return rows_for(notebook, status, f"The notebook could not be run: {lost}.")
        return [_grade_exercise(path, run, names, ex, secret) for ex in by_notebook[notebook]]
    finally:
        run.close()


def _grade_exercise(path, run, names, ex, secret):
    """Runs one hidden check; every outcome becomes a row."""
    if ex.name not in names:
        return _row(path, ex.notebook, ex, 0, "missing", _missing_message(ex, run))
    if names[ex.name] != ex.kind:
        return _row(path, ex.notebook, ex, 0, "failed",
                    f"{ex.name} should be a {ex.kind}, but the notebook defines it as a {names[ex.name]}.")
    deadline = time.monotonic() + ex.timeout
    try:
        run.ensure_alive()
        for name in ex.uses:
            run.define(_reference_source(name))
        ex.check(Student(run, deadline), seeds.exercise_rng(secret, ex.notebook, ex.name))
    except Failed as failure:
        return _row(path, ex.notebook, ex, 0, "failed", str(failure))
    except StudentRaised as raised:
        message = f"Calling your code raised {raised.type_name}: {raised.message}"
        replaced = [name for name in ex.uses if name in names]
        if replaced and raised.type_name == "TypeError":
            message += _stand_in_note(ex, replaced)
        return _row(path, ex.notebook, ex, 0, "error", message)
    except WorkerLost as lost:
        run.close_worker()
        if lost.timed_out:
            return _row(path, ex.notebook, ex, 0, "timeout",
                        f"{ex.name} did not finish within {ex.timeout:g} s.")
        return _row(path, ex.notebook, ex, 0, "error", f"While checking {ex.name}, {lost}.")
    except Exception:  # a bug in a hidden check must not sink the batch
        traceback.print_exc()
        return _row(path, ex.notebook, ex, 0, "error",
                    "The grader itself failed on this exercise; tell your instructor.")
    return _row(path, ex.notebook, ex, ex.points, "passed", "")


def _missing_message(ex, run):
    """Says why the name is missing when the cell meant to define it failed."""
    defines = re.compile(rf"^\s*(def|class)\s+{re.escape(ex.name)}\b", re.MULTILINE)
    for index, error in sorted(run.cell_errors.items()):
        if defines.search(run.cells[index]):
            return f"{ex.name} is not defined: code cell {index + 1}, which defines it, {error}."
    return f"No {ex.kind} named {ex.name} was found: keep the exercise's name as given."


def _stand_in_note(ex, replaced):
    """Why a call your code makes can fail only here: while `ex` is checked, the course's
    own versions of functions it calls replace yours, with the documented signatures."""
    calls = " and ".join(f"{name}{inspect.signature(_reference(name))}" for name in replaced)
    verb = "stands" if len(replaced) == 1 else "stand"
    return (f" (while {ex.name} is checked, the course's own {calls} {verb} in for yours: "
            f"call them with the arguments the notebook documents)")


def _reference(name):
    from . import reference
    return reference.REFERENCES[name]


def _reference_source(name):
    return inspect.getsource(_reference(name))


def _row(path, notebook, ex, points, status, message):
    return {"submission": str(path), "notebook": notebook, "exercise": ex.name,
            "points": points, "max_points": ex.points, "status": status, "message": message}


def _unknown_row(path, message):
    return {"submission": str(path), "notebook": None, "exercise": None,
            "points": 0, "max_points": 0, "status": "error", "message": message}
