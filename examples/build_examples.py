"""Build examples/submissions/: a small class's submissions of notebook 01,
each showing one thing the grader does (examples/README.md says what each
one scores, and tests/test_class_grading.py checks it).

They are made from the student release (notebooks/), the solutions and the
deliberately wrong implementations the tests use (tests/wrong/), so they stay
in step with the course: rerun this after `make release`.

    .venv/bin/python examples/build_examples.py            # rewrite examples/submissions/
    .venv/bin/python examples/build_examples.py --out DIR  # write them elsewhere
"""
import argparse
import json
import re
import sys
import tempfile
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import helpers  # noqa: E402  (tests/helpers.py: notebook variants)
from wrong.tokenization import WRONG  # noqa: E402

NOTEBOOK = "01_tokenization"
RELEASE = REPO / "notebooks" / f"{NOTEBOOK}.ipynb"
SUBMISSIONS = Path(__file__).resolve().parent / "submissions"
SOLUTION_MARKER = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n", re.MULTILINE)

# dave's extra cell: ways to full marks on stock `nbgrader autograde`, which
# runs the notebook and its check cells in one kernel in the course folder.
CHEAT = '''\
# Full marks three ways: check cells whose asserts never fire, a torch.equal
# that always agrees, and every score in the gradebook set by hand.
import pathlib
import sqlite3

import torch

torch.equal = lambda *args, **kwargs: True


def _drop_asserts(lines):
    return [line.replace("assert ", "pass  # ", 1) for line in lines]


get_ipython().input_transformers_post.append(_drop_asserts)

for folder in [pathlib.Path.cwd(), *pathlib.Path.cwd().parents]:
    if (folder / "gradebook.db").exists():
        with sqlite3.connect(folder / "gradebook.db") as gradebook:
            gradebook.execute("UPDATE grade SET manual_score = 100")
'''

# erin's unfinished edit of train_bpe, saved as it was.
SYNTAX_ERROR = "def train_bpe(text, vocab_size, special_tokens=()):\n    merges = [\n"


def solved() -> dict:
    """{"<exercise>_code": the solutions' cell without nbgrader's markers}"""
    cells = nbformat.read(str(helpers.solutions_notebook(NOTEBOOK)), as_version=4).cells
    return {helpers.grade_id(cell): SOLUTION_MARKER.sub("", cell.source) for cell in cells
            if (helpers.grade_id(cell) or "").endswith("_code")}


def build(out: Path):
    answers = solved()
    with tempfile.TemporaryDirectory() as tmp:
        def student(name, replace=None):
            made = helpers.variant(RELEASE, Path(tmp) / name, replace=replace)
            return nbformat.read(str(made), as_version=4)

        notebooks = {
            "alice": student("alice", answers),
            "bob": student("bob", {**answers,
                                   "merge_pair_code": WRONG["merge_pair"]["right to left"],
                                   "BPETokenizer_code": WRONG["BPETokenizer"]["special tokens not atomic"]}),
            "carol": student("carol"),
            "dave": student("dave", {**answers,
                                     "pretokenize_code": WRONG["pretokenize"]["no contractions"]}),
        }
        # Right after the set-up cell, so that in a stock autograde every check cell runs after it.
        notebooks["dave"].cells.insert(1, nbformat.v4.new_code_cell(CHEAT))
        erin = student("erin", {**answers, "train_bpe_code": SYNTAX_ERROR})

    release_ids = {cell.id for cell in nbformat.read(str(RELEASE), as_version=4).cells}
    for name, notebook in notebooks.items():
        for index, cell in enumerate(notebook.cells):
            if cell.id not in release_ids:  # new cells get random ids: fix them, so a rebuild is identical
                cell.id = f"added-{index}"
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, str(folder / f"{NOTEBOOK}.ipynb"))
    (out / "erin").mkdir(parents=True, exist_ok=True)
    (out / "erin" / f"Copy of {NOTEBOOK}.ipynb").write_text(as_saved_by_colab(erin), encoding="utf-8")


def as_saved_by_colab(notebook) -> str:
    """The notebook as Colab writes it: format 4.0, Colab's own metadata, the
    cell ids inside each cell's metadata, and nothing else of the cells'
    metadata (nbgrader's included), as an editor that drops unknown metadata
    leaves it."""
    cells = []
    for cell in notebook.cells:
        saved = {"cell_type": cell.cell_type, "metadata": {"id": cell.id}, "source": cell.source}
        if cell.cell_type == "code":
            saved.update(execution_count=None, outputs=[])
        cells.append(saved)
    return json.dumps({
        "nbformat": 4, "nbformat_minor": 0,
        "metadata": {"colab": {"provenance": [], "name": f"Copy of {NOTEBOOK}.ipynb"},
                     "kernelspec": {"name": "python3", "display_name": "Python 3"},
                     "language_info": {"name": "python"}, "accelerator": "GPU"},
        "cells": cells,
    }, indent=2, ensure_ascii=False) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=SUBMISSIONS)
    build(parser.parse_args(argv).out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
