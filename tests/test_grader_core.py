"""The grader's core on a tiny stand-in notebook: the wire format, lenient
reading, and that every submission, however broken, yields its rows. The
sandbox itself (network, files, processes, sizes) is tested on a corpus of
hostile submissions in test_hostile.py."""
import json
import math

import nbformat
import pytest
import torch

from autograder import registry, wire
from autograder.expect import expect_close, expect_equal
from autograder.grade import grade_paths, grade_submission
from autograder.notebook import NotebookError, code_cells, identify
from autograder.session import Limits

NOTEBOOK = "99_selftest"
GOOD_CELLS = {
    "add": "def add(a, b):\n    return a + b",
    "scale": "import torch\ndef scale(t, k):\n    return t * k",
    "Box": "class Box:\n    def __init__(self, value):\n        self.value = value\n"
           "    def get(self):\n        return self.value",
}
FAST = Limits(cell_seconds=10, notebook_seconds=60)


@pytest.fixture(scope="module", autouse=True)
def selftest_exercises():
    """Registers a tiny notebook's checks for this module only."""
    @registry.exercise(NOTEBOOK, "add", points=1, timeout=8)
    def check_add(student, rng):
        a, b = rng.randrange(100), rng.randrange(100)
        expect_equal(student.call("add", a, b), a + b, f"add({a}, {b})")
        expect_equal(student.call("add", (1,), (2,)), (1, 2), "add((1,), (2,))")

    @registry.exercise(NOTEBOOK, "scale", points=2, timeout=8)
    def check_scale(student, rng):
        t = torch.randn(3, 4)
        expect_close(student.call("scale", t, 2.0), t * 2, "scale(t, 2.0)")

    @registry.exercise(NOTEBOOK, "Box", points=1, timeout=8)
    def check_box(student, rng):
        value = {b"k": [1, 2.5, None, (True, "é")]}
        expect_equal(student.new("Box", value).method("get"), value, "Box(value).get()")

    registry.load_hidden_checks()
    yield
    del registry.EXERCISES[NOTEBOOK]


def write_notebook(path, *sources, version=4):
    if version == 3:
        path.write_text(json.dumps({"nbformat": 3, "nbformat_minor": 0, "metadata": {},
                                    "worksheets": [{"cells": [
                                        {"cell_type": "code", "input": s, "language": "python",
                                         "outputs": []} for s in sources]}]}))
    else:
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
        nbformat.write(nb, str(path))
    return path


def rows_by_exercise(rows):
    return {row["exercise"]: row for row in rows}


def grade(path):
    return rows_by_exercise(grade_submission(str(path), FAST))


# ------------------------------------------------------------------- wire
@pytest.mark.parametrize("value", [
    None, True, 0, -3, 2**70, 1.5, math.inf, "héllo", b"\x00\xff", [1, [2]], (1, (2, b"x")),
    {(1, 2): 3, b"k": {"n": None}}, torch.arange(6).reshape(2, 3), torch.tensor([], dtype=torch.bool),
    torch.randn(2, 2, dtype=torch.bfloat16),
])
def test_wire_round_trip_keeps_values_and_types(value):
    back = wire.decode(json.loads(json.dumps(wire.encode(value))))
    if isinstance(value, torch.Tensor):
        assert back.dtype == value.dtype and torch.equal(back, value)
    else:
        assert type(back) is type(value) and back == value


def test_wire_sends_objects_as_handles_and_rejects_malformed_data():
    class Lying:
        def __eq__(self, other):
            return True
    kept = []
    encoded = wire.encode([Lying()], make_handle=lambda obj: kept.append(obj) or wire.Handle(7))
    assert encoded == [{"__handle__": 7}] and len(kept) == 1
    with pytest.raises(wire.WireError):
        wire.encode(Lying())
    for bad in [{"__pickle__": "x"}, {"__tensor__": {"dtype": "float32", "shape": [2], "data": ""}},
                {"__tuple__": 1}, {"a": 1, "b": 2}, {"__bytes__": "not base64!"}]:
        with pytest.raises(wire.WireError):
            wire.decode(bad)


# --------------------------------------------------------------- reading
def test_reads_nbformat_3_and_colab_metadata(tmp_path):
    assert code_cells(write_notebook(tmp_path / "a.ipynb", "x = 1", version=3)) == ["x = 1"]
    colab = {"nbformat": 4, "nbformat_minor": 0,
             "metadata": {"colab": {"provenance": []}, "accelerator": "GPU"},
             "cells": [{"cell_type": "code", "source": ["x = 1\n", "y = 2"],
                        "metadata": {"id": "abc"}, "execution_count": None, "outputs": []}]}
    (tmp_path / "b.ipynb").write_text(json.dumps(colab))
    assert code_cells(tmp_path / "b.ipynb") == ["x = 1\ny = 2"]


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b"\xff\xfe\x00garbage", b""])
def test_unreadable_files_raise_a_clear_error(tmp_path, content):
    path = tmp_path / "broken.ipynb"
    path.write_bytes(content)
    with pytest.raises(NotebookError):
        code_cells(path)


