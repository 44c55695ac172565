"""Every solutions notebook runs top to bottom in grading mode without an error."""
from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from ipykernel.kernelspec import write_kernel_spec
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parent.parent
SOLUTIONS = sorted((REPO / "solutions").glob("[0-9][0-9]_*.ipynb"))


@pytest.fixture
def venv_kernel(tmp_path, monkeypatch):
    """Make the kernel named "python3" this interpreter (the venv's), whatever
    kernels the machine has installed: JUPYTER_PATH is searched first."""
    write_kernel_spec(tmp_path / "kernels" / "python3")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    return "python3"


@pytest.mark.parametrize(
    "path",
    [pytest.param(path, marks=pytest.mark.xdist_group(f"nb_{path.stem}"), id=path.stem) for path in SOLUTIONS],
)
def test_solution_runs_in_grading_mode(path, venv_kernel):
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=300,  # per cell
        kernel_name=venv_kernel,
        resources={"metadata": {"path": str(path.parent)}},
    )
    env = {**os.environ, "LMCOURSE_GRADING": "1", "MPLBACKEND": "Agg"}
    client.execute(env=env)  # raises CellExecutionError, with the cell and traceback, on any error
