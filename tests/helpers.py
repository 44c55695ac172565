"""Variants of the course notebooks, and grading them, for the grading tests.

    path = variant(solutions_notebook("01_tokenization"), tmp_path / "wrong",
                   replace={"merge_pair_code": "def merge_pair(ids, pair, new_id):\\n    return ids"})
    grade(path)["merge_pair"]["status"]          # -> "failed"
"""
import inspect
import re
from pathlib import Path

import nbformat
import torch

from autograder import wire
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


def grade_labelled(notebooks: dict, workers=2) -> dict:
    """{label: {exercise: row}} for a {label: path} of notebooks, graded in one batch."""
    rows = grade_all(notebooks.values(), workers=workers)
    return {label: rows[str(path)] for label, path in notebooks.items()}


def graded_variants(name, folder, *, base, correct, wrong, rounds, cheats=None, also_correct=None,
                    extra=None) -> dict:
    """Notebook `name`'s variants, graded in one batch: {label: {exercise: row}}. The labels are
    "solutions"; "blank" (the release); "correct" (`base` with each exercise's cell replaced by
    `correct`'s, and by `also_correct`'s: {exercise: source}); "round r" (`base` with the r-th
    round's wrong versions, `rounds` as from wrong_rounds()); and each cheat of `cheats`
    ({what: (cells appended to `base`, the exercises they make wrong)}). `extra` adds
    {label: path} notebooks built by the caller."""
    folder = Path(folder)
    notebooks = {
        "solutions": solutions_notebook(name),
        "blank": release_or_blank(name, folder / "blank"),
        "correct": variant(base, folder / "correct", replace={
            f"{exercise}_code": source for exercise, source in (correct | (also_correct or {})).items()}),
    }
    for r, wrong_round in enumerate(rounds):
        notebooks[f"round {r}"] = variant(base, folder / f"round{r}", replace={
            f"{exercise}_code": wrong[exercise][what] for exercise, what in wrong_round.items()})
    for number, (what, (cells, _)) in enumerate((cheats or {}).items()):
        notebooks[what] = variant(base, folder / f"cheat{number}", append=cells)
    return grade_labelled(notebooks | (extra or {}))


def definitions_only(source, folder, markers) -> Path:
    """A copy of the notebook with only the exercises' cells and the code
    cells containing one of `markers` (set-up, given classes): what the hidden
    checks call, without the visible checks, training and plots."""
    notebook = nbformat.read(str(source), as_version=4)
    notebook.cells = [cell for cell in notebook.cells if cell.cell_type == "code" and (
        (grade_id(cell) or "").endswith("_code") or any(marker in cell.source for marker in markers))]
    path = Path(folder) / Path(source).name
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, str(path))
    return path


def wrong_rounds(wrong: dict) -> list[dict]:
    """Round r holds the r-th wrong version of every exercise that has one:
    {exercise: what is wrong}. Where a notebook's checks are independent (each
    runs with trusted stand-ins for what it builds on), one graded round shows
    each of its wrong exercises losing exactly its own points."""
    return [{exercise: list(versions)[r] for exercise, versions in wrong.items() if r < len(versions)}
            for r in range(max(len(versions) for versions in wrong.values()))]


def round_id(wrong_round: dict) -> str:
    return " ".join(f"[{exercise}: {what}]" for exercise, what in wrong_round.items())


def expect_only_failed(rows, points, wrong=()):
    """Zero points, with a message, for the exercises in `wrong` (a {exercise:
    what is wrong with it} or a collection of exercises); full marks for the
    others. `points` is {exercise: max points}."""
    wrong = wrong if isinstance(wrong, dict) else dict.fromkeys(wrong, "wrong")
    assert set(rows) == set(points)
    for exercise, row in rows.items():
        if exercise in wrong:
            assert row["points"] == 0 and row["status"] in ("failed", "error"), f"{wrong[exercise]!r} got through: {row}"
            assert row["message"], row
        else:
            assert (row["status"], row["points"]) == ("passed", points[exercise]), row


