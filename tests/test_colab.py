"""The course as a self-learner meets it on Colab, simulated here.

What runs, and what it proves:
- Badges: each student notebook opens from its badge at the Colab URL of
  its own path on GitHub, and its first code cell is the Colab set-up cell.
- Set-up path: a fresh Python stands in for Colab's: PyTorch and the other
  preinstalled packages are visible (this environment's, through a .pth
  file), lmcourse is not, `google.colab` is imported when its kernel starts,
  as Colab's does. `git` is a stand-in that accepts only the course's
  GitHub URL and copies what that repository would hold (the files git
  tracks or would track here: `git ls-files -co --exclude-standard`). The
  notebook's own set-up cell then runs unchanged but for the folder /content,
  moved under a temporary one; its `%pip install` runs real pip against the
  clone with no package index (so it can only succeed if Colab's
  preinstalled packages satisfy every dependency: torch is kept, never
  reinstalled) and without build isolation (which would download
  setuptools). Then the notebook's next cells, up to its first exercise, run,
  and a probe checks that lmcourse, autograder and data/ come from the clone
  and the corpus loads.
- Colab-saved notebooks: each notebook, finished and saved as Colab saves it
  (file "Copy of NN_name.ipynb", Colab's metadata, cell ids in metadata,
  nbformat 4.0, no nbgrader metadata), gives the grader the same code as the
  original and is recognised, with its name or without. For the first
  notebook, that file is what a fake Colab front end hands to
  `check_my_work()` (google.colab._message.blocking_request("get_ipynb")):
  it scores full marks, as the original does.
Not proved here: that the GitHub repository is public and current, Colab's
actual Python and package versions, the network.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from autograder.notebook import code_cells, identify
from autograder.registry import exercises_for, notebooks
from helpers import REPO
from learner import RELEASED, finished_notebook, is_solution_cell

GITHUB = "https://github.com/lmcourse/lm-pretraining-course"
COLAB_URL = "https://colab.research.google.com/github/lmcourse/lm-pretraining-course/blob/main/notebooks/{name}"
COLAB_CLONE = "/content/lm-pretraining-course"
COLAB_DETECTION = '"google.colab" in sys.modules'
# Distributions of the course itself: Colab does not have them before the set-up cell.
COURSE_ENTRIES = ("lmcourse", "autograder", "__editable__")

FAKE_GOOGLE_COLAB = {
    "__init__.py": '"""Stand-in for Colab\'s google.colab, for the course\'s tests."""\n',
    "_message.py": '''"""Stand-in for Colab's channel to its front end: answers "get_ipynb"
with the notebook saved at $FAKE_COLAB_NOTEBOOK, as Colab's answers with the
notebook open in the browser."""
import json
import os


def blocking_request(request_type, request="", timeout_sec=5, parent=None):
    if request_type != "get_ipynb":
        raise NotImplementedError(request_type)
    with open(os.environ["FAKE_COLAB_NOTEBOOK"], encoding="utf-8") as file:
        return {"ipynb": json.load(file)}
''',
}

FAKE_GIT = '''#!{python}
"""Stand-in for `git clone [options] URL DEST` on the simulated Colab: copies
the course repository's files to DEST, for the course's URL only."""
import os
import shutil
import sys

args = sys.argv[1:]
if args[:1] != ["clone"] or len(args) < 3 or args[-2].removesuffix(".git") != {url!r}:
    sys.exit(f"fake git: only `git clone ... {url} DEST` is simulated, not {{args}}")
destination = args[-1]
if os.path.isdir(destination) and os.listdir(destination):  # as git answers
    print(f"fatal: destination path '{{destination}}' already exists and is not an empty directory.",
          file=sys.stderr)
    sys.exit(128)
shutil.copytree({snapshot!r}, destination, dirs_exist_ok=True)
'''

PROBE = """\
import importlib.metadata, json, torch, lmcourse, autograder
from lmcourse.data import load_corpus
from lmcourse.paths import data_dir
print(json.dumps({"lmcourse": lmcourse.__file__, "autograder": autograder.__file__, "torch": torch.__file__,
                  "installed": [dist.version for dist in importlib.metadata.distributions(name="lmcourse")],
                  "data": str(data_dir()),
                  "corpus_chars": len(load_corpus(split="val"))}))
"""


def first_code_cell(notebook):
    return next(cell for cell in notebook.cells if cell.cell_type == "code")


