"""The course as a learner meets it: JupyterLab, driven in headless Chromium.

One JupyterLab server, started as `make lab` starts it (this virtual
environment's `jupyter lab`) but on 127.0.0.1 with LMCOURSE_GRADING=1 in its
environment, so every kernel skips long training. For each student notebook,
with every exercise done (tests/learner.py), the test clicks Run > Run All
Cells and then checks, in the page and in the saved file, that:
- every code cell ran and none raised;
- plots appear (inline images) and ipywidgets render: dragging the first
  slider changes what its cell shows, besides the slider's own readout;
- the self-check cell shows its table with full marks. A cell inserted just
  before it turns grading mode off again (`%env LMCOURSE_GRADING=0`), since
  the self-check does nothing in grading mode: it then grades the saved file,
  as it does for a learner.

Screenshots of each stage go to reports/screenshots/ (git-ignored).

Needs Chromium at /usr/bin/chromium (Debian's `chromium`, which `make
browser` installs; COURSE_CHROMIUM names another) and the `playwright` package; without them the tests skip,
unless COURSE_REQUIRE_BROWSER=1 (set by .ci/run) makes that a failure.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from ipykernel.kernelspec import write_kernel_spec

from autograder.registry import exercises_for
from helpers import REPO
from learner import RELEASED, SELF_CHECK_CALL, finished_notebook, self_check_index

CHROMIUM = Path(os.environ.get("COURSE_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = REPO / "reports" / "screenshots"
RUN_ALL_TIMEOUT_S = 420   # Run All, self-check included, on a loaded 2-core machine
SERVER_START_TIMEOUT_S = 60

# Every code cell has run (a number in its prompt) or, after an error stopped
# Run All, none is still running or queued ([*]), and the kernel is idle.
RUN_ALL_FINISHED_JS = """() => {
  const prompts = [...document.querySelectorAll('.jp-NotebookPanel .jp-CodeCell .jp-InputPrompt')]
    .map(p => p.textContent.trim());
  const ran = prompts.filter(p => /\\[\\d+\\]/.test(p)).length;
  const idle = (document.querySelector('#jp-main-statusbar')?.textContent || '').includes('Idle');
  return prompts.length > 0 && ran > 0 && idle && !prompts.some(p => p.includes('*'));
}"""

# What a cell's output shows, apart from its sliders (whose readouts change
# whenever they move): text and images. Takes the cell element.
OUTPUT_WITHOUT_SLIDERS_JS = """cell => {
  const outputs = cell.querySelector('.jp-OutputArea').cloneNode(true);
  outputs.querySelectorAll('.widget-slider').forEach(slider => slider.remove());
  const images = [...outputs.querySelectorAll('img')].map(img => img.src).join('|');
  return outputs.innerText + '\\n' + images;
}"""


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing (pip install -e '.[dev]')"
    if not CHROMIUM.is_file():
        return f"no Chromium at {CHROMIUM} (`make browser` installs Debian's chromium as root)"
    return None


if browser_missing() and os.environ.get("COURSE_REQUIRE_BROWSER") != "1":
    pytest.skip(f"browser tests skipped: {browser_missing()}", allow_module_level=True)


@dataclass
class Lab:
    url: str
    token: str
    root: Path

    def api(self, method, path):
        request = urllib.request.Request(f"{self.url}/api/{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
        return json.loads(body) if body else None

    def shut_down_kernels(self):
        for session in self.api("GET", "sessions"):
            self.api("DELETE", f"sessions/{session['id']}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_lab_settings(settings_dir: Path):
    """Settings a fresh JupyterLab reads: render every cell (no windowing,
    which leaves off-screen cells out of the page) and ask nothing about
    news or updates (a notification would cover the notebook)."""
    settings = {
        "notebook-extension/tracker": {"windowingMode": "none"},
        "apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    }
    for name, values in settings.items():
        path = settings_dir / "@jupyterlab" / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server in grading mode, its kernel this virtual
    environment's Python, its settings and state in a temporary folder."""
    if browser_missing():
        pytest.fail(f"COURSE_REQUIRE_BROWSER=1 but {browser_missing()}")
    home = tmp_path_factory.mktemp("jupyter")
    root = home / "course"
    root.mkdir()
    write_kernel_spec(home / "data" / "kernels" / "python3")  # JUPYTER_PATH is searched first
    write_lab_settings(home / "settings")
    env = {**os.environ, "LMCOURSE_GRADING": "1",
           "JUPYTER_PATH": str(home / "data"), "JUPYTER_CONFIG_DIR": str(home / "config"),
           "JUPYTER_RUNTIME_DIR": str(home / "runtime"), "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces")}
    env.pop("MPLBACKEND", None)  # the kernels' inline backend draws the plots
    port, token = free_port(), secrets.token_hex(16)
    log = (home / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
         f"--ServerApp.root_dir={root}",
         "--ServerApp.allow_root=True"],  # CI runs as root
        env=env, stdout=log, stderr=subprocess.STDOUT)
    started = Lab(f"http://127.0.0.1:{port}", token, root)
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            try:
                started.api("GET", "status")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not start:\n{(home / 'server.log').read_text()[-3000:]}")
                time.sleep(0.5)
        yield started
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture(scope="module")
def chromium(lab):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield browser
        browser.close()


