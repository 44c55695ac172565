"""The student edition (`make student-edition COURSE_URL=...`), built once
for this file, as an instructor would publish it.

What runs, and what it proves:
- Nothing of the answer key is in it: `scan()` finds nothing, no file holds a
  solution or hidden-test region, there are no hidden checks, references,
  solutions, tests, examples or secret, and no file equals one of the hidden
  checks or references; `scan()` reports each leak planted in a copy, and
  `build()` refuses a folder that would leak.
- It points at the students' repository: badges, Colab set-up cells, the
  pyproject's URL; `make student-edition` without COURSE_URL, or with a URL
  that is not a GitHub repository's, stops before building.
- Its public checks are the released notebooks' locked check cells, one per
  graded exercise, with nbgrader's points.
- Installed non-editable in a fresh environment (no hidden checks there), its
  finished notebooks run top to bottom in grading mode with no error.
- GitHub Classroom: its workflow runs the self-check as `python -m autograder
  classroom` and hands the result to the reporter action under the names the
  reporter reads; the result has a test per exercise scored with its points.
- A learner who is not root, on a read-only install, self-checks notebook 01:
  full marks finished, nothing blank, merge_pair alone failing with the check
  cell's own message when it is wrong; the table says the instructor's grade
  runs more, and no secret is made anywhere.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from helpers import REPO, cell_source, fresh_environment, grade_id, nbgrader_points, variant
from learner import RELEASED, finished_notebook
from wrong.tokenization import WRONG

URL = "https://github.com/example-teacher/pretraining-student"
CLONE = "/content/pretraining-student"
COLAB_URL = "https://colab.research.google.com/github/example-teacher/pretraining-student/blob/main/notebooks/{name}"
# This repository's own slug: nothing in the edition may point at it.
OWN_SLUG = "lmcourse/lm-pretraining-course"
SOLUTION_MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
NOBODY = 65534
# What the student edition's self-check says about the instructor's grade.
RUNS_MORE = ("Your instructor's grader runs hidden tests", "it checks more than this")


@pytest.fixture(scope="module")
def student_edition():
    """scripts/student_edition.py (loaded here, not at collection: it imports nbgrader)."""
    spec = importlib.util.spec_from_file_location("student_edition", REPO / "scripts" / "student_edition.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def shared_folder():
    """A folder every user may enter (pytest's own tmp folders are root's
    alone), removed at the end."""
    folder = Path(tempfile.mkdtemp(prefix="lmcourse-student-edition-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


@pytest.fixture(scope="module")
def edition(student_edition, shared_folder) -> Path:
    return student_edition.build(URL, shared_folder / "pretraining-student")


@pytest.fixture(scope="module")
def installed(edition, shared_folder) -> Path:
    """The python of a fresh environment where the edition is installed
    non-editable, as `pip install .` in it does."""
    return fresh_environment(shared_folder / "environment", project=edition)


def files(folder: Path):
    return sorted(path for path in folder.rglob("*") if path.is_file())


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ------------------------------------------------------------ no answer key
def test_the_edition_holds_nothing_of_the_answer_key(student_edition, edition):
    assert student_edition.scan(edition) == []
    assert (edition / "autograder" / "public_checks.json").is_file()
    assert sorted(p.name for p in (edition / "notebooks").glob("*.ipynb")) == [p.name for p in RELEASED]
    for name in ("autograder/hidden", "autograder/reference", "solutions", "tests", "examples", ".git"):
        assert not (edition / name).exists(), name
    secret_names = {".autograder-secret", "autograder-secret", ".secret"}
    answer_key = {sha256(path): path.relative_to(REPO)
                  for folder in ("autograder/hidden", "autograder/reference")
                  for path in (REPO / folder).glob("*.py")}
    assert answer_key, "no hidden checks or references found to compare with"
    for path in files(edition):
        relative = path.relative_to(edition)
        assert path.name not in secret_names, relative
        text = path.read_bytes().decode("utf-8", errors="replace")
        for marker in SOLUTION_MARKERS:
            assert marker not in text, f"{relative} contains {marker!r}"
        assert sha256(path) not in answer_key, f"{relative} is a copy of {answer_key[sha256(path)]}"


def test_scan_reports_each_planted_leak(student_edition, edition, tmp_path):
    copy = tmp_path / "edition"
    shutil.copytree(edition, copy)
    notebook_path = copy / "notebooks" / RELEASED[0].name
    notebook = nbformat.read(notebook_path, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell("### BEGIN SOLUTION\nanswer = 42\n### END SOLUTION"))
    nbformat.write(notebook, notebook_path)
    (copy / "autograder" / "hidden").mkdir()
    (copy / "autograder" / "hidden" / "x.py").write_text("def check(student, rng): pass\n")
    (copy / ".autograder-secret").write_text("hunter2\n")

    problems = student_edition.scan(copy)

    planted = (f"notebooks/{RELEASED[0].name}", "autograder/hidden/x.py", ".autograder-secret")
    for leak in planted:
        assert any(problem.startswith(f"{leak}:") for problem in problems), (leak, problems)
    assert any("BEGIN SOLUTION" in problem for problem in problems), problems
    # Nothing but the planted leaks (and the hidden folder that holds one).
    assert all(problem.split(":")[0] in planted + ("autograder/hidden",) for problem in problems), problems


def test_build_refuses_an_edition_that_would_leak(student_edition, monkeypatch, tmp_path):
    """Were the release step to hand over the instructor's notebooks, the
    build stops with the leak named (nbgrader's release replaced by the
    solutions themselves, so the test takes seconds)."""
    def solutions_as_released(solutions, url=None):
        return {path.name: path.read_bytes() for path in solutions}
    monkeypatch.setattr(student_edition.release, "release_notebooks", solutions_as_released)
    with pytest.raises(ValueError, match="BEGIN SOLUTION"):
        student_edition.build(URL, tmp_path / "leaky")


# --------------------------------------------------------- where it points
def test_notebooks_and_package_point_at_the_students_repository(student_edition, edition):
    for path in sorted((edition / "notebooks").glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        first_markdown = next(cell for cell in notebook.cells if cell.cell_type == "markdown")
        assert COLAB_URL.format(name=path.name) in first_markdown.source, path.name
        set_up = next(cell for cell in notebook.cells if cell.cell_type == "code").source
        for line in (f"![ -d {CLONE} ] || git clone -q --depth 1 {URL} {CLONE}",
                     f"%pip install -q -e {CLONE}",
                     f'sys.path.insert(0, "{CLONE}")'):
            assert line in set_up, (path.name, line)
    for path in files(edition):
        assert OWN_SLUG not in path.read_bytes().decode("utf-8", errors="replace"), path.relative_to(edition)
    assert student_edition.release.course_url(edition / "pyproject.toml") == URL
    assert CLONE in (edition / "README.md").read_text()


def make_student_edition(tmp_path, *settings):
    environment = {key: value for key, value in os.environ.items() if key != "COURSE_URL"}
    # -o: never reinstall the project's environment from a test.
    return subprocess.run(["make", "-o", ".venv/.installed", "student-edition",
                           f"STUDENT_EDITION={tmp_path / 'out'}", *settings],
                          cwd=REPO, env=environment, capture_output=True, text=True, timeout=120)


def test_make_student_edition_requires_a_github_url(student_edition, tmp_path):
    if not shutil.which("make"):
        pytest.skip("no make")
    unnamed = make_student_edition(tmp_path)
    assert unnamed.returncode != 0 and "COURSE_URL" in unnamed.stdout + unnamed.stderr, unnamed
    assert not (tmp_path / "out").exists()

    elsewhere = make_student_edition(tmp_path, "COURSE_URL=https://gitlab.com/example-teacher/pretraining-student")
    assert elsewhere.returncode != 0, elsewhere
    assert "https://github.com/OWNER/NAME" in elsewhere.stderr and "gitlab.com" in elsewhere.stderr, elsewhere
    assert not (tmp_path / "out").exists()
    assert student_edition.main(["--url", "github.com/example-teacher/x", "--out", str(tmp_path / "out")]) == 1
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------- public checks
def test_public_checks_are_the_released_check_cells(edition):
    from autograder import registry  # this repository's, with the hidden checks
    checks = json.loads((edition / "autograder" / "public_checks.json").read_text())
    released = sorted((edition / "notebooks").glob("*.ipynb"))
    assert sorted(checks) == [path.stem for path in released] == registry.notebooks()
    for path in released:
        graded = nbgrader_points(path)
        assert {name: spec["points"] for name, spec in checks[path.stem].items()} == graded, path.name
        assert graded == {e.name: e.points for e in registry.exercises_for(path.stem)}, path.name
        for name, spec in checks[path.stem].items():
            cell = next(cell for cell in nbformat.read(path, as_version=4).cells if grade_id(cell) == name)
            assert cell.metadata["nbgrader"]["locked"] and not cell.metadata["nbgrader"]["solution"], name
            assert spec["source"] == cell.source == cell_source(REPO / "notebooks" / path.name, name), name


# ------------------------------------------------------ installed, no hidden
def without_pythonpath() -> dict:
    return {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}


def test_a_non_editable_install_has_no_hidden_checks(installed, tmp_path):
    probe = ("import importlib.util, sys, autograder, lmcourse\n"
             "from autograder import registry\n"
             "try:\n    import autograder.hidden\nexcept ImportError:\n    hidden = False\n"
             "else:\n    hidden = True\n"
             "print(registry.edition(), hidden, sys.prefix, autograder.__file__, lmcourse.__file__)\n")
    result = subprocess.run([str(installed), "-c", probe], cwd=tmp_path, capture_output=True, text=True,
                            env=without_pythonpath(), check=True)
    edition_name, hidden, prefix, *packages = result.stdout.split()
    assert (edition_name, hidden) == ("public", "False"), result.stdout
    assert all(Path(package).is_relative_to(prefix) for package in packages), result.stdout
    assert Path(prefix) == installed.parent.parent


@pytest.mark.parametrize("released", RELEASED, ids=[path.stem for path in RELEASED])
def test_finished_notebook_runs_in_grading_mode_from_the_install(released, edition, installed, tmp_path, monkeypatch):
    """nbclient, with a kernel that is the fresh environment's python; the
    notebook is the edition's, each answer cell holding the solution."""
    kernels = tmp_path / "jupyter" / "kernels" / "student-edition"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(json.dumps({
        "argv": [str(installed), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "student edition", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    path = finished_notebook(edition / "notebooks" / released.name, tmp_path / "work")
    notebook = nbformat.read(path, as_version=4)
    # Proof that the kernel ran the install, not this checkout.
    notebook.cells.append(nbformat.v4.new_code_cell(
        "import sys, lmcourse, autograder.registry\n"
        f"assert sys.prefix == {str(installed.parent.parent)!r}, sys.prefix\n"
        "assert lmcourse.__file__.startswith(sys.prefix), lmcourse.__file__\n"
        "assert autograder.registry.edition() == 'public'"))
    # One torch thread: `make test` runs two test processes on two cores (and
    # on a quiet machine, one thread runs these notebooks faster too).
    env = without_pythonpath() | {"LMCOURSE_GRADING": "1", "LMCOURSE_DATA": str(edition / "data"),
                                  "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"}
    NotebookClient(notebook, timeout=300, kernel_name="student-edition",
                   resources={"metadata": {"path": str(path.parent)}}).execute(env=env)
    errors = [(index, output.get("ename"), output.get("evalue")) for index, cell in enumerate(notebook.cells)
              if cell.cell_type == "code" for output in cell.outputs if output.output_type == "error"]
    assert errors == []


# ------------------------------------------- a learner's self-check, not root
SELF_CHECK = '''
import html, json, sys
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from autograder import registry, sandbox, selfcheck

InteractiveShell.instance()   # as in Jupyter: the table is an HTML display
results = {"edition": registry.edition(), "mode": sandbox.self_check_mode(), "checks": {}}
for label, path in json.loads(sys.argv[1]).items():
    with capture_output() as captured:
        rows = selfcheck.check_my_work(path)
    shown = captured.stdout + "".join(output.data.get("text/html", "") for output in captured.outputs)
    results["checks"][label] = {"rows": {row["exercise"]: row for row in rows}, "shown": html.unescape(shown)}
print(json.dumps(results))
'''


def make_read_only(folder: Path):
    """Everyone may read (and enter, and run what was runnable); no one but
    root may write."""
    for path in [folder, *folder.rglob("*")]:
        if not path.is_symlink():
            runnable = path.is_dir() or path.stat().st_mode & stat.S_IXUSR
            path.chmod(0o555 if runnable else 0o444)


def as_nobody():
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


def test_self_check_as_a_learner_on_a_read_only_install(edition, installed, shared_folder):
    if os.geteuid() != 0:
        pytest.skip("needs root, to run the self-check as another user")
    from autograder import sandbox
    # As on a machine where a grader running as root has made the course's
    # control-group folders (as `make test` does): a learner must not trip on them.
    sandbox.cgroup_parents()
    home = shared_folder / "learner"
    home.mkdir()
    released = edition / "notebooks" / "01_tokenization.ipynb"
    finished = finished_notebook(released, home / "finished")
    notebooks = {
        "finished": finished,
        "blank": released,
        "wrong merge_pair": variant(finished, home / "wrong",
                                    replace={"merge_pair_code": WRONG["merge_pair"]["right to left"]}),
    }
    for path in [home, *home.rglob("*")]:
        os.chown(path, NOBODY, NOBODY)
    make_read_only(edition)
    make_read_only(installed.parent.parent)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
           "IPYTHONDIR": str(home / ".ipython"), "LMCOURSE_DATA": str(edition / "data"), "LANG": "C.UTF-8"}
    result = subprocess.run([str(installed), "-c", SELF_CHECK, json.dumps({k: str(v) for k, v in notebooks.items()})],
                            cwd=home, env=env, preexec_fn=as_nobody, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    results = json.loads(result.stdout.splitlines()[-1])
    assert results["edition"] == "public" and results["mode"] in sandbox.MODES, results
    points = nbgrader_points(released)
    checks = results["checks"]

    full = checks["finished"]["rows"]
    assert {name: (row["status"], row["points"]) for name, row in full.items()} == \
        {name: ("passed", points[name]) for name in points}, full
    assert {row["sandbox"] for row in full.values()} == {results["mode"]}, full

    blank = checks["blank"]["rows"]
    assert set(blank) == set(points) and all(row["points"] == 0 for row in blank.values()), blank
    assert all("NotImplementedError" in row["message"] for row in blank.values()), blank

    wrong = checks["wrong merge_pair"]["rows"]
    assert (wrong["merge_pair"]["status"], wrong["merge_pair"]["points"]) == ("failed", 0), wrong
    message = "left to right, no overlaps"   # the check cell's own
    assert f'"{message}"' in cell_source(released, "merge_pair")
    assert "AssertionError" in wrong["merge_pair"]["message"] and message in wrong["merge_pair"]["message"], wrong
    for name in ("pretokenize", "get_pair_counts"):   # which do not use merge_pair
        assert (wrong[name]["status"], wrong[name]["points"]) == ("passed", points[name]), wrong

    for label, check in checks.items():
        assert all(phrase in check["shown"] for phrase in RUNS_MORE), (label, check["shown"])
    made = [path for folder in (home, edition, installed.parent.parent) for path in folder.rglob("*secret*")]
    assert made == []


def test_github_classroom_workflow_reports_the_self_checks_points(edition, installed, tmp_path):
    import yaml
    from autograder.classroom import decode
    workflow = yaml.safe_load((edition / ".github" / "workflows" / "classroom.yml").read_text())
    steps = {step.get("id") or step.get("name"): step for step in workflow["jobs"]["run-autograding-tests"]["steps"]}
    reporter = steps["Autograding Reporter"]
    assert reporter["uses"].startswith("classroom-resources/autograding-grading-reporter@")
    # The reporter reads the runner's result from <RUNNER>_RESULTS (upper case).
    (runner,) = reporter["with"]["runners"].split(",")
    assert reporter["env"][f"{runner.upper()}_RESULTS"] == f"${{{{ steps.{runner}.outputs.result }}}}"
    command = steps[runner]["run"]
    assert command.startswith("python -m autograder classroom $NOTEBOOKS --output")
    for notebook in workflow["env"]["NOTEBOOKS"].split():
        assert (edition / notebook).is_file(), notebook

    released = edition / "notebooks" / "01_tokenization.ipynb"
    finished = finished_notebook(released, tmp_path / "finished")
    output = tmp_path / "github_output"
    output.write_text("earlier=kept\n")
    env = {**os.environ, "LMCOURSE_DATA": str(edition / "data"), "HOME": str(tmp_path)}
    env.pop("AUTOGRADER_SECRET", None)
    done = subprocess.run([str(installed), "-m", "autograder", "classroom", str(finished), str(released),
                           "--output", str(output)], cwd=edition, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    earlier, line = output.read_text().splitlines()
    assert earlier == "earlier=kept" and line.startswith("result=")
    result = decode(line.removeprefix("result="))
    points = nbgrader_points(released)
    assert result["version"] == 1 and result["status"] == "fail" and result["max_score"] == 2 * sum(points.values())
    scored = {}
    for test in result["tests"]:
        assert set(test) >= {"name", "status", "score", "message"}
        scored.setdefault(test["filename"], {})[test["name"]] = (test["status"], test["score"])
    assert scored[str(finished)] == {f"01_tokenization: {name}": ("pass", p) for name, p in points.items()}
    assert all(status != "pass" and score == 0 for status, score in scored[str(released)].values())