def test_identifies_notebook_by_name_then_by_exercises():
    known = {"01_tokenization": [registry.Exercise("01_tokenization", "merge_pair", 1, None)],
             NOTEBOOK: [registry.Exercise(NOTEBOOK, "add", 1, None)]}
    assert identify("Copy of 01_tokenization (2).ipynb", [], known) == "01_tokenization"
    assert identify("homework.ipynb", ["%time x=1\ndef merge_pair(ids, p, n):\n    pass"],
                    known) == "01_tokenization"
    assert identify("homework.ipynb", ["x = 1"], known) is None


# --------------------------------------------------------------- grading
@pytest.mark.xdist_group("grader_core")
def test_good_notebook_passes_and_rows_follow_the_report_format(tmp_path):
    path = write_notebook(tmp_path / f"{NOTEBOOK}.ipynb", *GOOD_CELLS.values())
    rows = grade_submission(str(path), FAST)
    assert [r["exercise"] for r in rows] == ["add", "scale", "Box"]
    for row in rows:
        assert set(row) == {"submission", "notebook", "exercise", "points", "max_points",
                            "status", "message", "sandbox"}
        assert row["sandbox"] == "bubblewrap"  # the default mode, recorded in every row
        assert row["status"] == "passed" and row["points"] == row["max_points"]
        assert row["submission"] == str(path) and row["notebook"] == NOTEBOOK


@pytest.mark.xdist_group("grader_core")
def test_broken_cells_cost_only_their_exercises(tmp_path):
    path = write_notebook(
        tmp_path / f"{NOTEBOOK}.ipynb",
        GOOD_CELLS["add"],
        "import os\nos._exit(3)",                        # kills the worker: skipped on restart
        "def scale(t, k)\n    return t * k",             # syntax error
        "while True:\n    pass",                         # hangs: skipped on restart
        GOOD_CELLS["Box"],
    )
    rows = grade(path)
    assert rows["add"]["status"] == "passed" and rows["Box"]["status"] == "passed"
    assert rows["scale"]["status"] == "missing"
    assert "code cell 3" in rows["scale"]["message"] and "SyntaxError" in rows["scale"]["message"]


@pytest.mark.xdist_group("grader_core")
def test_lying_answers_and_runaway_calls_earn_nothing(tmp_path):
    path = write_notebook(
        tmp_path / f"{NOTEBOOK}.ipynb",
        "class Yes:\n    def __eq__(self, other):\n        return True\n"
        "def add(a, b):\n    return Yes()",
        "import torch, os\ntorch.allclose = lambda *a, **k: True\ntorch.equal = lambda *a, **k: True\n"
        "def scale(t, k):\n    os._exit(1)",
        "class Box:\n    def __init__(self, value):\n        pass\n    def get(self):\n"
        "        while True:\n            pass",
    )
    rows = grade(path)
    assert rows["add"]["status"] == "failed" and rows["add"]["points"] == 0
    assert rows["scale"]["status"] == "error" and rows["scale"]["points"] == 0
    assert rows["Box"]["status"] == "timeout" and rows["Box"]["points"] == 0


@pytest.mark.xdist_group("grader_core")
def test_every_file_gets_rows_and_regrading_is_identical(tmp_path):
    write_notebook(tmp_path / f"{NOTEBOOK}.ipynb", *GOOD_CELLS.values())
    (tmp_path / f"{NOTEBOOK}_broken.ipynb").write_bytes(b"\x89PNG not a notebook")
    (tmp_path / "mystery.ipynb").write_text(json.dumps({"cells": []}))
    first = grade_paths([str(tmp_path)], workers=2, limits=FAST)
    second = grade_paths([str(tmp_path)], workers=2, limits=FAST)
    assert first == second
    by_file = {}
    for row in first:
        by_file.setdefault(row["submission"].rsplit("/", 1)[-1], []).append(row)
    assert [r["status"] for r in by_file[f"{NOTEBOOK}.ipynb"]] == ["passed"] * 3
    assert [r["status"] for r in by_file[f"{NOTEBOOK}_broken.ipynb"]] == ["error"] * 3
    assert by_file["mystery.ipynb"][0]["notebook"] is None
