"""From the grader's report rows to what a learning-management system takes:
whose each submission is, one gradebook row per student (a column per
notebook and a total), the same in the layout Canvas imports, and one
feedback page per student (each exercise's status and message, never a
hidden check's code).

Whose a file is comes from the name an LMS gives its downloads (FILE_NAMES),
else from the folder it sits in under the graded folder
(`submissions/alice/01_tokenization.ipynb` is alice's), else from its own
name. nbgrader's `zip_collect` takes the same patterns
(autograder/nbgrader_config.py).
"""
from __future__ import annotations

import csv
import html
import re
from dataclasses import dataclass
from pathlib import Path

from .registry import NOTEBOOK_ORDER, exercises_for
from .report import _replaced_at_close, by_submission

# The names each LMS gives the files of a "download all submissions", as the
# regular expressions nbgrader's FileNameCollectorPlugin takes (matched from
# the start of the file's path; `student_id` and `file_id` are required). An
# id may hold dots and dashes (Blackboard user names: j.doe-2).
FILE_NAMES = {
    # smithjane_12345_678901_01_tokenization.ipynb: the sortable name, "_late" when late, the
    # Canvas user id, the submission's id, the file's name (with -1, -2 after a resubmission).
    "canvas": r"(?:.*/)?(?P<last_name>[a-z0-9]+?)(?:_late)?_(?P<student_id>\d+)_\d+_"
              r"(?P<file_id>[^/]+?)(?:-\d+)?\.ipynb$",
    # Jane Doe_123456_assignsubmission_file_/01_tokenization.ipynb (a folder per participant, or the
    # same name without the slash): the full name, the participant number of that assignment.
    "moodle": r"(?:.*/)?(?P<full_name>[^/_]+)_(?P<student_id>\d+)_assignsubmission_(?:file|onlinetext)_/?"
              r"(?P<file_id>[^/]+)$",
    # Homework 1_j.doe-2_attempt_2026-11-20-10-00-00_01_tokenization.ipynb: the assignment, the
    # user name (without underscores), the attempt's time, the file's name.
    "blackboard": r"(?:.*/)?[^/]*?_(?P<student_id>[^_/]+)_attempt_(?P<timestamp>\d{4}(?:-\d\d){5})_"
                  r"(?P<file_id>[^/]+)$",
}


@dataclass(frozen=True)
class Owner:
    """Whose a submitted file is. `student` keys the gradebook (the same
    person across notebooks); `lms_id` is the id the LMS gave, if any;
    `timestamp` orders attempts, the latest counting."""
    student: str
    lms_id: str = ""
    source: str = "folder"
    timestamp: str = ""


def owner_of(submission: str, roots=()) -> Owner:
    """The owner of `submission`, a path found under one of `roots` (the
    folders given to the grader) or given itself.

    >>> owner_of("downloads/smithjane_late_1234_99_01_tokenization-1.ipynb", ["downloads"])
    Owner(student='1234', lms_id='1234', source='canvas', timestamp='')
    >>> owner_of("class/alice/01_tokenization.ipynb", ["class"]).student
    'alice'
    """
    path = Path(submission)
    relative = path
    for root in map(Path, roots):
        if path != root and path.is_relative_to(root):
            relative = path.relative_to(root)
            break
    text = relative.as_posix()
    for source, pattern in FILE_NAMES.items():
        match = re.match(pattern, text)
        if match:
            found = match.groupdict()
            # Moodle numbers participants per assignment: the name is what stays the same.
            student = found["full_name"] if source == "moodle" else found["student_id"]
            return Owner(student, found["student_id"], source, found.get("timestamp") or "")
    if relative != path and len(relative.parts) >= 2:
        return Owner(relative.parts[0])
    if relative == path and path.parent.name:
        return Owner(path.parent.name)
    return Owner(path.stem, source="file")


def max_points(notebook: str) -> float:
    return sum(exercise.points for exercise in exercises_for(notebook))


