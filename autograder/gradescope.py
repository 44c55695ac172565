"""Gradescope's programming-assignment autograder, built from this grader.

`python -m autograder gradescope NOTEBOOK... --out autograder.zip` writes the
zip an instructor uploads. Gradescope unpacks it into /autograder/source,
runs `setup.sh` once to build the image, then `run_autograder` for each
submission, which must leave /autograder/results/results.json:

    setup.sh         installs the course (CPU PyTorch, pinned requirements) into
                     /autograder/venv, makes the grader's files private, and ends
                     by grading the bundled solutions: a broken image fails at upload
    run_autograder   python -m autograder.gradescope run
    course/          the grader with its hidden checks, `lmcourse`, pyproject.toml,
                     requirements.txt, install-torch.sh, the solutions and the secret
    data/            the course's data, readable by the sandboxed worker

`run` grades every .ipynb under /autograder/submission (any name) that is one
of the assignment's notebooks, and always writes results.json: a test per
exercise (`NOTEBOOK: EXERCISE`, its points, `passed` or `failed`, the grader's
message), whatever the submission does; an empty submission, a file that is
not a notebook, a crash of the grader and running out of time each give a
valid file with the reason in `output`.

Gradescope's container runs as root without user namespaces, where
bubblewrap cannot start: the zip grades in the `unprivileged` sandbox mode
unless built with another (docs/sandbox.md says what each contains).
"""
from __future__ import annotations

import argparse
import json
import os
import stat
import sys
import threading
import time
import zipfile
from importlib import metadata
from pathlib import Path

from . import registry, sandbox

SOURCE = Path("/autograder/source")
SUBMISSION = Path("/autograder/submission")
RESULTS = Path("/autograder/results/results.json")
# Gradescope's default container: 10 minutes for a submission. The grader stops
# short of it so that results.json is always written.
DEFAULT_BUDGET_S = 540.0
SETTINGS = "settings.json"   # in course/: the assignment's notebooks and sandbox mode

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, to build the autograder's image.
set -euo pipefail
cd /autograder/source
if ! python3 -c "import ensurepip, venv" 2>/dev/null; then
  apt-get update -q && apt-get install -y -q python3-venv
