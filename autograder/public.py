"""The checks a student edition ships in place of the hidden ones: each
exercise's visible check cell, as the course released it, run again against
the learner's saved notebook in a fresh worker. They hold nothing a learner
does not already have; the instructor's grader runs the hidden checks.

`public_checks.json` beside this file, written when the edition is built:

    {"01_tokenization": {"merge_pair": {"points": 1, "source": "assert merge_pair(...)"}}}
"""
import json
from pathlib import Path

from .expect import Failed
from .registry import exercise
from .session import StudentRaised

CHECKS_FILE = Path(__file__).with_name("public_checks.json")


def _register():
    for notebook, exercises in json.loads(CHECKS_FILE.read_text(encoding="utf-8")).items():
        for name, spec in exercises.items():
            exercise(notebook, name, points=spec["points"])(_rerun(spec["source"]))


def _rerun(source):
    def check(student, rng):
        try:
            student.run_cell(source)
        except StudentRaised as raised:
            message = f"the notebook's check cell raised {raised.type_name}: {raised.message}"
            earlier = student.first_cell_error()
            if earlier:   # a name the check needs was never defined: say why first
                message += f" (earlier, {earlier})"
            raise Failed(message) from None
    return check


_register()
