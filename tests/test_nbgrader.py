"""nbgrader as instructors use it, with the course's plug-in: a course folder
with autograder/nbgrader_config.py, `generate_assignment` from the solutions,
`zip_collect` of a zip downloaded from an LMS, `autograde`,
`generate_feedback` and `export`, all through nbgrader's own command line.
The gradebook must hold the scores `python -m autograder grade` gives the
same files; feedback shows what failed, never a hidden check's code; a cheat
that fools stock nbgrader gains nothing."""
import csv
import html
import inspect
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

import helpers
from autograder import registry
from autograder.grade import grade_paths
from autograder.hidden import tokenization as hidden_checks

REPO = helpers.REPO
NOTEBOOK = "01_tokenization"
EXAMPLES = REPO / "examples" / "submissions"
# Graded through nbgrader (each takes a while): the cheat, who also got an
# exercise wrong, and the notebook saved by Colab without nbgrader's cell metadata.
STUDENTS = {"dave": EXAMPLES / "dave" / f"{NOTEBOOK}.ipynb",
            "erin": EXAMPLES / "erin" / f"Copy of {NOTEBOOK}.ipynb"}
SOLUTIONS = sorted((REPO / "solutions").glob("[0-9][0-9]_*.ipynb"))
pytestmark = pytest.mark.xdist_group("nbgrader")


@pytest.mark.parametrize("path", SOLUTIONS, ids=[path.stem for path in SOLUTIONS])
def test_each_grade_cell_is_named_after_a_hidden_check_with_its_points(path):
    """The plug-in scores a grade cell by the hidden check of its grade_id:
    a cell without one would score zero, an exercise without one would not
    reach the gradebook."""
    assert helpers.nbgrader_points(path) == {
        exercise.name: exercise.points for exercise in registry.exercises_for(path.stem)}


def nbgrader(course, *args):
    """An nbgrader command run in the course folder, as an instructor runs it:
    only the course's nbgrader_config.py applies."""
    bin_dir = str(Path(sys.executable).parent)  # nbgrader's gradebook runs `alembic` from here
    env = {**os.environ, "PATH": os.pathsep.join([bin_dir, os.environ["PATH"]]),
           "JUPYTER_CONFIG_DIR": str(course / ".no-user-config")}
    result = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stderr  # nbgrader logs there


def new_course(course, config) -> Path:
    """A course folder with this nbgrader_config.py and notebook 01 released."""
    course.mkdir(parents=True, exist_ok=True)
    (course / "nbgrader_config.py").write_text(config)
    (course / "source" / NOTEBOOK).mkdir(parents=True)
    shutil.copy(helpers.solutions_notebook(NOTEBOOK), course / "source" / NOTEBOOK)
    nbgrader(course, "generate_assignment", NOTEBOOK)
    return course


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = new_course(tmp_path_factory.mktemp("course"),
                        (REPO / "autograder" / "nbgrader_config.py").read_text())
    # What an LMS download looks like: one zip, a file per attempt, named
    # <assignment>_<student>_attempt_<time>_<notebook file>.
    archive = course / "downloaded" / NOTEBOOK / "archive"
    archive.mkdir(parents=True)
    with zipfile.ZipFile(archive / "submissions.zip", "w") as download:
        for student, path in STUDENTS.items():
            download.write(path, f"{NOTEBOOK}_{student}_attempt_2026-11-20-10-00-00_{NOTEBOOK}.ipynb")
    nbgrader(course, "zip_collect", NOTEBOOK)
    log = nbgrader(course, "autograde", NOTEBOOK)
    nbgrader(course, "generate_feedback", NOTEBOOK)
    nbgrader(course, "export")
    return course, log


@pytest.fixture(scope="module")
def graded_by_cli():
    """{student: {exercise: row}} from the course grader on the same files."""
    rows = grade_paths([str(path) for path in STUDENTS.values()], workers=2)
    student_of = {str(path): student for student, path in STUDENTS.items()}
    graded = {}
    for row in rows:
        graded.setdefault(student_of[row["submission"]], {})[row["exercise"]] = row
    return graded