fi
python3 -m venv /autograder/venv
TORCH="{torch}" sh course/install-torch.sh /autograder/venv/bin/python
/autograder/venv/bin/python -m pip install --quiet -r course/requirements.txt
/autograder/venv/bin/python -m pip install --quiet --no-deps ./course
# What a sandboxed worker may not read: the installed grader (hidden checks), the
# course folder (solutions, secret). It may read the data and traverse the source.
chmod 711 /autograder/source
chmod -R go-rwx /autograder/source/course
chmod -R go-rwx "$(/autograder/venv/bin/python -c 'import autograder, os; print(os.path.dirname(autograder.__file__))')"
chmod -R a+rX /autograder/source/data
/autograder/venv/bin/python -m autograder.gradescope check
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for each submission; it always writes /autograder/results/results.json.
exec /autograder/venv/bin/python -m autograder.gradescope run "$@"
"""


# ------------------------------------------------------------------ building
def build(notebooks, out, *, mode: str = "unprivileged", secret: str | None = None) -> Path:
    """Writes the autograder zip for `notebooks` (course names, e.g.
    "01_tokenization") to `out` and returns its path."""
    from .grade import default_secret
    known = registry.notebooks()
    unknown = [name for name in notebooks if name not in known]
    if unknown or not notebooks:
        raise ValueError(f"not a course notebook: {', '.join(unknown) or '(none given)'}; "
                         f"the notebooks are {', '.join(known)}")
    if registry.edition() != "full":
        raise ValueError("a Gradescope autograder needs the hidden checks: build it from the "
                         "instructor's grader, not a student edition")
    if mode not in sandbox.MODES:
        raise ValueError(f"unknown sandbox mode {mode!r}: one of {', '.join(sandbox.MODES)}")
    repo = Path(__file__).resolve().parent.parent
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    draft = out.with_name(out.name + ".partial")
    with zipfile.ZipFile(draft, "w", zipfile.ZIP_DEFLATED) as archive:
        def add_text(name, text, executable=False):
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.external_attr = ((0o755 if executable else 0o644) | stat.S_IFREG) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, text)

        def add_tree(folder: Path, name: str):
            for path in sorted(folder.rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                    archive.write(path, f"{name}/{path.relative_to(folder).as_posix()}")

        add_text("setup.sh", SETUP_SH.format(torch=pinned("torch")), executable=True)
        add_text("run_autograder", RUN_AUTOGRADER, executable=True)
        add_tree(repo / "lmcourse", "course/lmcourse")
        add_tree(repo / "autograder", "course/autograder")
        add_text("course/pyproject.toml", (repo / "pyproject.toml").read_text())
        add_text("course/install-torch.sh", (repo / "scripts" / "install-torch.sh").read_text())
        add_text("course/requirements.txt", requirements())
        add_text("course/config/lmcourse/autograder-secret", (secret or default_secret()) + "\n")
        add_text(f"course/{SETTINGS}", json.dumps({"notebooks": list(notebooks), "sandbox": mode}))
        for name in notebooks:
            archive.write(repo / "solutions" / f"{name}.ipynb", f"course/solutions/{name}.ipynb")
        add_tree(repo / "data", "data")
    os.replace(draft, out)
    return out


def pinned(name: str) -> str:
    """`name==version` as installed here, without a local build tag (2.13.0+cpu -> 2.13.0)."""
    return f"{name}=={metadata.version(name).split('+')[0]}"


def requirements() -> str:
    """The course's runtime requirements, pinned to the versions this grader runs
    with (torch is installed first, by install-torch.sh)."""
    from packaging.requirements import Requirement
    names = [Requirement(line).name for line in metadata.requires("lmcourse") or []
             if "extra ==" not in line]
    return "".join(pinned(name) + "\n" for name in names if name != "torch")


# ------------------------------------------------------------------ grading
def settings() -> dict:
    return json.loads((SOURCE / "course" / SETTINGS).read_text())


def environment() -> None:
    """Where the grader finds its secret and data inside Gradescope's container."""
    os.environ["XDG_CONFIG_HOME"] = str(SOURCE / "course" / "config")
    os.environ["LMCOURSE_DATA"] = str(SOURCE / "data")
    os.environ.pop("AUTOGRADER_SECRET", None)


def results(rows, notebooks, note: str, seconds: float) -> dict:
    """Gradescope's results.json for these grade rows: a test per exercise of
    each assignment notebook, those without a row (not submitted, not
    reached) at 0 with `note`."""
    tests, graded = [], {(row["notebook"], row["exercise"]): row for row in rows}
    for notebook in notebooks:
        for exercise in registry.exercises_for(notebook):
            row = graded.get((notebook, exercise.name))
            tests.append({
                "name": f"{notebook}: {exercise.name}",
                "score": row["points"] if row else 0.0,
                "max_score": exercise.points,
                "status": "passed" if row and row["status"] == "passed" else "failed",
                "output": (row["message"] or "passed") if row else note,
                "visibility": "visible",
            })
    return {"score": sum(test["score"] for test in tests), "execution_time": round(seconds),
            "output": note, "visibility": "visible", "stdout_visibility": "hidden", "tests": tests}