def write_package(folder: Path, files: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


@pytest.mark.parametrize("released", RELEASED, ids=[path.stem for path in RELEASED])
def test_badge_opens_this_notebook_in_colab(released):
    notebook = nbformat.read(str(released), as_version=4)
    badge = notebook.cells[0]
    expected = COLAB_URL.format(name=released.name)
    assert badge.cell_type == "markdown" and f"]({expected})" in badge.source, (
        f"the first cell of {released.name} should be a badge linking to {expected}:\n{badge.source}")
    assert "colab-badge.svg" in badge.source
    assert COLAB_DETECTION in first_code_cell(notebook).source, "the first code cell is not the Colab set-up"


@pytest.fixture(scope="module")
def github(tmp_path_factory) -> Path:
    """What the course's GitHub repository would hold: the files git tracks
    here, or would track (`git ls-files -co --exclude-standard`)."""
    snapshot = tmp_path_factory.mktemp("github") / "lm-pretraining-course"
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, listed):
        if (REPO / name).is_file():  # a tracked file deleted here is gone from the next commit too
            (snapshot / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, snapshot / name)
    return snapshot


@pytest.fixture
def colab(github, tmp_path):
    """A fresh simulated Colab runtime: {"kernel": its kernel's name,
    "jupyter": the folder to put on JUPYTER_PATH to find it, "env": the
    kernel's environment, "content": its /content, "preinstalled": the
    packages "Colab" has, "site": where pip installs}."""
    root = tmp_path / "colab"
    python_home = root / "python"
    venv.create(python_home, with_pip=False)  # pip comes with the preinstalled packages
    python = python_home / "bin" / "python"
    preinstalled = root / "preinstalled"
    preinstalled.mkdir()
    for entry in Path(sysconfig.get_path("purelib")).iterdir():
        if not entry.name.startswith(COURSE_ENTRIES) and entry.suffix != ".pth":
            (preinstalled / entry.name).symlink_to(entry)
    colab_only = root / "colab-only"
    write_package(colab_only / "google" / "colab", FAKE_GOOGLE_COLAB)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(python_home), "platbase": str(python_home)}))
    (site / "colab-preinstalled.pth").write_text(f"{preinstalled}\n{colab_only}\n")

    bin_dir = root / "bin"
    bin_dir.mkdir()
    (bin_dir / "git").write_text(FAKE_GIT.format(python=python, url=GITHUB, snapshot=str(github)))
    (bin_dir / "git").chmod(0o755)

    kernel = root / "jupyter" / "kernels" / "colab-simulated"
    kernel.mkdir(parents=True)
    (kernel / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}",
                 "--IPKernelApp.exec_lines=import google.colab"],  # as Colab's kernel does at start
        "display_name": "Python 3 (simulated Colab)", "language": "python"}))
    # Nothing of this machine's set-up leaks in: no course data path, no
    # virtual environment, no pip configuration (find-links would add packages).
    env = {key: value for key, value in os.environ.items() if not key.startswith("PIP_") and
           key not in ("LMCOURSE_DATA", "VIRTUAL_ENV", "PYTHONPATH", "JPY_SESSION_NAME")}
    env.update({"PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}", "LMCOURSE_GRADING": "1",
                "MPLBACKEND": "Agg", "PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "1",
                "PIP_NO_BUILD_ISOLATION": "0"})  # sic: pip reads "0" as "no build isolation"
    content = root / "content"
    content.mkdir()
    return {"kernel": "colab-simulated", "env": env, "jupyter": root / "jupyter", "content": content,
            "preinstalled": preinstalled, "site": site}


@pytest.mark.parametrize("released", RELEASED, ids=[path.stem for path in RELEASED])
def test_setup_cell_installs_the_course_on_colab(released, colab, monkeypatch):
    notebook = nbformat.read(str(released), as_version=4)
    setup = first_code_cell(notebook)
    assert COLAB_CLONE in setup.source, f"the set-up cell does not clone to {COLAB_CLONE}:\n{setup.source}"
    content = colab["content"]
    clone = content / "lm-pretraining-course"
    start = notebook.cells.index(setup)
    first_exercise = next(i for i, cell in enumerate(notebook.cells) if is_solution_cell(cell))
    setup_here = setup.source.replace("/content/", f"{content}/")
    cells = [nbformat.v4.new_code_cell(setup_here), nbformat.v4.new_code_cell(setup_here)]  # run twice, as learners do
    cells += [cell for cell in notebook.cells[start + 1:first_exercise] if cell.cell_type == "code"]
    cells.append(nbformat.v4.new_code_cell(PROBE))
    notebook.cells = cells

    monkeypatch.setenv("JUPYTER_PATH", str(colab["jupyter"]))
    client = NotebookClient(notebook, timeout=300, kernel_name=colab["kernel"],
                            resources={"metadata": {"path": str(content)}})
    client.execute(env=colab["env"])  # raises CellExecutionError, with the cell and traceback, on any error

    setup_output = "".join(output.get("text", "") for output in notebook.cells[0].outputs)
    probe = json.loads(next(out["text"] for out in notebook.cells[-1].outputs if out.get("name") == "stdout"))
    assert probe["installed"], f"pip did not install the course:\n{setup_output}"
    rerun_output = "".join(output.get("text", "") for output in notebook.cells[1].outputs)
    assert "fatal" not in rerun_output, f"running the set-up cell again fails:\n{rerun_output}"
    for module in ("lmcourse", "autograder", "data"):
        assert Path(probe[module]).is_relative_to(clone), f"{module} is not the clone's: {probe}"
    assert probe["corpus_chars"] > 0
    assert Path(probe["torch"]).is_relative_to(colab["preinstalled"]), f"Colab's torch was replaced: {probe}"
    assert not list(colab["site"].glob("torch*")), "pip installed a second torch"


