"""Self-check: a learner grades the notebook they are working in, from its
last cell.

What it runs depends on the edition: in the self-study repository, the hidden
checks the instructor's grader runs, on inputs drawn from a public seed (an
instructor's grader draws its own from a secret this never reads); in a
student edition, which ships no hidden checks, each exercise's visible check
cell as the course released it, and it says that the instructor's grade runs
more. Either way the notebook runs in a fresh worker, in the strongest
sandbox this machine has without set-up (`sandbox.self_check_mode()`).

    from lmcourse import check_my_work
    check_my_work()

Where the notebook's contents come from:
- Colab: the front end sends the current notebook (nothing to save first);
- JupyterLab / Jupyter Notebook: the file the kernel was started for
  (`JPY_SESSION_NAME`), as last saved: save first (Ctrl+S);
- VS Code: the file it names in `__vsc_ipynb_file__`, as last saved;
- `jupyter nbconvert --execute`, papermill (no front end names the file): the
  course notebook in the working folder whose exercises the kernel defines;
- anywhere: `check_my_work("path/to/notebook.ipynb")`.
"""
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from . import registry, report, sandbox, seeds
from .grade import grade_submission

STATUS_MARKS = {"passed": "✅", "failed": "❌", "error": "💥", "timeout": "⏱", "missing": "❔"}


def check_my_work(path=None):
    """Grades the notebook and shows a per-exercise table; returns the rows (None, with a
    message saying what to do, where it cannot tell which notebook this is)."""
    located = _locate(path)
    if located is None:
        print("Self-check: could not tell which notebook this is. Pass its path, e.g. "
              "check_my_work('01_tokenization.ipynb'), or run "
              "`python -m autograder check NOTEBOOK.ipynb` in a terminal.")
        return None
    source, note = located
    rows = grade_submission(str(source), mode=sandbox.self_check_mode(), secret=seeds.PUBLIC_SEED)
    for row in rows:
        row["submission"] = note
    _show(rows, note)
    return rows


def what_ran() -> str:
    if registry.edition() == "full":
        return ("These are the course's hidden tests, on inputs drawn from a public seed; an "
                "instructor's grader runs the same tests on inputs of its own.")
    return ("These are your notebook's own check cells, as the course released them, run again on "
            "your saved notebook in a fresh process. Your instructor's grader runs hidden tests "
            "on inputs you have not seen, so it checks more than this: passing here is necessary, "
            "not sufficient.")


def _locate(path):
    """(a file to grade, a note saying which version was graded)."""
    if path is not None:
        return Path(path), str(path)
    if "google.colab" in sys.modules:
        from google.colab import _message  # Colab's own channel to its front end
        notebook = _message.blocking_request("get_ipynb", request="", timeout_sec=60)["ipynb"]
        # Colab does not tell the file name: the grader knows the notebook by
        # the exercises it defines.
        saved = Path(tempfile.mkdtemp(prefix="selfcheck-")) / "colab.ipynb"
        saved.write_text(json.dumps(notebook))
        return saved, "this notebook, as it is now in Colab"
    candidates = [os.environ.get("JPY_SESSION_NAME"), _ipython_global("__vsc_ipynb_file__"),
                  _course_notebook_here()]
    for candidate in candidates:
        if candidate and candidate.endswith(".ipynb") and Path(candidate).is_file():
            saved_at = time.strftime("%H:%M:%S", time.localtime(Path(candidate).stat().st_mtime))
            return Path(candidate), f"{candidate} (as saved at {saved_at}: save first to check your latest edits)"
    return None


def _course_notebook_here():
    """Where no front end names the file (`jupyter nbconvert --execute`, papermill): the course
    notebook in the working folder whose exercises this kernel defines, if exactly one does."""
    defined = _kernel_namespace()
    matches = [name for name in registry.notebooks()
               if all(exercise.name in defined for exercise in registry.exercises_for(name))
               and Path(f"{name}.ipynb").is_file()]
    return f"{matches[0]}.ipynb" if len(matches) == 1 else None


def _in_a_notebook() -> bool:
    """True inside a Jupyter kernel (JupyterLab, Colab, VS Code), which renders HTML."""
    try:
        return "IPKernelApp" in get_ipython().config  # noqa: F821  (defined inside IPython)
    except NameError:
        return False


def _kernel_namespace() -> dict:
    """The names the notebook's cells defined; {} outside IPython."""
    try:
        return get_ipython().user_ns  # noqa: F821  (defined inside IPython)
    except NameError:
        return {}


def _ipython_global(name):
    return _kernel_namespace().get(name)


def _show(rows, note):
    scored = sum(row["points"] for row in rows)
    total = sum(row["max_points"] for row in rows)
    if not _in_a_notebook():
        print(report.summary_table(rows))
        print(what_ran())
        return
    import html

    from IPython.display import HTML, display
    lines = "".join(
        f"<tr><td>{STATUS_MARKS.get(r['status'], '')} {html.escape(str(r['exercise']))}</td>"
        f"<td>{r['points']:g} / {r['max_points']:g}</td><td>{r['status']}</td>"
        f"<td style='text-align:left'>{html.escape(r['message'])}</td></tr>" for r in rows)
    display(HTML(f"<p><b>Self-check</b> of {html.escape(note)}: <b>{scored:g} / {total:g}</b> points</p>"
                 f"<p>{html.escape(what_ran())}</p>"
                 f"<table><tr><th>exercise</th><th>points</th><th>status</th><th>what to look at</th></tr>"
                 f"{lines}</table>"))
