"""Grading a whole class from the command line: a batch killed midway
resumes without duplicates or losses, a re-grade is identical, the worked
example class gets the grades its README states, and the learner's
self-check gives the verdicts the instructor's grader gives."""
import csv
import json
import os
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import nbformat
import pytest

import helpers
from autograder import report, selfcheck
from autograder.grade import grade_paths, grader_fingerprint
from wrong.tokenization import CORRECT, WRONG

REPO = helpers.REPO
EXAMPLES = REPO / "examples"


def small_submission(folder, wrong=None) -> Path:
    """A notebook 01 of only its five exercises (fast to grade): the plain
    correct implementations, or `wrong` ({exercise: what is wrong}) instead."""
    wrong = wrong or {}
    sources = [WRONG[name][wrong[name]] if name in wrong else source for name, source in CORRECT.items()]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    for index, cell in enumerate(notebook.cells):
        cell.id = f"cell-{index}"
    path = Path(folder) / "01_tokenization.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, str(path))
    return path


def grade_command(*args):
    return [sys.executable, "-m", "autograder", "grade", *map(str, args)]


def journal_lines(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


# -------------------------------------------------------- kill and resume
def test_a_killed_batch_resumes_without_duplicates_or_losses(tmp_path):
    classroom = tmp_path / "class"
    for number in range(3):
        small_submission(classroom / f"student{number}", {"merge_pair": "right to left"} if number == 1 else None)
    report_path = tmp_path / "reports" / "grades.json"
    journal = report.journal_path(report_path)

    batch = subprocess.Popen(grade_command(classroom, "--json", report_path, "--workers", "1"),
                             cwd=REPO, start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while not (journal.exists() and journal.read_text().count("\n") >= 1):
            assert batch.poll() is None, "the batch ended before it could be killed"
            assert time.monotonic() < deadline, "nothing was journalled in 300 s"
            time.sleep(0.1)
    finally:
        os.killpg(batch.pid, signal.SIGKILL)  # the grader and its workers, mid-batch
        batch.wait()
    killed_with = len(journal_lines(journal))
    assert 1 <= killed_with < 3 and not report_path.exists()

    subprocess.run(grade_command(classroom, "--json", report_path, "--workers", "2"),
                   cwd=REPO, check=True, capture_output=True)
    uninterrupted = tmp_path / "uninterrupted.json"
    subprocess.run(grade_command(classroom, "--json", uninterrupted, "--workers", "2", "--fresh"),
                   cwd=REPO, check=True, capture_output=True)

    resumed = json.loads(report_path.read_text())
    assert resumed == json.loads(uninterrupted.read_text())  # and so a re-grade is identical
    assert [row["submission"] for row in resumed] == [
        str(classroom / f"student{n}" / "01_tokenization.ipynb") for n in range(3) for _ in CORRECT]
    assert [row["points"] for row in resumed if row["exercise"] == "merge_pair"] == [1, 0, 1]
    journalled = [entry["submission"] for entry in journal_lines(journal)]
    assert sorted(journalled) == sorted(set(journalled)) and len(journalled) == 3, journalled


def test_journal_drops_a_line_cut_short_and_regrades_changed_files(tmp_path):
    first, second = (small_submission(tmp_path / name) for name in ("first", "second"))
    journal_file = tmp_path / "grades.journal.jsonl"
    with report.Journal(journal_file, grader_fingerprint()) as journal:
        rows = grade_paths([tmp_path], journal=journal)
    whole = journal_file.read_text()
    journal_file.write_text(whole + whole.splitlines()[0][:40])  # a kill in the middle of a write

    graded = []
    with report.Journal(journal_file, grader_fingerprint()) as journal:
        assert len(journal) == 2
        assert grade_paths([tmp_path], journal=journal,
                           on_result=lambda path, rows: graded.append(path)) == rows
    assert journal_file.read_text() == whole  # the partial line is gone, nothing was regraded

    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(WRONG["merge_pair"]["right to left"])]),
                   str(second))
    with report.Journal(journal_file, grader_fingerprint()) as journal:
        again = grade_paths([tmp_path], journal=journal)
    assert again[:5] == rows[:5] and [row["status"] for row in again[5:]].count("missing") == 4
    with report.Journal(journal_file, "another grader") as journal:
        assert len(journal) == 0  # other checks or another secret: nothing is reused


# -------------------------------------------------- the worked example class
def example_readme_table() -> dict:
    """{submission path: {exercise: status, ..., "total": points}} from the
    table in examples/README.md."""
    lines = (EXAMPLES / "README.md").read_text().splitlines()
    header = next(line for line in lines if line.startswith("| submission"))
    columns = [cell.strip() for cell in header.strip("|").split("|")]
    table = {}
    for line in lines:
        if line.startswith("| `"):
            entry = dict(zip(columns, (cell.strip().strip("`") for cell in line.strip("|").split("|"))))
            submission = str(Path("examples/submissions") / entry.pop("submission"))
            entry.pop("what it shows")
            entry["total"] = float(entry["total"].split("/")[0])
            table[submission] = entry
    return table


