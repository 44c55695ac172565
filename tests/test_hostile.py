"""The grader against the corpus of hostile and broken submissions
(`tests/hostile`), graded in one batch with honest submissions: every
submission gets a row for every exercise, none gains points it did not earn,
the honest ones get exactly the rows they get when graded alone, nothing
outside a submission's folder changes, and nothing it started is left running.
Also: a fork bomb meets a cap on the worker's processes while the grader's
machine can still start its own."""
import hashlib
import json
import os
import socket
import sqlite3
import subprocess
import time
import uuid
from pathlib import Path

import pytest

import helpers
import hostile
from autograder import registry, sandbox, seeds
from autograder.grade import grade_paths, grade_submission
from autograder.session import Limits, NotebookRun, Student

POINTS = {exercise.name: exercise.points for exercise in registry.exercises_for(hostile.NOTEBOOK)}
# Short cell and notebook limits, so the cases that hang cost seconds; the
# honest submissions are graded alone under the same limits.
LIMITS = Limits(cell_seconds=20, notebook_seconds=240)
pytestmark = pytest.mark.xdist_group("hostile")


def containment():
    """The containments this machine gives, as `Hostile.requires` names them."""
    have = set()
    if sandbox.bubblewrap() is not None:
        have.add("bubblewrap")
    # RLIMIT_NPROC binds where the worker has a user namespace and is not root outside it.
    own_user_namespace = sandbox.bubblewrap() is not None or "--map-root-user" in sandbox.network_namespace()
    if sandbox.cgroup_parents() or (os.geteuid() != 0 and own_user_namespace):
        have.add("process cap")
    if "memory" in sandbox.cgroup_parents():
        have.add("memory cap")
    return have


def runnable_cases():
    have = containment()
    return [case for case in hostile.CORPUS if not case.requires or case.requires in have]


def fingerprint(path):
    """Content and modification time: a write or a mere touch shows."""
    path = Path(path)
    if not path.exists():
        return None
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


def processes_with(marker):
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            pass
    return found


def our_control_groups():
    """Control groups this process's workers made and did not remove."""
    prefix = f"worker-{os.getpid()}-"
    return [folder for parent in set(sandbox.cgroup_parents().values())
            for folder in parent.iterdir() if folder.name.startswith(prefix)]


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    lean = hostile.lean_notebook(folder / "lean")
    honest = {
        "solutions": helpers.solutions_notebook(hostile.NOTEBOOK),
        "definitions": lean,
        "one wrong": helpers.variant(lean, folder / "honest-one-wrong",
                                     replace={"merge_pair_code": hostile.wrong("merge_pair", "right to left")}),
    }
    sentinel = folder / "outside" / "sentinel.txt"
    sentinel.parent.mkdir()
    sentinel.write_text("no submission may change this\n")
    gradebook = folder / "outside" / "gradebook.db"
    with sqlite3.connect(gradebook) as db:
        db.execute("CREATE TABLE grade (student TEXT, score INTEGER)")
        db.execute("INSERT INTO grade VALUES ('alice', 5)")
    server = socket.create_server(("127.0.0.1", 0))
    server.setblocking(False)
    ctx = hostile.Context(folder=folder / "corpus", sentinel=sentinel, gradebook=gradebook,
                          honest=honest["one wrong"], port=server.getsockname()[1],
                          marker=f"lmcourse-hostile-{uuid.uuid4().hex}")
    corpus = {case.name: case for case in runnable_cases()}
    paths = hostile.build(ctx, lean, corpus.values())
    seeds.grader_secret()  # a fresh clone has none until the first grading: make it before the snapshot
    protected = [sentinel, gradebook, honest["one wrong"], *hostile.protected_repository_files()]
    before = {path: fingerprint(path) for path in protected}

    submissions = {**honest, **paths}
    rows = {str(path): [] for path in submissions.values()}
    for row in grade_paths([str(path) for path in submissions.values()], workers=2, limits=LIMITS):
        rows[row["submission"]].append(row)
    try:
        server.accept()
        reached = True
    except BlockingIOError:
        reached = False
    server.close()
    return {
        "corpus": corpus, "paths": paths, "honest": honest,
        "rows": {label: rows[str(path)] for label, path in submissions.items()},
        "alone": {label: grade_submission(str(path), LIMITS) for label, path in honest.items()},
        "changed": [str(path) for path in protected if fingerprint(path) != before[path]],
        "running": processes_with(ctx.marker), "groups": our_control_groups(),
        "reached": reached, "skipped": [case.name for case in hostile.CORPUS if case.name not in corpus],
    }


