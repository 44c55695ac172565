"""nbgrader's whole exchange cycle, as on a JupyterHub with several courses:
an instructor (root) and a student (a hub user, here the Unix user nobody)
who share only an exchange folder. The student's environment is the student
edition installed as a hub image would have it (no hidden checks); the
instructor's is the grader, with the course's nbgrader_config.py.

Instructor: roster import, generate_assignment, release_assignment; student:
list, fetch_assignment, submit; instructor: collect, autograde,
generate_feedback, release_feedback; student: fetch_feedback; instructor:
export. The student's grades must be the grader's, and the feedback must
say what passed without any hidden check's code."""
from __future__ import annotations

import csv
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from helpers import REPO, fresh_environment, nbgrader_points
from learner import finished_notebook

NOTEBOOK = "01_tokenization"
COURSE = "lm-pretraining"
NOBODY = 65534
# nbgrader's exchange names a student by their Unix user, as each hub user is one.
STUDENT = pwd.getpwuid(NOBODY).pw_name

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root, to act as two users")


def as_nobody():
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


@pytest.fixture(scope="module")
def hub():
    """A folder every user may enter, holding the exchange, the instructor's
    course and the student's home; removed at the end."""
    folder = Path(tempfile.mkdtemp(prefix="lmcourse-hub-"))
    folder.chmod(0o755)
    exchange = folder / "exchange"
    exchange.mkdir()
    exchange.chmod(0o777)  # as nbgrader asks of a shared exchange
    yield folder
    shutil.rmtree(folder)


def hub_config(exchange: Path) -> str:
    """What every user's nbgrader reads on a multi-course hub
    (/etc/jupyter/nbgrader_config.py there)."""
    return (f"c = get_config()\nc.Exchange.root = {str(exchange)!r}\n"
            "c.Exchange.path_includes_course = True\n")


def run(python, cwd, *args, student=False):
    env = {"PATH": f"{Path(python).parent}:/usr/bin:/bin", "LANG": "C.UTF-8",
           "JUPYTER_CONFIG_DIR": str(Path(cwd) / ".jupyter")}
    if student:
        env.update(HOME=str(cwd), JUPYTERHUB_USER=STUDENT, USER=STUDENT, LOGNAME=STUDENT)  # as the hub sets them
    else:
        env.update(HOME=os.environ.get("HOME", "/root"))
    done = subprocess.run([str(python), "-m", "nbgrader", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, preexec_fn=as_nobody if student else None, timeout=600)
    assert done.returncode == 0, f"nbgrader {' '.join(args)}:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def cycle(hub):
    exchange = hub / "exchange"
    # The instructor's course folder: the course's config, plus the hub's.
    course = hub / "course"
    (course / "source" / NOTEBOOK).mkdir(parents=True)
    (course / "nbgrader_config.py").write_text(
        hub_config(exchange) + (REPO / "autograder" / "nbgrader_config.py").read_text()
        .replace("c = get_config()  # noqa: F821  (defined by nbgrader when it loads this file)\n", "")
        .replace('c.CourseDirectory.course_id = "lm-pretraining"', f"c.CourseDirectory.course_id = {COURSE!r}"))
    shutil.copy(REPO / "solutions" / f"{NOTEBOOK}.ipynb", course / "source" / NOTEBOOK)
    roster = course / "students.csv"
    roster.write_text(f"id,first_name,last_name,email\n{STUDENT},Ada,Lovelace,ada@example.org\n")
    teacher = sys.executable
    run(teacher, course, "db", "student", "import", str(roster))
    run(teacher, course, "generate_assignment", NOTEBOOK)
    run(teacher, course, "release_assignment", NOTEBOOK)

    # The student: the student edition in their environment, a home of their own.
    edition_builder = REPO / "scripts" / "student_edition.py"
    edition = hub / "edition"
    subprocess.run([sys.executable, str(edition_builder), "--url", "https://github.com/example/course",
                    "--out", str(edition)], check=True, capture_output=True)
    student_python = fresh_environment(hub / "student-env", project=edition)
    home = hub / "home"
    home.mkdir()
    (home / "nbgrader_config.py").write_text(hub_config(exchange))
    os.chown(home, NOBODY, NOBODY)
    os.chown(home / "nbgrader_config.py", NOBODY, NOBODY)
    listed = run(student_python, home, "list", student=True)
    run(student_python, home, "fetch_assignment", NOTEBOOK, "--course", COURSE, student=True)
    fetched = home / COURSE / NOTEBOOK / f"{NOTEBOOK}.ipynb"  # a folder per course on a multi-course hub
    finished = finished_notebook(fetched, hub / "work")
    shutil.copy(finished, fetched)
    os.chown(fetched, NOBODY, NOBODY)
    run(student_python, home, "submit", NOTEBOOK, "--course", COURSE, student=True)

    run(teacher, course, "collect", NOTEBOOK)
    run(teacher, course, "autograde", NOTEBOOK)
    run(teacher, course, "generate_feedback", NOTEBOOK)
    run(teacher, course, "release_feedback", NOTEBOOK)
    run(student_python, home, "fetch_feedback", NOTEBOOK, "--course", COURSE, student=True)
    run(teacher, course, "export")
    return {"course": course, "home": home, "listed": listed, "student_python": student_python,
            "released": course / "release" / NOTEBOOK / f"{NOTEBOOK}.ipynb"}


def test_the_student_lists_fetches_and_submits_through_the_exchange(cycle):
    assert NOTEBOOK in cycle["listed"] and COURSE in cycle["listed"]
    assert (cycle["course"] / "submitted" / STUDENT / NOTEBOOK / f"{NOTEBOOK}.ipynb").is_file()


def test_the_export_holds_the_graders_score(cycle):
    with open(cycle["course"] / "grades.csv", newline="") as file:
        (line,) = [row for row in csv.DictReader(file) if row["student_id"] == STUDENT]
    assert float(line["score"]) == sum(nbgrader_points(cycle["released"]).values())


def test_the_student_fetches_feedback_without_hidden_code(cycle):
    (page,) = (cycle["home"] / COURSE / NOTEBOOK / "feedback").glob(f"*/{NOTEBOOK}.html")
    text = page.read_text()
    assert "Hidden tests: passed" in text
    hidden = (REPO / "autograder" / "hidden" / "tokenization.py").read_text().splitlines()
    assert not [line for line in hidden if len(line.strip()) > 40 and line.strip() in text]


def test_the_students_image_has_no_hidden_checks(cycle):
    done = subprocess.run([str(cycle["student_python"]), "-c",
                           "from autograder import registry; print(registry.edition())"],
                          capture_output=True, text=True, preexec_fn=as_nobody, cwd="/")
    assert done.stdout.strip() == "public", done.stderr