def expect_blank_scores_zero(rows, points):
    """The release's stubs raise NotImplementedError: zero, with a row per exercise."""
    assert set(rows) == set(points)
    for exercise, row in rows.items():
        assert row["points"] == 0 and row["max_points"] == points[exercise], row
        assert row["status"] in ("error", "failed") and "NotImplementedError" in row["message"], row


class LocalStudent:
    """Calls a function in this process as the grader calls the notebook's:
    arguments and answers pass through the wire format. For running a hidden
    check's statistics many times without a worker."""

    def __init__(self, function):
        self.function = function

    @staticmethod
    def generator(seed):
        return wire.GeneratorSeed(seed)

    def call(self, name, *args, **kwargs):
        return wire.decode(wire.encode(self._run(args, kwargs)[0]))

    def call_with_arguments(self, name, *args, **kwargs):
        """(answer, [the positional arguments as the call left them])."""
        return wire.decode(wire.encode(list(self._run(args, kwargs))))

    def _run(self, args, kwargs):
        def resolve(value):
            return torch.Generator().manual_seed(value.seed) if isinstance(value, wire.GeneratorSeed) else value
        args = [resolve(a) for a in wire.decode(wire.encode(list(args)))]
        kwargs = {k: resolve(v) for k, v in wire.decode(wire.encode(kwargs)).items()}
        return self.function(*args, **kwargs), args


def compile_function(source, name):
    """The function `name` defined by `source`, run in a fresh namespace."""
    namespace = {}
    exec(source, namespace)
    return namespace[name]


def standins(reference_module) -> dict:
    """What the grader sends into the worker: each of the module's STANDINS,
    from its source alone, run in an empty namespace. {name: function}"""
    return {function.__name__: compile_function(inspect.getsource(function), function.__name__)
            for function in reference_module.STANDINS}


def seq2seq_classes(model_source) -> dict:
    """Notebook 04's given Seq2SeqConfig and the TinySeq2Seq of `model_source` (a
    TinySeq2Seq_code cell), run with the trusted attention: the namespace they were run in."""
    from autograder.reference.attention import attention

    config_cell = next(cell.source for cell in nbformat.read(str(solutions_notebook("04_span_corruption")), as_version=4).cells
                       if "class Seq2SeqConfig" in cell.source)
    namespace = {"attention": attention}
    exec("import math\nfrom dataclasses import dataclass\nimport torch\nimport torch.nn as nn\n"
         "import torch.nn.functional as F\n" + config_cell + "\n" + model_source, namespace)
    return namespace


# A Python every user may run (the project's own may live under root's home).
SYSTEM_PYTHON = Path("/usr/bin/python3.11")
PROJECT_FILES = ("pyproject.toml", "README.md", "lmcourse", "autograder")


def fresh_environment(folder, project=REPO) -> Path:
    """A new virtual environment in `folder` with `project` (a folder with a
    pyproject.toml: this repository, or a student edition) installed
    non-editable, as `pip install .` does, from a copy (so builds never race
    in the source tree). Its dependencies are this environment's, reached
    through a .pth file, so nothing is downloaded. Returns its python.
    Built on SYSTEM_PYTHON, which every user may run (skips without it)."""
    import shutil
    import subprocess
    import sys
    import sysconfig

    import pytest
    if not SYSTEM_PYTHON.exists():
        pytest.skip(f"no {SYSTEM_PYTHON}, a Python every user may run")
    folder = Path(folder)
    source = folder / "source"
    for name in PROJECT_FILES:
        if (Path(project) / name).is_dir():
            shutil.copytree(Path(project) / name, source / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            source.mkdir(parents=True, exist_ok=True)
            shutil.copy(Path(project) / name, source / name)
    environment = folder / "env"
    subprocess.run([str(SYSTEM_PYTHON), "-m", "venv", "--without-pip", str(environment)], check=True)
    site_packages = environment / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    (site_packages / "course-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(site_packages), str(source)], check=True, capture_output=True)
    shutil.rmtree(source)
    return environment / "bin" / "python"
