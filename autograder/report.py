"""Writing grade rows as the JSON list other tools read, and as CSV; and the
journal that lets a killed batch resume where it stopped."""
import csv
import json
import os
import threading
from contextlib import contextmanager
from pathlib import Path

COLUMNS = ("submission", "notebook", "exercise", "points", "max_points", "status", "message", "sandbox")


def write_json(rows, path):
    with _replaced_at_close(path) as file:
        file.write(json.dumps(rows, indent=1, ensure_ascii=False) + "\n")


def write_csv(rows, path):
    with _replaced_at_close(path) as file:
        writer = csv.DictWriter(file, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


@contextmanager
def _replaced_at_close(path):
    """A file written aside, then renamed into place: a kill leaves the old
    report or the new one, never half of one."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    draft = Path(f"{path}.partial")
    with open(draft, "w", newline="", encoding="utf-8") as file:
        yield file
    os.replace(draft, path)


def journal_path(report_path) -> Path:
    """reports/grades.json -> reports/grades.journal.jsonl"""
    return Path(report_path).with_suffix(".journal.jsonl")


class Journal:
    """An append-only record of graded submissions, one JSON line each:

        {"submission": "alice/01_tokenization.ipynb", "sha256": "<the file's>",
         "grader": "<grader_fingerprint()>", "rows": [...]}

    A line is flushed and fsynced as soon as its submission is graded, so a
    batch killed at any moment loses at most the submissions being graded.
    On reopening, a last line cut short by the kill is dropped, and a
    submission counts as graded only if its file still has the same content
    and the grader (checks, secret) is the same."""

    def __init__(self, path, grader: str):
        self.path = Path(path)
        self.grader = grader
        self._graded = {}
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._recover()
        self._file = open(self.path, "a", encoding="utf-8")

    def _recover(self):
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        complete = data[:data.rfind(b"\n") + 1]
        if len(complete) < len(data):  # a line cut short: appending after it would corrupt the next
            with open(self.path, "r+b") as file:
                file.truncate(len(complete))
        for line in complete.splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("grader") == self.grader:
                # A later line for the same file content wins (it cannot differ
                # unless grading is not deterministic).
                self._graded[(entry["submission"], entry["sha256"])] = entry["rows"]

    def __len__(self):
        return len(self._graded)

    def rows_for(self, submission: str, sha256: str):
        """The journalled rows of this submission with this content, or None."""
        return self._graded.get((submission, sha256))

    def record(self, submission: str, sha256: str, rows):
        line = json.dumps({"submission": submission, "sha256": sha256, "grader": self.grader,
                           "rows": rows}, ensure_ascii=False) + "\n"
        with self._lock:
            self._file.write(line)
            self._file.flush()
            os.fsync(self._file.fileno())
            self._graded[(submission, sha256)] = rows

    def close(self):
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def by_submission(rows):
    """(submission, its rows, points scored, points there were), in the
    order submissions first appear."""
    grouped = {}
    for row in rows:
        grouped.setdefault(row["submission"], []).append(row)
    return [(submission, its_rows, sum(row["points"] for row in its_rows),
             sum(row["max_points"] for row in its_rows)) for submission, its_rows in grouped.items()]


def summary_table(rows) -> str:
    """A small per-exercise table for people reading a terminal: each
    submission's total, then its exercises."""
    lines = [f"{'exercise':<34} {'points':>8}  {'status':<8} message"]
    for submission, its_rows, scored, total in by_submission(rows):
        lines.append(f"{submission}  {scored:g}/{total:g}")
        for row in its_rows:
            points = f"{row['points']:g}/{row['max_points']:g}"
            lines.append(f"  {str(row['exercise']):<32} {points:>8}  {row['status']:<8} "
                         f"{row['message'][:80]}")
    return "\n".join(lines)
