"""scripts/gpu_timings.py, checked on the CPU with a tiny notebook: it times
each cell, finds the time-budget lines, stops at an error and says where,
and reports the device the course would use."""
import json
import subprocess
import sys

import nbformat
import pytest
import torch

from helpers import REPO

SCRIPT = REPO / "scripts" / "gpu_timings.py"


def test_times_cells_and_reports_the_device(tmp_path):
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# not timed"),
        nbformat.v4.new_code_cell("import time\ntime.sleep(0.3)"),
        nbformat.v4.new_code_cell('print("Time budget of 1 s used up after 3 of 10 steps.")\n'
                                  'import os  # as in JupyterLab, the self-check can find this file\n'
                                  'assert os.environ["JPY_SESSION_NAME"].endswith("00_tiny.ipynb")'),
        nbformat.v4.new_code_cell('raise ValueError("boom")'),
        nbformat.v4.new_code_cell('print("after the error")'),
    ])
    path = tmp_path / "00_tiny.ipynb"
    nbformat.write(notebook, str(path))
    report = tmp_path / "timings.json"
    done = subprocess.run([sys.executable, str(SCRIPT), "--allow-cpu", "--json", str(report), str(path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr  # a notebook raised
    record, = json.loads(report.read_text())["notebooks"]
    assert [cell["index"] for cell in record["cells"]] == [1, 2, 3]  # stopped at the error
    assert record["cells"][0]["seconds"] >= 0.3
    assert record["budget_lines"] == ["cell 2: Time budget of 1 s used up after 3 of 10 steps."]
    assert record["error"].startswith("cell 3") and "ValueError: boom" in record["error"]
    expected_device = "cuda" if torch.cuda.is_available() else "cpu"
    assert record["device"].startswith(expected_device)
    assert "| 00_tiny |" in done.stdout


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is here: nothing to refuse")
def test_refuses_to_pass_cpu_times_for_gpu_times(tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPT), "--json", str(tmp_path / "t.json")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--allow-cpu" in done.stderr
    assert not (tmp_path / "t.json").exists()
