"""Variants of the course notebooks, and grading them, for the grading tests.

    path = variant(solutions_notebook("01_tokenization"), tmp_path / "wrong",
                   replace={"merge_pair_code": "def merge_pair(ids, pair, new_id):\\n    return ids"})
    grade(path)["merge_pair"]["status"]          # -> "failed"
"""
import re
from pathlib import Path

import nbformat

from autograder.grade import grade_paths

REPO = Path(__file__).resolve().parent.parent
SOLUTION_REGION = re.compile(r"^([ \t]*)### BEGIN SOLUTION\n.*?^[ \t]*### END SOLUTION[ \t]*$",
                             re.DOTALL | re.MULTILINE)


def solutions_notebook(name) -> Path:
    return REPO / "solutions" / f"{name}.ipynb"


def grade_id(cell):
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def cell_source(path, wanted_grade_id) -> str:
    """The source of the notebook's cell with this nbgrader grade_id."""
    for cell in nbformat.read(str(path), as_version=4).cells:
        if grade_id(cell) == wanted_grade_id:
            return cell.source
    raise KeyError(f"{path} has no cell with grade_id {wanted_grade_id!r}")


def nbgrader_points(path) -> dict:
    """{grade_id: points} of the notebook's graded (visible check) cells."""
    return {grade_id(cell): cell.metadata["nbgrader"]["points"]
            for cell in nbformat.read(str(path), as_version=4).cells
            if cell.get("metadata", {}).get("nbgrader", {}).get("grade")}


def variant(source, folder, *, replace=None, append=()) -> Path:
    """A copy of notebook `source` saved as folder/<its file name> (the name
    tells the grader which notebook it is): each cell whose nbgrader grade_id
    is a key of `replace` gets that source, and code cells with the sources
    in `append` are added at the end. A grade_id the notebook lacks raises
    KeyError, so a renamed cell cannot quietly make a test pass."""
    notebook = nbformat.read(str(source), as_version=4)
    replace = dict(replace or {})
    for cell in notebook.cells:
        if grade_id(cell) in replace:
            cell.source = replace.pop(grade_id(cell))
    if replace:
        raise KeyError(f"{source} has no cells with grade_id {sorted(replace)}")
    notebook.cells += [nbformat.v4.new_code_cell(text) for text in append]
    path = Path(folder) / Path(source).name
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, str(path))
    return path


def release_or_blank(name, folder) -> Path:
    """The student release notebooks/<name>.ipynb, or, until `make release`
    has made it, the solutions with every solution region replaced by the
    stub nbgrader puts there."""
    released = REPO / "notebooks" / f"{name}.ipynb"
    if released.exists():
        return released
    notebook = nbformat.read(str(solutions_notebook(name)), as_version=4)
    for cell in notebook.cells:
        cell.source = SOLUTION_REGION.sub(
            lambda m: f"{m.group(1)}# YOUR CODE HERE\n{m.group(1)}raise NotImplementedError()", cell.source)
    path = Path(folder) / f"{name}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, str(path))
    return path


def grade_all(paths, workers=2) -> dict:
    """{str(path): {exercise: row}} for every notebook, graded `workers` at a time."""
    graded = {str(path): {} for path in paths}
    for row in grade_paths([str(path) for path in paths], workers=workers):
        graded[row["submission"]][row["exercise"]] = row
    return graded


def grade(path) -> dict:
    """{exercise: row} for one notebook."""
    return grade_all([path], workers=1)[str(path)]