def test_examples_are_what_the_builder_makes(tmp_path):
    subprocess.run([sys.executable, "examples/build_examples.py", "--out", tmp_path], cwd=REPO, check=True)
    built = {path.relative_to(tmp_path): path.read_bytes() for path in tmp_path.rglob("*.ipynb")}
    committed = {path.relative_to(EXAMPLES / "submissions"): path.read_bytes()
                 for path in (EXAMPLES / "submissions").rglob("*.ipynb")}
    assert built.keys() == committed.keys()
    stale = [str(path) for path in built if built[path] != committed[path]]
    assert not stale, f"run `.venv/bin/python examples/build_examples.py`: {stale} differ"


def test_make_grade_grades_the_examples_as_their_readme_says(tmp_path):
    reports = tmp_path / "reports"
    result = subprocess.run(["make", "--no-print-directory", "grade", f"REPORT={reports / 'grades.json'}"],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    rows = json.loads((reports / "grades.json").read_text())
    assert (reports / "grades.csv").read_text().count("\n") == len(rows) + 1
    expected = example_readme_table()
    graded = {}
    for row in rows:
        graded.setdefault(row["submission"], {"total": 0})[row["exercise"]] = row["status"]
        graded[row["submission"]]["total"] += row["points"]
    assert graded == expected
    for submission, exercises in expected.items():
        assert f"{submission}  {exercises['total']:g}/7" in result.stdout  # the printed table
    # Beside the report: a gradebook row and a feedback page per student (the folder's name),
    # which shows the messages and no line of the hidden checks.
    with open(reports / "gradebook.csv", newline="") as file:
        gradebook = {line["student"]: float(line["total"]) for line in csv.DictReader(file)}
    assert gradebook == {Path(submission).parent.name: exercises["total"]
                         for submission, exercises in expected.items()}
    hidden = [line.strip() for line in (REPO / "autograder" / "hidden" / "tokenization.py").read_text().splitlines()
              if len(line.strip()) > 40]
    for student in gradebook:
        page = (reports / "feedback" / f"{student}.html").read_text()
        assert "01_tokenization" in page and not [line for line in hidden if line in page], student
    assert "SyntaxError" in (reports / "feedback" / "erin.html").read_text()
    assert (reports / "canvas.csv").read_text().startswith("Student,ID,SIS User ID,SIS Login ID,Section,")


# ------------------------------------------------------------- self-check
@pytest.fixture(scope="module")
def partly_wrong(tmp_path_factory):
    path = small_submission(tmp_path_factory.mktemp("selfcheck"), {"pretokenize": "no contractions"})
    return path, without_submission(grade_paths([str(path)]))


def without_submission(rows):
    return [{k: v for k, v in row.items() if k != "submission"} for row in rows]


def test_self_check_gives_the_graders_verdicts(partly_wrong):
    path, cli_rows = partly_wrong
    assert without_submission(selfcheck.check_my_work(str(path))) == cli_rows
    assert [row["status"] for row in cli_rows].count("passed") == 4


def test_self_check_in_colab_grades_the_notebook_as_it_is_in_the_front_end(partly_wrong, monkeypatch):
    path, cli_rows = partly_wrong
    asked = []

    def blocking_request(request_type, request="", timeout_sec=None):
        asked.append(request_type)
        return {"ipynb": json.loads(path.read_text())}

    colab = types.ModuleType("google.colab")
    colab._message = types.SimpleNamespace(blocking_request=blocking_request)
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    monkeypatch.setitem(sys.modules, "google.colab._message", colab._message)

    rows = selfcheck.check_my_work()
    assert asked == ["get_ipynb"]
    assert without_submission(rows) == cli_rows
    assert {row["submission"] for row in rows} == {"this notebook, as it is now in Colab"}


def test_self_check_without_a_front_end_finds_the_notebook_by_the_exercises_it_defines(partly_wrong, monkeypatch):
    """`jupyter nbconvert --execute` names no file: the course notebook in the working folder
    whose exercises the kernel defines is the one checked."""
    path, cli_rows = partly_wrong
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.chdir(path.parent)
    monkeypatch.setattr(selfcheck, "_kernel_namespace", lambda: dict.fromkeys(CORRECT))
    rows = selfcheck.check_my_work()
    assert without_submission(rows) == cli_rows
    assert {row["submission"].split(" ")[0] for row in rows} == {"01_tokenization.ipynb"}


def test_self_check_that_cannot_tell_the_notebook_says_what_to_do_and_raises_nothing(tmp_path, monkeypatch, capsys):
    """Outside a front end, in a folder without the notebook: a message, not an exception (an
    exception in the last cell makes `nbconvert --execute --inplace` keep none of the outputs)."""
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(selfcheck, "_kernel_namespace", lambda: dict.fromkeys(CORRECT))
    assert selfcheck.check_my_work() is None
    assert "check_my_work('01_tokenization.ipynb')" in capsys.readouterr().out