def gradebook(rows, roots=()) -> list[dict]:
    """One row per student: `student`, `lms` (where the name came from:
    canvas, moodle, blackboard, folder or file), `lms_id`, the points of each course
    notebook they submitted (its latest attempt), `total`, `max_total` (of
    the notebooks anyone submitted), in the order students first appear."""
    points, owners, attempts = {}, {}, {}
    for row in rows:
        owner = owner_of(row["submission"], roots)
        notebook = row["notebook"] or "unrecognised"
        key = (owner.student, notebook)
        attempt = (owner.timestamp, row["submission"])
        if key in attempts and attempts[key] > attempt:
            continue
        if attempts.get(key) != attempt:
            attempts[key], points[key] = attempt, 0.0
        points[key] += row["points"]
        owners.setdefault(owner.student, owner)
    notebooks = [name for name in NOTEBOOK_ORDER if any(key[1] == name for key in points)]
    table = []
    for student, owner in owners.items():
        line = {"student": student, "lms": owner.source, "lms_id": owner.lms_id}
        for notebook in notebooks:
            line[notebook] = points.get((student, notebook), "")
        line["total"] = sum(points.get((student, notebook), 0.0) for notebook in notebooks)
        line["max_total"] = sum(max_points(notebook) for notebook in notebooks)
        table.append(line)
    return table


def write_gradebook_csv(table, path) -> None:
    columns = list(dict.fromkeys(key for line in table for key in line)) or ["student", "total"]
    with _replaced_at_close(path) as file:
        writer = csv.DictWriter(file, fieldnames=columns)
        writer.writeheader()
        writer.writerows({key: points_text(value) for key, value in line.items()} for line in table)


def points_text(value) -> str:
    """Points as a gradebook shows them: 4, 2.5 (never 4.0)."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def write_canvas_csv(table, path) -> None:
    """The gradebook in the layout of Canvas's gradebook import: `Student`,
    `ID` (the Canvas user id, from Canvas's download names), `SIS User ID`,
    `SIS Login ID` (the student's id from any other source), `Section`, then
    a column per notebook, with a `Points Possible` row first."""
    notebooks = [name for name in NOTEBOOK_ORDER if any(name in line for line in table)]
    with _replaced_at_close(path) as file:
        writer = csv.writer(file)
        writer.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", *notebooks])
        writer.writerow(["Points Possible", "", "", "", "", *(points_text(max_points(name)) for name in notebooks)])
        for line in table:
            canvas_id = line["lms_id"] if line["lms"] == "canvas" else ""
            login = "" if canvas_id else line["student"]
            writer.writerow([line["student"], canvas_id, "", login, "",
                             *(points_text(line.get(name, "")) for name in notebooks)])


def write_feedback(rows, folder, roots=()) -> list[Path]:
    """One HTML page per student in `folder`: per notebook, each exercise's
    points, status and message (what failed, on which input; never the
    hidden check's code). Returns the pages written."""
    by_student = {}
    for row in rows:
        by_student.setdefault(owner_of(row["submission"], roots).student, []).append(row)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for student, its_rows in by_student.items():
        page = folder / f"{safe_file_name(student)}.html"
        page.write_text(feedback_page(student, its_rows), encoding="utf-8")
        written.append(page)
    return written


def safe_file_name(name: str) -> str:
    """A student's key as a file name: letters, digits, dots, dashes and
    underscores kept, anything else (a slash, a space) an underscore."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".") or "student"


def feedback_page(student: str, rows) -> str:
    escape = html.escape
    sections = []
    for submission, its_rows, scored, total in by_submission(rows):
        lines = "".join(
            f"<tr class=\"{escape(row['status'])}\"><td>{escape(str(row['exercise'] or '-'))}</td>"
            f"<td>{row['points']:g}/{row['max_points']:g}</td><td>{escape(row['status'])}</td>"
            f"<td><pre>{escape(row['message'])}</pre></td></tr>" for row in its_rows)
        notebook = its_rows[0]["notebook"] or "not a course notebook"
        sections.append(f"<h2>{escape(notebook)}: {scored:g}/{total:g}</h2>\n"
                        f"<p>File: <code>{escape(Path(submission).name)}</code></p>\n"
                        "<table><tr><th>exercise</th><th>points</th><th>status</th><th>message</th></tr>"
                        f"{lines}</table>")
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
            f"<title>Feedback: {escape(student)}</title><style>"
            "body{font-family:sans-serif;max-width:60em;margin:2em auto}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;vertical-align:top}"
            "pre{margin:0;white-space:pre-wrap}.passed td:nth-child(3){color:#070}"
            "</style></head><body>\n"
            f"<h1>Feedback: {escape(student)}</h1>\n" + "\n".join(sections) + "\n</body></html>\n")