def colab_saved(source, path) -> Path:
    """`source` as Colab saves a notebook it opened from GitHub, written to
    `path`: nbformat 4.0 with Colab's notebook metadata (runtime, GPU), cell
    ids in each cell's metadata, sources as lists of lines, no nbgrader
    metadata."""
    notebook = nbformat.read(str(source), as_version=4)
    cells = []
    for number, cell in enumerate(notebook.cells):
        saved = {"cell_type": cell.cell_type, "metadata": {"id": f"cell{number:04d}xyz"},
                 "source": cell.source.splitlines(keepends=True)}
        if cell.cell_type == "code":
            saved.update(execution_count=None, outputs=[])
        cells.append(saved)
    colab_notebook = {
        "nbformat": 4, "nbformat_minor": 0,
        "metadata": {"colab": {"provenance": [], "gpuType": "T4", "name": Path(path).name},
                     "kernelspec": {"name": "python3", "display_name": "Python 3"},
                     "language_info": {"name": "python"}, "accelerator": "GPU"},
        "cells": cells,
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(colab_notebook, indent=2))
    return Path(path)


@pytest.fixture
def colab_front_end(tmp_path, monkeypatch):
    """In this process, what check_my_work sees on Colab: google.colab
    imported, and a front end that answers "get_ipynb" with the notebook
    saved at the path this returns."""
    saved = tmp_path / "drive" / "open in the browser.ipynb"
    fake = tmp_path / "fake"
    write_package(fake / "google" / "colab", FAKE_GOOGLE_COLAB)
    monkeypatch.syspath_prepend(str(fake))
    monkeypatch.setenv("FAKE_COLAB_NOTEBOOK", str(saved))
    for flag in ("LMCOURSE_GRADING", "NBGRADER_EXECUTION", "JPY_SESSION_NAME"):
        monkeypatch.delenv(flag, raising=False)
    imported = {"google", "google.colab", "google.colab._message"} - set(sys.modules)
    import google.colab._message  # noqa: F401
    yield saved
    for name in imported:
        sys.modules.pop(name, None)


@pytest.mark.parametrize("released", RELEASED, ids=[path.stem for path in RELEASED])
def test_colab_saved_notebook_reads_as_the_original(released, tmp_path):
    """The grader sees the same code in the Colab file and knows which
    notebook it is, by its name or, as the self-check saves it nameless,
    by the exercises it defines: so it grades it as it grades the original."""
    finished = finished_notebook(released, tmp_path / "finished")
    saved = colab_saved(finished, tmp_path / "drive" / f"Copy of {released.name}")
    assert code_cells(saved) == code_cells(finished), "the grader reads the Colab file's code differently"
    by_notebook = {notebook: exercises_for(notebook) for notebook in notebooks()}
    for name in (saved.name, "colab.ipynb"):
        assert identify(name, code_cells(saved), by_notebook) == released.stem, name


def test_self_check_in_colab_gives_full_marks(tmp_path, colab_front_end):
    """The whole Colab self-check, for the first notebook (the path is the
    same for every notebook; the test above shows each reads the same)."""
    released = RELEASED[0]
    colab_saved(finished_notebook(released, tmp_path / "finished"), colab_front_end)

    from autograder.selfcheck import check_my_work  # what lmcourse.check_my_work() runs outside grading mode
    rows = check_my_work()
    assert {row["submission"] for row in rows} == {"this notebook, as it is now in Colab"}
    expected = {exercise.name: exercise.points for exercise in exercises_for(released.stem)}
    got = {row["exercise"]: (row["status"], row["points"]) for row in rows}
    assert got == {name: ("passed", points) for name, points in expected.items()}, rows
