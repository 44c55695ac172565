"""The student notebooks are a fresh nbgrader release of the solutions, and both
kinds of notebook carry what students and graders rely on."""
from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parent.parent
SOLUTIONS = sorted((REPO / "solutions").glob("[0-9][0-9]_*.ipynb"))
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
COLAB_URL = "https://colab.research.google.com/github/lmcourse/lm-pretraining-course/blob/main/notebooks/"
SOLUTION_MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")


def load_release_script():
    spec = importlib.util.spec_from_file_location("release", REPO / "scripts" / "release.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def nbgrader_meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def by_name(paths):
    return pytest.mark.parametrize("path", paths, ids=[path.name for path in paths])


def test_every_solution_has_a_student_notebook():
    assert SOLUTIONS, "no solutions/NN_*.ipynb"
    assert [path.name for path in NOTEBOOKS] == [path.name for path in SOLUTIONS]


def test_notebooks_equal_a_fresh_release():
    result = subprocess.run(
        [sys.executable, "scripts/release.py", "--check"], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, f"notebooks/ is stale; run `make release`:\n{result.stderr}"


def test_check_names_stale_missing_and_orphan_notebooks(tmp_path):
    release = load_release_script()
    first, *others = SOLUTIONS
    edited = nbformat.read(REPO / "notebooks" / first.name, as_version=4)
    edited.cells[0].source += "\nedited by hand"
    nbformat.write(edited, tmp_path / first.name)
    for solution in others:
        shutil.copy(REPO / "notebooks" / solution.name, tmp_path / solution.name)
    (tmp_path / "99_orphan.ipynb").write_text("{}")
    missing = others[0] if others else None
    if missing:
        (tmp_path / missing.name).unlink()

    problems = release.stale_notebooks(tmp_path)

    assert any(first.name in p and "differs" in p for p in problems), problems
    assert any("99_orphan.ipynb" in p for p in problems), problems
    if missing:
        assert any(missing.name in p and "missing" in p for p in problems), problems
    assert len(problems) == 2 + bool(missing), problems


@by_name(NOTEBOOKS)
def test_student_notebook_has_no_outputs_and_no_solutions(path):
    notebook = nbformat.read(path, as_version=4)
    for index, cell in enumerate(notebook.cells):
        for marker in SOLUTION_MARKERS:
            assert marker not in cell.source, f"cell {index} contains {marker!r}"
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"cell {index} has outputs"
            if nbgrader_meta(cell).get("solution"):
                assert "raise NotImplementedError()" in cell.source, f"cell {index} has no stub"


@by_name(SOLUTIONS)
def test_solution_opens_in_colab_from_its_own_student_notebook(path):
    notebook = nbformat.read(path, as_version=4)
    badge = f"{COLAB_URL}{path.name}"
    first_markdown = next(cell for cell in notebook.cells if cell.cell_type == "markdown")
    assert badge in first_markdown.source, f"the first markdown cell must link to {badge}"
    first_code = next(cell for cell in notebook.cells if cell.cell_type == "code")
    for line in (
        'if "google.colab" in sys.modules:',
        "![ -d /content/lm-pretraining-course ] || git clone -q --depth 1 https://github.com/lmcourse/lm-pretraining-course "
        "/content/lm-pretraining-course",
        "%pip install -q -e /content/lm-pretraining-course",
        'sys.path.insert(0, "/content/lm-pretraining-course")',
    ):
        assert line in first_code.source, f"the first code cell (Colab setup) lacks {line!r}"


@by_name(SOLUTIONS)
def test_every_answer_cell_has_its_locked_check_cell_right_under_it(path):
    """An exercise graded in this notebook has a check cell worth its hidden
    points; an answer cell graded elsewhere (attention, reused from 02) or a
    bonus has a locked check cell worth nothing, so nbgrader's totals and the
    grader's agree."""
    from autograder import registry
    points = {exercise.name: exercise.points for exercise in registry.exercises_for(path.stem)}
    cells = nbformat.read(path, as_version=4).cells
    answered = set()
    for index, cell in enumerate(cells):
        meta = nbgrader_meta(cell)
        if not meta.get("solution"):
            continue
        assert "### BEGIN SOLUTION" in cell.source and "### END SOLUTION" in cell.source, meta["grade_id"]
        name = meta["grade_id"].removesuffix("_code")
        answered.add(name)
        check = nbgrader_meta(cells[index + 1]) if index + 1 < len(cells) else {}
        assert check.get("grade_id") == name, f"no check cell {name!r} right under {meta['grade_id']!r}"
        assert check.get("locked") and not check.get("solution"), name
        if name in points:
            assert check.get("grade") and check.get("points") == points[name], \
                f"check cell {name!r} is worth {check.get('points')}, its hidden checks {points[name]}"
        else:
            assert not check.get("grade") and not check.get("points"), f"{name!r} is not graded here"
    assert points and set(points) <= answered, f"graded exercises without an answer cell: {set(points) - answered}"


@by_name(NOTEBOOKS)
def test_student_notebook_opens_in_colab_from_the_configured_repository(path):
    """The one setting (pyproject's Repository URL) is what the released
    badges and Colab set-up cells point at."""
    url = load_release_script().course_url()
    owner_and_name = url.removeprefix("https://github.com/")
    name = owner_and_name.split("/")[1]
    notebook = nbformat.read(path, as_version=4)
    first_markdown = next(cell for cell in notebook.cells if cell.cell_type == "markdown")
    assert f"colab.research.google.com/github/{owner_and_name}/blob/main/notebooks/{path.name}" in first_markdown.source
    first_code = next(cell for cell in notebook.cells if cell.cell_type == "code")
    assert f"git clone -q --depth 1 {url} /content/{name}" in first_code.source
    assert f"%pip install -q -e /content/{name}" in first_code.source


def test_a_release_for_another_repository_points_every_colab_link_there():
    release = load_release_script()
    url = "https://github.com/example-teacher/pretraining-student"
    (name, content), = release.release_notebooks(SOLUTIONS[:1], url).items()
    text = content.decode("utf-8")
    assert "example-teacher/pretraining-student/blob/main/notebooks/" + name in text
    assert f"git clone -q --depth 1 {url} /content/pretraining-student" in text
    assert release.course_url() not in text and "/content/lm-pretraining-course" not in text
    with pytest.raises(ValueError, match="GitHub"):
        release.retarget(text, release.course_url(), "https://gitlab.example.org/course")


@by_name(SOLUTIONS)
def test_settings_live_in_one_parameters_cell_right_after_the_imports(path):
    """Every setting a grader or a benchmark changes is in the one code cell tagged
    `parameters` (papermill's convention), which alone asks whether it is being graded:
    lesson cells read the settings by name and never branch on grading."""
    import re

    import bench
    notebook = nbformat.read(path, as_version=4)
    index = bench.parameters_cell(notebook)
    assert "nbgrader" not in notebook.cells[index].metadata, "a settings cell is the learner's to change"
    assert "import" in notebook.cells[index - 1].source, "the settings cell comes right after the imports"
    assert "grading_mode()" in notebook.cells[index].source
    for number, cell in enumerate(notebook.cells):
        if cell.cell_type == "code" and number != index:
            assert not re.search(r"grading_mode\(|\bGRADING\b|\bFAST\b", cell.source), \
                f"code cell {number} branches on grading: {cell.source[:200]}"
