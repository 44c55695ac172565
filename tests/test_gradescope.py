"""Gradescope's autograder zip (`python -m autograder gradescope`), run as
Gradescope runs it, offline: the zip unpacked into source/ of a folder that a
bubblewrap mount shows at /autograder (with submission/ and results/ beside
it), `setup.sh` run as root against this machine's package index (it ends by
grading the bundled solutions), then `run_autograder` on an honest, a broken
and a hostile submission, an empty one, and one that runs out of time. Every
results.json must validate against Gradescope's format, score what the
submission earned, and show no hidden check's code and no secret.

The unprivileged sandbox mode (Gradescope's container has no user
namespaces) grades inside."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import jsonschema
import pytest

from helpers import REPO, nbgrader_points, variant
from learner import finished_notebook
from wrong.tokenization import WRONG

NOTEBOOK = "01_tokenization"
SECRET = "gradescope-test-secret-0123456789"

# Gradescope's results.json (its documentation's "Output format"), as strict as this grader's use of it.
TEST = {"type": "object", "required": ["name", "score", "max_score", "status", "output", "visibility"],
        "additionalProperties": False,
        "properties": {"name": {"type": "string"}, "score": {"type": "number"}, "max_score": {"type": "number"},
                       "status": {"enum": ["passed", "failed"]}, "output": {"type": "string"},
                       "visibility": {"enum": ["hidden", "after_due_date", "after_published", "visible"]}}}
RESULTS = {"type": "object", "required": ["score", "tests", "output", "execution_time"], "additionalProperties": False,
           "properties": {"score": {"type": "number"}, "execution_time": {"type": "number"},
                          "output": {"type": "string"}, "tests": {"type": "array", "items": TEST},
                          "visibility": {"enum": ["hidden", "after_due_date", "after_published", "visible"]},
                          "stdout_visibility": {"enum": ["hidden", "after_due_date", "after_published", "visible"]}}}

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="Gradescope's scripts run as root"),
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap (to show a folder at /autograder)"),
]


def unzip(archive: Path, folder: Path) -> None:
    """As `unzip` does it, file modes included (setup.sh and run_autograder are executables)."""
    with zipfile.ZipFile(archive) as opened:
        for info in opened.infolist():
            path = Path(opened.extract(info, folder))
            mode = info.external_attr >> 16 & 0o777
            if mode:
                path.chmod(mode)


def in_container(root: Path, *command, timeout=900) -> subprocess.CompletedProcess:
    """`command` run as root with `root` mounted at /autograder and the rest of
    this machine as it is (its package index included), as Gradescope's image
    runs its scripts. bubblewrap makes the mount point without touching /."""
    args = ["bwrap", "--tmpfs", "/", "--dev", "/dev", "--proc", "/proc", "--cap-add", "ALL"]
    for entry in sorted(Path("/").iterdir()):
        if entry.name in ("proc", "dev", "autograder"):
            continue
        if entry.is_symlink():
            args += ["--symlink", os.readlink(entry), str(entry)]
        elif entry.is_dir():
            args += ["--bind", str(entry), str(entry)]
    args += ["--bind", str(root), "/autograder", "--chdir", "/autograder", "--die-with-parent"]
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/root", "LANG": "C.UTF-8",
           **{name: value for name, value in os.environ.items() if name.startswith("PIP_")}}
    return subprocess.run([*args, *command], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def autograder(tmp_path_factory) -> Path:
    """/autograder after setup.sh: source/ unpacked from the zip, the image built."""
    root = tmp_path_factory.mktemp("gradescope")
    zip_path = root / "autograder.zip"
    env = {**os.environ, "AUTOGRADER_SECRET": SECRET}
    built = subprocess.run([sys.executable, "-m", "autograder", "gradescope", NOTEBOOK, "--out", str(zip_path)],
                           cwd=REPO, env=env, capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    folder = root / "autograder"
    for name in ("source", "submission", "results"):
        (folder / name).mkdir(parents=True)
    unzip(zip_path, folder / "source")
    setup = in_container(folder, "bash", "/autograder/source/setup.sh")
    assert setup.returncode == 0, setup.stdout[-3000:] + setup.stderr[-3000:]
    points = sum(nbgrader_points(REPO / "solutions" / f"{NOTEBOOK}.ipynb").values())
    assert f"the solutions scored {points:g}/{points:g}" in setup.stdout, setup.stdout
    return folder


def grade(autograder: Path, files: dict[str, Path | bytes], *budget) -> dict:
    """run_autograder on a submission of `files` ({name: notebook or content});
    results.json, validated."""
    submission = autograder / "submission"
    shutil.rmtree(submission)
    submission.mkdir()
    for name, content in files.items():
        target = submission / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content if isinstance(content, bytes) else Path(content).read_bytes())
    results = autograder / "results" / "results.json"
    results.unlink(missing_ok=True)
    done = in_container(autograder, "/autograder/source/run_autograder", *budget)
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(results.read_text())
    jsonschema.validate(found, RESULTS)
    assert found["score"] == sum(test["score"] for test in found["tests"])
    text = results.read_text()
    assert SECRET not in text
    hidden = (REPO / "autograder" / "hidden" / "tokenization.py").read_text().splitlines()
    assert not [line for line in hidden if len(line.strip()) > 40 and line.strip() in text]
    return found


def by_exercise(found) -> dict:
    return {test["name"].split(": ", 1)[1]: (test["status"], test["score"]) for test in found["tests"]}


@pytest.fixture(scope="module")
def released() -> Path:
    return REPO / "notebooks" / f"{NOTEBOOK}.ipynb"


@pytest.fixture(scope="module")
def points(released) -> dict:
    return nbgrader_points(released)


def test_an_honest_submission_scores_full_marks(autograder, released, points, tmp_path):
    finished = finished_notebook(released, tmp_path)
    found = grade(autograder, {"Copy of my homework.ipynb": finished})  # any file name
    assert by_exercise(found) == {name: ("passed", p) for name, p in points.items()}
    assert sorted(test["name"] for test in found["tests"]) == sorted(f"{NOTEBOOK}: {name}" for name in points)


def test_a_broken_submission_still_gets_a_results_file(autograder, points, tmp_path):
    found = grade(autograder, {"01_tokenization.ipynb": b"{ this is not json", "notes.txt": b"hello"})
    assert found["score"] == 0 and len(found["tests"]) == len(points)
    assert all("Could not read the notebook" in test["output"] for test in found["tests"]), found
    assert "notes.txt" not in found["output"]  # not a notebook: not listed, not graded

    empty = grade(autograder, {})
    assert empty["score"] == 0 and "No notebook of this assignment" in empty["output"]
    assert {status for status, _ in by_exercise(empty).values()} == {"failed"}


def test_a_hostile_submission_gains_nothing(autograder, released, points, tmp_path):
    finished = finished_notebook(released, tmp_path / "finished")
    cheat = ("import glob, json, os\n"
             "found = {}\n"
             "for pattern in ('/autograder/source/course/**', '/autograder/venv/lib/*/site-packages/autograder/**'):\n"
             "    for path in glob.glob(pattern, recursive=True):\n"
             "        try:\n"
             "            found[path] = open(path).read()[:200]\n"
             "        except OSError:\n"
             "            pass\n"
             "print('READ', json.dumps(found))\n"
             "try:\n"
             "    with open('/autograder/results/results.json', 'w') as file:\n"
             "        json.dump({'score': 1000, 'tests': []}, file)\n"
             "except OSError as error:\n"
             "    print('could not write results', error)\n")
    hostile = variant(finished, tmp_path / "hostile", replace={"merge_pair_code": WRONG["merge_pair"]["right to left"]},
                      append=[cheat])
    found = grade(autograder, {"01_tokenization.ipynb": hostile})
    expected = {name: ("passed", p) for name, p in points.items()}
    expected["merge_pair"] = ("failed", 0)
    assert by_exercise(found) == expected, found


def test_a_submission_that_runs_out_of_time_scores_what_finished(autograder, released, tmp_path):
    finished = finished_notebook(released, tmp_path)
    looping = variant(finished, tmp_path / "loop", append=["while True:\n    pass\n"])
    found = grade(autograder, {"01_tokenization.ipynb": looping}, "--budget", "45")
    assert found["execution_time"] <= 60, found
    assert len(found["tests"]) == len(nbgrader_points(released))
