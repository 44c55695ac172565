"""The course's notebooks as learners hold them, for the browser and Colab tests.

    path = finished_notebook(REPO / "notebooks" / "01_tokenization.ipynb", tmp_path)
    # tmp_path/01_tokenization.ipynb: the release, every exercise done
"""
from pathlib import Path

import nbformat

from helpers import REPO, cell_source, grade_id, solutions_notebook, variant

RELEASED = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SELF_CHECK_CALL = "check_my_work()"


def is_solution_cell(cell) -> bool:
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("solution"))


def finished_notebook(released, folder) -> Path:
    """folder/<same name>: the student release as a learner hands it in with
    every exercise done: each nbgrader solution cell holds the instructor's
    solution (found in solutions/ by grade_id); every other cell, visible
    checks, widgets and plots included, is the release's own."""
    solutions = solutions_notebook(Path(released).stem)
    answers = {grade_id(cell): cell_source(solutions, grade_id(cell))
               for cell in nbformat.read(str(released), as_version=4).cells if is_solution_cell(cell)}
    return variant(released, folder, replace=answers)


def self_check_index(notebook) -> int | None:
    """Index of the code cell that calls the self-check, if the notebook has one."""
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code" and SELF_CHECK_CALL in cell.source:
            return index
    return None