def gradebook_grades(course, students=STUDENTS) -> dict:
    """{student: {grade cell: (score, auto_score, manual_score, max_score)}}"""
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        return {student: {grade.name: (grade.score, grade.auto_score, grade.manual_score, grade.max_score)
                          for grade in gradebook.find_submission_notebook(NOTEBOOK, NOTEBOOK, student).grades}
                for student in students}


def test_zip_collect_files_each_attempt_under_its_student(course):
    course, _ = course
    for student in STUDENTS:
        assert (course / "submitted" / student / NOTEBOOK / f"{NOTEBOOK}.ipynb").is_file()


def test_gradebook_holds_the_course_graders_scores(course, graded_by_cli):
    course, log = course
    grades = gradebook_grades(course)
    for student, rows in graded_by_cli.items():
        assert grades[student] == {exercise: (row["points"], row["points"], None, row["max_points"])
                                   for exercise, row in rows.items()}, student
    # erin's editor dropped nbgrader's metadata: her grade cells were put back
    assert log.count("is missing from the submission; appending it") == len(graded_by_cli["erin"])


def test_the_cheat_fools_stock_nbgrader(tmp_path):
    """Proof that dave's cheat is real: stock `nbgrader autograde` runs it in
    the kernel that then runs the check cells, inside the course folder."""
    course = new_course(tmp_path / "stock", 'c = get_config()\nc.CourseDirectory.course_id = "stock"\n')
    (course / "submitted" / "dave" / NOTEBOOK).mkdir(parents=True)
    shutil.copy(STUDENTS["dave"], course / "submitted" / "dave" / NOTEBOOK / f"{NOTEBOOK}.ipynb")
    nbgrader(course, "autograde", NOTEBOOK)
    grades = gradebook_grades(course, ["dave"])["dave"]
    assert grades["pretokenize"][1] == 1  # his wrong pretokenize passed its (defanged) check cell
    assert all(manual == 100 for _, _, manual, _ in grades.values())  # and he wrote his own scores


def test_the_cheat_gains_nothing_with_the_plugin(course, graded_by_cli):
    """Nothing of dave's runs in nbgrader's process, and his worker sees no
    gradebook: his scores are the course grader's, with no manual scores."""
    course, _ = course
    assert all(manual is None for grades in gradebook_grades(course).values()
               for _, _, manual, _ in grades.values())
    assert graded_by_cli["dave"]["pretokenize"]["points"] == 0


def feedback_text(course, student) -> str:
    page = (course / "feedback" / student / NOTEBOOK / f"{NOTEBOOK}.html").read_text()
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def test_feedback_shows_what_failed_but_not_the_hidden_checks(course, graded_by_cli):
    course, _ = course
    hidden_source = inspect.getsource(hidden_checks)
    # Lines only the hidden checks have (the notebook shares imports and names).
    hidden_lines = {line.strip() for line in hidden_source.splitlines() if len(line.strip()) > 30}
    for student, rows in graded_by_cli.items():
        text = feedback_text(course, student)
        for exercise, row in rows.items():
            assert f"Hidden tests: {row['status']} ({row['points']:g}/{row['max_points']:g} points)" in text
            if row["status"] != "passed":
                assert row["message"] in text, (student, exercise)
        leaked = [line for line in hidden_lines if line in text]
        assert not leaked, f"{student}'s feedback shows hidden check code: {leaked[:3]}"


def test_export_writes_each_students_total(course, graded_by_cli):
    course, _ = course
    with open(course / "grades.csv", newline="") as file:
        exported = {row["student_id"]: float(row["score"]) for row in csv.DictReader(file)}
    assert exported == {student: sum(row["points"] for row in rows.values())
                        for student, rows in graded_by_cli.items()}
