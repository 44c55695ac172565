"""Grades for a learning-management system (autograder.lms): whose each file
is, read from the names Canvas, Moodle and Blackboard give their downloads
(the same patterns nbgrader's zip_collect uses), one gradebook row per
student, Canvas's import layout, and feedback pages that show messages and
never code. `make grade` writing them for the worked example class is tested
in test_class_grading.py."""
import csv
import os

import pytest
from nbgrader.plugins.zipcollect import FileNameCollectorPlugin

from autograder import lms

NOTEBOOK = "01_tokenization"

# (file as the LMS names it, the student_id nbgrader gets, the gradebook's student)
DOWNLOADS = {
    "canvas": [
        ("smithjane_12345_678901_01_tokenization.ipynb", "12345", "12345"),
        ("oneilljeanluc_late_2046_99_01_tokenization-2.ipynb", "2046", "2046"),
    ],
    "moodle": [
        ("Jane Smith_123456_assignsubmission_file_/01_tokenization.ipynb", "123456", "Jane Smith"),
        ("Jean-Luc O'Neill Jr._7_assignsubmission_file_01_tokenization.ipynb", "7", "Jean-Luc O'Neill Jr."),
    ],
    "blackboard": [
        ("01_tokenization_j.doe-2_attempt_2026-11-20-10-00-00_01_tokenization.ipynb", "j.doe-2", "j.doe-2"),
        ("Homework 1 (BPE)_a.b.c_attempt_2026-11-21-09-30-00_01_tokenization.ipynb", "a.b.c", "a.b.c"),
    ],
}


@pytest.mark.parametrize("lms_name,file_name,student_id,student",
                         [(name, *case) for name, cases in DOWNLOADS.items() for case in cases])
def test_each_lms_download_names_its_student_and_notebook(tmp_path, lms_name, file_name, student_id, student):
    path = tmp_path / "extracted" / file_name  # nbgrader matches the whole path
    plugin = FileNameCollectorPlugin(named_regexp=lms.FILE_NAMES[lms_name])
    found = plugin.collect(str(path))
    assert found is not None and found["student_id"] == student_id
    assert os.path.splitext(found["file_id"])[0] + ".ipynb" == f"{NOTEBOOK}.ipynb"  # as zip_collect names it
    owner = lms.owner_of(str(path), [str(tmp_path)])
    assert (owner.student, owner.lms_id, owner.source) == (student, student_id, lms_name)
    others = [FileNameCollectorPlugin(named_regexp=lms.FILE_NAMES[other]).collect(str(path))
              for other in lms.FILE_NAMES if other != lms_name]
    assert others == [None, None], "a download must match its own LMS's pattern only"


def test_a_file_without_an_lms_name_belongs_to_its_folder(tmp_path):
    assert lms.owner_of(str(tmp_path / "class" / "bob" / "01_tokenization.ipynb"), [str(tmp_path / "class")]) \
        == lms.Owner("bob")
    nested = tmp_path / "submitted" / "carol" / NOTEBOOK / f"{NOTEBOOK}.ipynb"  # nbgrader's layout
    assert lms.owner_of(str(nested), [str(tmp_path / "submitted")]).student == "carol"
    assert lms.owner_of(str(tmp_path / "dave.ipynb"), [str(tmp_path)]) == lms.Owner("dave", source="file")
    assert lms.owner_of("erin/Copy of 01_tokenization.ipynb").student == "erin"  # a file given itself


def rows(submission, notebook, points, max_points=(1, 1)):
    return [{"submission": submission, "notebook": notebook, "exercise": f"e{i}", "points": p,
             "max_points": m, "status": "passed" if p == m else "failed", "message": ""}
            for i, (p, m) in enumerate(zip(points, max_points))]


def test_the_gradebook_has_a_row_per_student_and_the_latest_attempt_counts(tmp_path):
    root = tmp_path / "downloads"
    root.mkdir()
    early = str(root / "01_tokenization_j.doe-2_attempt_2026-11-20-10-00-00_01_tokenization.ipynb")
    late = str(root / "01_tokenization_j.doe-2_attempt_2026-11-22-08-00-00_01_tokenization.ipynb")
    table = lms.gradebook(rows(late, NOTEBOOK, (3, 1)) + rows(early, NOTEBOOK, (0, 0))
                          + rows(str(root / "al" / "03_causal_lm.ipynb"), "03_causal_lm", (2,))
                          + rows(str(root / "al" / "01_tokenization.ipynb"), NOTEBOOK, (1, 1)), [str(root)])
    maximum = lms.max_points(NOTEBOOK) + lms.max_points("03_causal_lm")
    assert table == [
        {"student": "j.doe-2", "lms": "blackboard", "lms_id": "j.doe-2", NOTEBOOK: 4, "03_causal_lm": "",
         "total": 4, "max_total": maximum},
        {"student": "al", "lms": "folder", "lms_id": "", NOTEBOOK: 2, "03_causal_lm": 2,
         "total": 4, "max_total": maximum},
    ]
    path = tmp_path / "gradebook.csv"
    lms.write_gradebook_csv(table, path)
    with open(path, newline="") as file:
        read = list(csv.DictReader(file))
    assert [line["student"] for line in read] == ["j.doe-2", "al"] and read[1]["total"] == "4"


def test_the_canvas_export_has_canvas_columns_and_points_possible(tmp_path):
    canvas = str(tmp_path / "smithjane_12345_678901_01_tokenization.ipynb")
    table = lms.gradebook(rows(canvas, NOTEBOOK, (1, 0)) + rows(str(tmp_path / "bo" / "x.ipynb"), NOTEBOOK, (1, 1)),
                          [str(tmp_path)])
    path = tmp_path / "canvas.csv"
    lms.write_canvas_csv(table, path)
    with open(path, newline="") as file:
        header, possible, jane, bo = list(csv.reader(file))
    assert header == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", NOTEBOOK]
    assert possible[0] == "Points Possible" and float(possible[-1]) == lms.max_points(NOTEBOOK)
    assert jane[:4] == ["12345", "12345", "", ""] and jane[-1] == "1"
    assert bo[:4] == ["bo", "", "", "bo"]  # no Canvas id: matched on the login


def test_feedback_pages_show_each_message_escaped(tmp_path):
    found = rows(str(tmp_path / "mo" / "01_tokenization.ipynb"), NOTEBOOK, (1, 0))
    found[1]["message"] = "merge_pair((1, 2), (1, 2), 256) returned <script>alert(1)</script>"
    found.append({**found[0], "submission": str(tmp_path / "../evil" / "01_tokenization.ipynb")})
    pages = lms.write_feedback(found, tmp_path / "feedback", [str(tmp_path)])
    assert all(page.parent == tmp_path / "feedback" for page in pages)  # a student's name never leaves the folder
    text = (tmp_path / "feedback" / "mo.html").read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "<script>" not in text
    assert "01_tokenization: 1/2" in text
