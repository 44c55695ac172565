"""The self-check's rows as GitHub Classroom's autograding reporter
(classroom-resources/autograding-grading-reporter) reads them: one runner's
result, base64-encoded JSON with a test per exercise, each scored with its
points. The student edition's workflow (.github/workflows/classroom.yml)
runs `python -m autograder classroom NOTEBOOK... --output "$GITHUB_OUTPUT"`
and hands the result to the reporter, which totals the points for the
classroom. Only public checks run there: the hidden ones never enter a
student's repository."""
from __future__ import annotations

import base64
import json

# The grader's statuses as the reporter's: it counts "pass" and shows the message of the rest.
STATUS = {"passed": "pass", "failed": "fail", "missing": "fail", "error": "error", "timeout": "error"}


def result(rows) -> dict:
    """One runner's result: `tests` (a test per exercise, `score` its points),
    `max_score` (the points there are) and `status`."""
    tests = [{"name": f"{row['notebook'] or 'notebook'}: {row['exercise'] or 'not recognised'}",
              "status": STATUS[row["status"]], "score": row["points"], "message": row["message"],
              "test_code": "", "filename": str(row["submission"]), "line_no": 0, "execution_time": ""}
             for row in rows]
    return {"version": 1, "status": "pass" if all(test["status"] == "pass" for test in tests) else "fail",
            "max_score": sum(row["max_points"] for row in rows), "tests": tests}


def encode(found: dict) -> str:
    return base64.b64encode(json.dumps(found).encode("utf-8")).decode("ascii")


def decode(text: str) -> dict:
    return json.loads(base64.b64decode(text).decode("utf-8"))