def test_the_corpus_is_large_and_runs_whole_here(batch):
    assert len(hostile.CORPUS) >= 30
    if batch["skipped"]:
        pytest.skip(f"this machine lacks containment for: {batch['skipped']} ({sandbox.describe()})")


@pytest.mark.parametrize("name", [case.name for case in hostile.CORPUS])
def test_every_submission_gets_a_row_per_exercise_and_gains_nothing(batch, name):
    if name not in batch["corpus"]:
        pytest.skip(f"this machine lacks the containment the case needs ({sandbox.describe()})")
    case, rows = batch["corpus"][name], batch["rows"][name]
    for row in rows:
        assert len(json.dumps(row)) < 4000, f"{case.tries}: an oversized row {json.dumps(row)[:300]}"
    if case.lose == hostile.UNIDENTIFIED:
        assert [(r["notebook"], r["exercise"], r["points"], r["status"]) for r in rows] == \
            [(None, None, 0, "error")], rows
        return
    assert [r["exercise"] for r in rows] == list(POINTS), f"{case.tries}: {rows}"
    for row in rows:
        if row["exercise"] in case.lose:
            assert row["points"] == 0 and row["status"] != "passed" and row["message"], f"{case.tries}: {row}"
        else:   # a runaway cell costs only what it defines
            assert (row["status"], row["points"]) == ("passed", POINTS[row["exercise"]]), f"{case.tries}: {row}"


@pytest.mark.parametrize("label", ["solutions", "definitions", "one wrong"])
def test_honest_rows_are_the_same_as_when_graded_alone(batch, label):
    rows = batch["rows"][label]
    assert json.dumps(rows) == json.dumps(batch["alone"][label])
    expected_wrong = {"merge_pair"} if label == "one wrong" else set()
    helpers.expect_only_failed({r["exercise"]: r for r in rows}, POINTS, expected_wrong)


def test_nothing_outside_a_submissions_folder_changed(batch):
    assert batch["changed"] == []
    assert not batch["reached"], "a submission connected to the grader host's loopback"


def test_nothing_a_submission_started_is_left_running(batch):
    assert batch["running"] == [], "processes started by submissions outlived their grading"
    assert batch["groups"] == [], "workers' control groups were left behind"


def test_a_fork_bomb_meets_the_process_cap_and_the_machine_stays_usable():
    if "process cap" not in containment():
        pytest.skip(f"no process cap here ({sandbox.describe()})")
    limits = Limits(cell_seconds=30, notebook_seconds=60)
    forker = ("import os, time\n_forks = 0\ntry:\n    while True:\n        if os.fork() == 0:\n"
              "            time.sleep(60)\n            os._exit(0)\n        _forks += 1\n"
              "except OSError:\n    pass\n"
              "def forks():\n    return _forks\n")
    run = NotebookRun([forker], limits)
    try:
        run.start()
        assert run.cell_errors == {}
        forks = Student(run, time.monotonic() + 30).call("forks")
        # The cap counts the worker's own threads, so fewer forks than the cap.
        assert 0 < forks < limits.processes
        # While the sandbox sits at its cap, the grader's side still starts processes.
        assert subprocess.run(["true"], timeout=30).returncode == 0
    finally:
        run.close()
    assert our_control_groups() == [], "the bomb's processes outlived their worker"