def prepare(released: Path, folder: Path) -> Path:
    """The finished notebook, with grading mode turned off just before its
    self-check cell (if it has one)."""
    path = finished_notebook(released, folder)
    notebook = nbformat.read(str(path), as_version=4)
    index = self_check_index(notebook)
    if index is not None:
        notebook.cells.insert(index, nbformat.v4.new_code_cell(
            "%env LMCOURSE_GRADING=0\n# browser test: the self-check below runs as a learner runs it"))
        nbformat.write(notebook, str(path))
    return path


def cell_errors(notebook) -> list[str]:
    """'cell N (first line): Error: message' for each code cell that raised or never ran."""
    found = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        where = f"cell {index} ({cell.source.splitlines()[0] if cell.source else ''!r})"
        for output in cell.outputs:
            if output.output_type == "error":
                found.append(f"{where}: {output.ename}: {output.evalue}")
        if cell.execution_count is None:
            found.append(f"{where}: did not run")
    return found


def drag_first_slider(page, name: str):
    """Drags the first ipywidgets slider well away from where it is (to 80%
    of its track, or 20% if it is past the middle) and waits until its cell
    shows something else (the kernel's callback ran). Returns whether it did."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    cell = page.locator(".jp-Cell").filter(has=page.locator(".jp-OutputArea-output .widget-slider")).first
    slider = cell.locator(".jp-OutputArea-output .widget-slider").first
    slider.scroll_into_view_if_needed()
    cell.screenshot(path=SCREENSHOTS / f"{name}-slider-before.png")
    before = cell.evaluate(OUTPUT_WITHOUT_SLIDERS_JS)
    handle = slider.locator(".noUi-handle").first
    track = slider.locator(".noUi-target").first.bounding_box()
    start = handle.bounding_box()
    page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    page.mouse.down()
    past_middle = start["x"] + start["width"] / 2 > track["x"] + track["width"] / 2
    page.mouse.move(track["x"] + (0.2 if past_middle else 0.8) * track["width"],
                    start["y"] + start["height"] / 2, steps=8)
    page.mouse.up()
    try:
        page.wait_for_function(f"([cell, before]) => ({OUTPUT_WITHOUT_SLIDERS_JS})(cell) !== before",
                               arg=[cell.element_handle(), before], timeout=60_000, polling=250)
    except PlaywrightTimeout:
        return False
    finally:
        cell.screenshot(path=SCREENSHOTS / f"{name}-slider-after.png")
    return True


@pytest.mark.parametrize("released", RELEASED, ids=[path.stem for path in RELEASED])
def test_notebook_runs_in_jupyterlab(released, lab, chromium):
    name = released.stem
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = prepare(released, lab.root)
    page = chromium.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(60_000)
    try:
        # A workspace per notebook, so no tab of an earlier test is restored.
        page.goto(f"{lab.url}/lab/workspaces/{name}/tree/{path.name}?token={lab.token}")
        page.locator(".jp-NotebookPanel .jp-CodeCell").first.wait_for()
        page.locator("#jp-main-statusbar >> text=Idle").wait_for()
        page.locator(".lm-MenuBar-item", has_text="Run").click()
        page.get_by_text("Run All Cells", exact=True).click()
        page.wait_for_function(RUN_ALL_FINISHED_JS, timeout=RUN_ALL_TIMEOUT_S * 1000, polling=1000)
        page.screenshot(path=SCREENSHOTS / f"{name}-after-run-all.png")

        # Save, then read what ran from the file: error outputs there are exact.
        page.locator(".jp-NotebookPanel .jp-CodeCell").first.click()
        page.keyboard.press("Control+s")
        page.locator(".lm-TabBar-tab.jp-mod-current:not(.jp-mod-dirty)").wait_for()
        saved = nbformat.read(str(path), as_version=4)
        assert not cell_errors(saved), f"{name} in JupyterLab:\n" + "\n".join(cell_errors(saved))

        plots = page.locator(".jp-OutputArea-output img")
        assert plots.count() > 0, f"{name}: no plot appeared"
        plots.first.scroll_into_view_if_needed()
        plots.first.screenshot(path=SCREENSHOTS / f"{name}-plot.png")

        outputs = page.locator(".jp-OutputArea-output")
        assert outputs.filter(has_text="Error displaying widget").count() == 0, f"{name}: a widget failed to render"
        assert page.locator(".jp-OutputArea-output .widget-slider").count() > 0, f"{name}: no slider rendered"
        assert drag_first_slider(page, name), f"{name}: dragging the first slider changed nothing in its cell"

        index = self_check_index(saved)
        assert index is not None, f"{name} has no self-check cell (a code cell calling {SELF_CHECK_CALL})"
        echoed = [output for output in saved.cells[index].outputs if output.output_type == "execute_result"]
        assert not echoed, (f"{name}: under its table the self-check cell also shows what "
                            f"{SELF_CHECK_CALL} returns:\n{echoed[0].data['text/plain'][:300]}")
        self_check = page.locator(".jp-CodeCell", has_text=SELF_CHECK_CALL).last
        table = self_check.locator(".jp-OutputArea-output table")
        table.scroll_into_view_if_needed()
        self_check.screenshot(path=SCREENSHOTS / f"{name}-self-check.png")
        summary = re.search(r"Self-check of .*?: (\d+(?:\.\d+)?) / (\d+(?:\.\d+)?) points",
                            self_check.inner_text())
        assert summary, f"{name}: the self-check shows no summary:\n{self_check.inner_text()}"
        assert summary[1] == summary[2], f"{name}: the finished notebook scored {summary[0]}"
        rows = table.locator("tr").count() - 1  # less the header row
        assert rows == len(exercises_for(name)), f"{name}: {rows} rows in the self-check table"
    finally:
        page.close()
        lab.shut_down_kernels()

