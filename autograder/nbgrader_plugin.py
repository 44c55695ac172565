"""`nbgrader autograde` with the course's sandboxed grader.

Stock `nbgrader autograde` runs each submitted notebook, test cells included,
in a kernel, and scores a grade cell by its output: whatever the student's
code did to that kernel (an input transformer that turns `assert` into
`pass`, a patched `torch.allclose`, a cell that edits the gradebook) decides
the grade. This plug-in replaces that one step, nbgrader's `Execute`
preprocessor, with `SandboxedAutograde`: the notebook is graded by
`autograder.grade` (the student's code in a sandboxed worker, the hidden
checks in this process), and each exercise's verdict becomes the output of
its grade cell, the locked cell whose grade_id is the exercise's name:

- passed: a line on stdout, so nbgrader gives the cell its points;
- failed, error, timeout, missing: an error output holding the grader's
  message (what failed, on which input; never the check's code), so nbgrader
  gives it zero and `generate_feedback` shows the student why.

Every other step is nbgrader's own: the sanitizing before (locked cells
restored from the source), and `SaveAutoGrades` after, which writes each grade
cell's score into the gradebook, late penalties, feedback and export.

Use it from a course's nbgrader_config.py (autograder/nbgrader_config.py is
one to copy):

    from autograder.nbgrader_plugin import AUTOGRADE_PREPROCESSORS
    c.Autograde.autograde_preprocessors = AUTOGRADE_PREPROCESSORS
"""
import tempfile
from pathlib import Path

import nbformat
from traitlets import Enum
from nbformat.v4 import new_output
from nbgrader import utils
from nbgrader.api import Gradebook
from nbgrader.converters import Autograde
from nbgrader.preprocessors import Execute, NbGraderPreprocessor, OverwriteCells

from . import sandbox
from .grade import grade_submission


class SandboxedAutograde(NbGraderPreprocessor):
    """Grades the (already sanitized) notebook with the course grader and
    writes each exercise's verdict as its grade cell's output."""

    sandbox_mode = Enum(sandbox.MODES, default_value=sandbox.DEFAULT_MODE,
                        help="How submissions' code is contained: bubblewrap (refuses to grade where "
                             "it cannot start), unprivileged (root without user namespaces) or none "
                             "(no isolation; see docs/sandbox.md)").tag(config=True)

    def preprocess(self, nb, resources):
        notebook_id = resources["nbgrader"]["notebook"]
        # Graded from a file named as the course notebook, so the grader knows
        # which notebook's checks to run even if the assignment is named otherwise.
        with tempfile.TemporaryDirectory(prefix="nbgrader-autograde-") as folder:
            path = Path(folder) / f"{notebook_id}.ipynb"
            nbformat.write(nb, str(path))
            rows = grade_submission(str(path), mode=self.sandbox_mode)
        verdicts = {row["exercise"]: row for row in rows}
        self._restore_missing_grade_cells(nb, resources)
        for cell in nb.cells:
            if utils.is_grade(cell) and cell.cell_type == "code" and not utils.is_solution(cell):
                cell.outputs = [self._verdict_output(cell.metadata.nbgrader["grade_id"], verdicts)]
        return nb, resources

    def _restore_missing_grade_cells(self, nb, resources):
        """Grade cells the submission lost (its editor dropped nbgrader's
        metadata, or the student deleted them) are appended, as nbgrader's
        OverwriteCells.add_missing_cells would insert them, so every exercise
        gets its score in the gradebook. Appended, not inserted in place: the
        cells around them may have lost their metadata too."""
        present = {cell.metadata.nbgrader["grade_id"] for cell in nb.cells if utils.is_grade(cell)}
        restorer = OverwriteCells(parent=self)
        with Gradebook(resources["nbgrader"]["db_url"]) as gradebook:
            notebook = gradebook.find_notebook(resources["nbgrader"]["notebook"],
                                               resources["nbgrader"]["assignment"])
            sources = {cell.name: cell for cell in notebook.source_cells}
            for grade_cell in notebook.grade_cells:
                if grade_cell.name not in present and grade_cell.cell_type == "code":
                    self.log.warning("Grade cell %s is missing from the submission; appending it",
                                     grade_cell.name)
                    restored = restorer.missing_cell_transform(sources[grade_cell.name],
                                                               grade_cell.max_score)
                    nb.cells.append(nbformat.from_dict(restored))

    def _verdict_output(self, grade_id, verdicts):
        row = verdicts.get(grade_id)
        if row is None and None in verdicts:  # the grader could not tell which notebook this is
            return _error_output("error", verdicts[None]["message"])
        if row is None:
            # Only the hidden checks may award points: a grade cell no check is
            # named after scores zero rather than its points for free.
            self.log.warning("No hidden check is named %s: its grade cell scores 0", grade_id)
            return _error_output("not graded", f"No hidden check is named {grade_id}; "
                                               "ask your instructor to grade this cell by hand.")
        summary = f"Hidden tests: {row['status']} ({row['points']:g}/{row['max_points']:g} points)"
        if row["status"] == "passed":
            return new_output("stream", name="stdout", text=summary + "\n")
        return _error_output(row["status"], row["message"], summary)


def _error_output(status, message, summary=None):
    summary = summary or f"Hidden tests: {status}"
    return new_output("error", ename=f"Hidden tests: {status}", evalue=message,
                      traceback=[f"{summary}: {message}"])


_STOCK_PREPROCESSORS = Autograde.class_traits()["autograde_preprocessors"].default()
if Execute not in _STOCK_PREPROCESSORS:
    # Without it nothing would write grade cells' outputs, and nbgrader gives
    # a code grade cell without an error output full marks.
    raise ImportError("this nbgrader's autograde has no Execute step for the course grader to "
                      "replace; the plug-in supports nbgrader 0.9")

#: nbgrader's own autograde pipeline, with Execute replaced by SandboxedAutograde.
AUTOGRADE_PREPROCESSORS = [SandboxedAutograde if preprocessor is Execute else preprocessor
                           for preprocessor in _STOCK_PREPROCESSORS]