def grade_submission_folder(folder: Path, notebooks, mode: str, budget_s: float) -> dict:
    """Grades the assignment's notebooks found under `folder`, within
    `budget_s` seconds; results.json's content."""
    from .grade import find_notebooks, grade_paths
    from .notebook import NotebookError, code_cells, identify
    from .session import Limits
    start = time.monotonic()
    by_notebook = {name: registry.exercises_for(name) for name in registry.notebooks()}
    found, skipped = {}, []
    for path in find_notebooks([folder]) if folder.is_dir() else []:
        try:
            cells = code_cells(path)
        except NotebookError:
            cells = []  # unreadable: still graded if its name says which notebook (its rows say why)
        name = identify(path, cells, by_notebook)
        if name in notebooks and name not in found:
            found[name] = path
        else:
            skipped.append(Path(path).name)
    notes = []
    if not found:
        notes.append("No notebook of this assignment was found in your submission "
                      f"(expected: {', '.join(f'{name}.ipynb' for name in notebooks)}). Upload the .ipynb "
                      "file you worked in.")
    if skipped:
        notes.append("Not graded (not a notebook of this assignment, or a second copy): " + ", ".join(skipped))
    missing = [name for name in notebooks if name not in found]
    if found and missing:
        notes.append("Not submitted: " + ", ".join(missing))
    rows, error = [], []
    if found:
        # Each notebook gets an equal share of the time left, most of it to run its cells and the
        # rest for its checks, so that the last one is graded too.
        share = (budget_s - (time.monotonic() - start)) / len(found)
        run_seconds = max(30.0, 0.75 * share)
        limits = Limits(notebook_seconds=run_seconds, cell_seconds=min(Limits.cell_seconds, run_seconds))

        def grade():
            try:
                rows.extend(grade_paths(list(found.values()), workers=1, limits=limits, mode=mode))
            except Exception as exc:  # noqa: BLE001  (any failure still gives a results.json)
                error.append(exc)

        worker = threading.Thread(target=grade, daemon=True)
        worker.start()
        worker.join(max(1.0, budget_s - (time.monotonic() - start)))
        if worker.is_alive():
            notes.append(f"Grading ran out of its {budget_s:.0f} s: the exercises not reached score 0.")
        elif error:
            notes.append(f"The autograder failed ({type(error[0]).__name__}: {error[0]}); tell your instructor.")
    note = " ".join(notes) or "Graded."
    return results(rows, notebooks, note, time.monotonic() - start)


def write_results(content: dict, path: Path = RESULTS) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(path.name + ".partial")
    draft.write_text(json.dumps(content, indent=1) + "\n")
    os.replace(draft, path)


def run(submission: Path = SUBMISSION, results_path: Path = RESULTS, budget_s: float = DEFAULT_BUDGET_S) -> int:
    start = time.monotonic()
    notebooks = []
    try:
        environment()
        chosen = settings()
        notebooks = chosen["notebooks"]
        sandbox.require(chosen["sandbox"])
        content = grade_submission_folder(submission, notebooks, chosen["sandbox"], budget_s)
    except BaseException as exc:  # noqa: BLE001  (a results.json whatever happened)
        note = f"The autograder could not grade this submission ({type(exc).__name__}: {exc}); tell your instructor."
        try:
            content = results([], notebooks, note, time.monotonic() - start)
        except Exception:  # noqa: BLE001  (not even the exercises could be listed)
            content = {"score": 0.0, "output": note, "tests": []}
    write_results(content, results_path)
    print(content["output"])
    return 0


def check() -> int:
    """setup.sh's last step: grade the bundled solutions; exit 1 unless every
    exercise passes, so a broken image fails at upload."""
    environment()
    chosen = settings()
    content = grade_submission_folder(SOURCE / "course" / "solutions", chosen["notebooks"], chosen["sandbox"],
                                      DEFAULT_BUDGET_S)
    failed = [test for test in content["tests"] if test["status"] != "passed"]
    for test in failed:
        print(f"{test['name']}: {test['output']}", file=sys.stderr)
    print(f"autograder check: the solutions scored {content['score']:g}/"
          f"{sum(test['max_score'] for test in content['tests']):g} ({content['output']})")
    return 1 if failed or not content["tests"] else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.gradescope",
                                     description="Inside Gradescope's container: grade a submission (run) or "
                                                 "the bundled solutions (check).")
    parser.add_argument("command", choices=("run", "check"))
    parser.add_argument("--budget", type=float, default=DEFAULT_BUDGET_S,
                        help="seconds to grade a submission in (run; default: %(default)s, under "
                             "Gradescope's default limit of 10 minutes)")
    args = parser.parse_args(argv)
    return run(budget_s=args.budget) if args.command == "run" else check()


if __name__ == "__main__":
    sys.exit(main())
