"""The grader against the corpus of hostile and broken submissions
(`tests/hostile`), in every sandbox mode this machine can give, each graded
in one batch with honest submissions: every submission gets a row for every
exercise, none gains points it did not earn, the honest ones get exactly the
rows they get when graded alone (under bubblewrap, in this process: a mode
changes only the row's `sandbox`), nothing outside a submission's folder
changes, and nothing it started is left running. A mode runs only the cases
whose containments (`Hostile.requires`) it gives here; the others are
skipped, and say so, never run uncontained.

- "bubblewrap": graded in this process, the grader being this checkout (an
  editable install);
- "none": graded in this process, with no isolation: only the cases that need
  none of it;
- "unprivileged": graded by the command line's own main() in a subprocess,
  from a fresh non-editable install on the system's Python (a user other
  than root cannot run this project's), its package made unreadable to other
  users as the grader demands, run from a course folder as the docs advise
  (`chmod -R go-rwx`: the corpus, the stand-in gradebook and the reports),
  with a copy of the data outside any checkout;
- and the cases that look for the grader's files once more under bubblewrap
  from that install, whose package and secret lie under paths the sandbox
  binds (its sys.prefix) and must be covered.
Also: a fork bomb meets a cap on the worker's processes while the grader's
machine can still start its own."""
import hashlib
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import tempfile
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
MODES = ("bubblewrap", "none", "unprivileged")
HONEST = ("solutions", "definitions", "one wrong")
pytestmark = pytest.mark.xdist_group("hostile")


def containment(mode) -> set:
    """The containments `mode` gives on this machine, as `Hostile.requires`
    names them (hostile.CONTAINMENTS)."""
    have = set()
    if mode == "bubblewrap":
        have |= {"private grader files", "own view of files", "read-only outside", "own processes only",
                 "no network", "size-capped scratch"}
    elif mode == "unprivileged":
        # Its own user: the grader checks its private files are unreadable to
        # it, the test's files are root's, signals reach only that user's
        # processes, and RLIMIT_NPROC binds a user that is not root.
        have |= {"private grader files", "read-only outside", "own processes only", "process cap"}
        if sandbox.network_namespace():
            have.add("no network")
    if sandbox.cgroup_parents():
        have.add("process cap")
    # bubblewrap's worker has a user namespace of its own, and RLIMIT_NPROC
    # binds there where the grader is not root outside it.
    if mode == "bubblewrap" and os.geteuid() != 0:
        have.add("process cap")
    if "memory" in sandbox.cgroup_parents():
        have.add("memory cap")
    return have


def mode_problem(mode):
    """Why `mode` cannot be tested here, or None."""
    if mode == "bubblewrap" and sandbox.bubblewrap() is None:
        return sandbox.bubblewrap_problem()
    if mode == "unprivileged":
        if os.geteuid() != 0:
            return "the unprivileged mode needs a root grader"
        if not helpers.SYSTEM_PYTHON.exists():
            return f"no {helpers.SYSTEM_PYTHON} (a Python every user may run) for a fresh install"
    return None


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


def control_groups_of(grader_pid):
    """Control groups the grader process `grader_pid` made for its workers and did not remove."""
    prefix = f"worker-{grader_pid}-"
    return [folder for parent in set(sandbox.cgroup_parents().values())
            for folder in parent.iterdir() if folder.name.startswith(prefix)]


# ------------------------------------------------------- a fresh install
@pytest.fixture(scope="module")
def installed():
    """A non-editable install of this project, as the unprivileged mode needs
    it: its package unreadable to other users, in a folder every user may
    enter, with the secret in `.autograder-secret` in the folder grading runs
    from (the environment's own, under the sys.prefix bubblewrap binds) and a
    copy of the data outside any checkout. Yields what grades from it."""
    if not helpers.SYSTEM_PYTHON.exists():
        pytest.skip(f"no {helpers.SYSTEM_PYTHON} for a fresh install")
    base = Path(tempfile.mkdtemp(prefix="lmcourse-hostile-"))
    try:
        base.chmod(0o755)
        python = helpers.fresh_environment(base)
        environment = base / "env"
        grader = Path(subprocess.run([str(python), "-c", "import autograder; print(autograder.__path__[0])"],
                                     capture_output=True, text=True, check=True, cwd=base).stdout.strip())
        assert environment in grader.parents, grader
        subprocess.run(["chmod", "-R", "go-rwx", str(grader)], check=True)
        secret = environment / seeds.COURSE_SECRET_FILE
        secret.write_text(seeds.grader_secret() + "\n")   # the tests' own, so rows compare across graders
        secret.chmod(0o600)
        shutil.copytree(helpers.REPO / "data", base / "data")
        env = {key: value for key, value in os.environ.items() if key != seeds.SECRET_ENV_VAR}
        env["LMCOURSE_DATA"] = str(base / "data")
        yield {"python": python, "grader": grader, "cwd": environment, "env": env,
               "secrets": (secret, seeds.user_secret_file())}
    finally:
        shutil.rmtree(base, ignore_errors=True)


def cli_grade(installed, paths, report, mode, workers):
    """Grades with the command line's main() in a subprocess from the fresh
    install, under this file's short limits. (rows, the grader's pid)"""
    code = ("import functools, sys\n"
            "import autograder.grade\n"
            f"autograder.grade.Limits = functools.partial(autograder.grade.Limits, "
            f"cell_seconds={LIMITS.cell_seconds}, notebook_seconds={LIMITS.notebook_seconds})\n"
            "from autograder.__main__ import main\n"
            "sys.exit(main(sys.argv[1:]))\n")
    command = [str(installed["python"]), "-c", code, "grade", *map(str, paths), "--sandbox", mode,
               "--json", str(report), "--workers", str(workers), "--fresh"]
    grader = subprocess.Popen(command, cwd=installed["cwd"], env=installed["env"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = grader.communicate(timeout=1200)
    assert grader.returncode == 0, f"the grader failed ({grader.returncode}):\n{out[-2000:]}\n{err[-3000:]}"
    return json.loads(Path(report).read_text()), grader.pid


# ------------------------------------------------------------- a batch
def run_batch(folder, mode, cases, installed=None, with_honest=True):
    """The corpus `cases` and (`with_honest`) the honest submissions, graded
    together in `mode` (from the fresh install where `installed` is given,
    else in this process), and what it left behind."""
    course = folder / "course"
    course.mkdir(mode=0o700)
    lean = hostile.lean_notebook(course / "lean")
    honest = {
        "solutions": helpers.variant(helpers.solutions_notebook(hostile.NOTEBOOK), course / "honest-solutions"),
        "definitions": helpers.variant(lean, course / "honest-definitions"),
        "one wrong": helpers.variant(lean, course / "honest-one-wrong",
                                     replace={"merge_pair_code": hostile.wrong("merge_pair", "right to left")}),
    }
    sentinel = course / "outside" / "sentinel.txt"
    sentinel.parent.mkdir()
    sentinel.write_text("no submission may change this\n")
    gradebook = course / "outside" / "gradebook.db"
    with sqlite3.connect(gradebook) as db:
        db.execute("CREATE TABLE grade (student TEXT, score INTEGER)")
        db.execute("INSERT INTO grade VALUES ('alice', 5)")
    server = socket.create_server(("127.0.0.1", 0))
    server.setblocking(False)
    if installed:
        grader, secrets, solutions = installed["grader"], installed["secrets"], None
    else:
        grader, secrets = sandbox.GRADER_DIR, tuple(seeds.secret_files())
        solutions = helpers.REPO / "solutions"
    ctx = hostile.Context(folder=course / "corpus", sentinel=sentinel, gradebook=gradebook,
                          honest=honest["one wrong"], port=server.getsockname()[1],
                          marker=f"lmcourse-hostile-{uuid.uuid4().hex}",
                          grader=grader, secrets=secrets, solutions=solutions,
                          # Its user reads what every user may (by design, docs/sandbox.md): the
                          # machine's other copies of the course, which the command lines of the
                          # processes that started the tests may name, are not the grader's.
                          private=(grader, *secrets) if mode == "unprivileged" else ())
    paths = hostile.build(ctx, lean, cases)
    protected = [sentinel, gradebook, honest["one wrong"], *hostile.grader_files(ctx)]
    before = {path: fingerprint(path) for path in protected}

    if not with_honest:
        honest = {}
    submissions = {**honest, **paths}
    rows = {str(path): [] for path in submissions.values()}
    if installed:
        graded, grader_pid = cli_grade(installed, submissions.values(), course / "batch.json", mode, workers=2)
    else:
        graded, grader_pid = grade_paths([str(path) for path in submissions.values()], workers=2,
                                         limits=LIMITS, mode=mode), os.getpid()
    for row in graded:
        rows[row["submission"]].append(row)
    try:
        server.accept()
        reached = True
    except BlockingIOError:
        reached = False
    server.close()
    return {
        "mode": mode, "corpus": {case.name: case for case in cases}, "paths": paths,
        "rows": {label: rows[str(path)] for label, path in submissions.items()},
        "changed": [str(path) for path in protected if fingerprint(path) != before[path]],
        "running": processes_with(ctx.marker), "groups": control_groups_of(grader_pid),
        "reached": reached,
    }


def wanted(request, mode) -> set:
    """The cases to grade in `mode`: all, unless only some cases' own tests
    are selected (`pytest -k "bubblewrap and hunts"`): then those."""
    items = [item for item in request.session.items
             if getattr(item, "callspec", None) and item.callspec.params.get("batch") == mode]
    if items and all("name" in item.callspec.params for item in items):
        return {item.callspec.params["name"] for item in items}
    return {case.name for case in hostile.CORPUS}


@pytest.fixture(scope="module", params=MODES)
def batch(request, tmp_path_factory):
    mode = request.param
    problem = mode_problem(mode)
    if problem:
        pytest.skip(f"{mode} cannot run here: {problem}")
    have = containment(mode)
    cases = [case for case in hostile.CORPUS if case.requires <= have and case.name in wanted(request, mode)]
    if mode == "unprivileged":
        installed = request.getfixturevalue("installed")
        folder = installed["cwd"].parent / "unprivileged"
        folder.mkdir()
        return run_batch(folder, mode, cases, installed)
    return run_batch(tmp_path_factory.mktemp(f"hostile-{mode}"), mode, cases)


def test_the_corpus_is_large_and_runs_whole_under_bubblewrap_here():
    assert len(hostile.CORPUS) >= 30
    problem = mode_problem("bubblewrap")
    if problem:
        pytest.skip(problem)
    missing = [(case.name, sorted(case.requires - containment("bubblewrap"))) for case in hostile.CORPUS
               if not case.requires <= containment("bubblewrap")]
    if missing:
        pytest.skip(f"this machine lacks containment for {missing} ({sandbox.describe('bubblewrap')})")


def test_no_mode_runs_a_case_it_does_not_contain():
    """What each mode is trusted with: "none" contains nothing, so it runs
    only cases that need nothing of a sandbox beyond the control group."""
    assert containment("none") <= {"process cap", "memory cap"}
    assert {"private grader files", "read-only outside", "own processes only"} <= containment("unprivileged")
    assert not {"own view of files", "size-capped scratch"} & containment("unprivileged")
    for name in ("reads the grader", "hunts the grader", "reads another student", "writes outside",
                 "detached gradebook writer", "network", "kill -1", "fills its disk"):
        case = next(case for case in hostile.CORPUS if case.name == name)
        assert case.requires and not case.requires <= containment("none"), name


def run_the_hunt_cells(ctx, found):
    """The "hunts the grader" case's two cells, the hunt itself replaced by
    its result `found` (None: the hunt raised). Which of merge_pair and
    pretokenize end up right."""
    right_merge_pair, right_pretokenize = object(), object()
    namespace = {"merge_pair": right_merge_pair, "pretokenize": right_pretokenize}
    exec(hostile.BEFORE_THE_HUNT, namespace)
    hunt = "raise OSError('the hunt failed')" if found is None else f"import os\n_found = {found!r}"
    try:
        exec(hunt + "\n" + hostile.after_the_hunt(ctx), namespace)
    except OSError:
        pass
    return {"merge_pair": namespace["merge_pair"] is right_merge_pair,
            "pretokenize": namespace["pretokenize"] is right_pretokenize}


def test_the_hunt_gains_only_by_finding_the_graders_files(tmp_path):
    grader, elsewhere = tmp_path / "env" / "autograder", tmp_path / "another-checkout" / "autograder"
    for package in (grader, elsewhere):
        (package / "hidden").mkdir(parents=True)
        (package / "hidden" / "tokenization.py").write_text("KNOWN_MERGES = []\n")
    secret = tmp_path / "env" / ".autograder-secret"
    secret.write_text("hunter2\n")
    everywhere = hostile.Context(folder=tmp_path, sentinel=None, gradebook=None, honest=None, port=0, marker="",
                                 grader=grader, secrets=(secret,))
    unprivileged = hostile.Context(**{**vars(everywhere), "private": (grader, secret)})
    mine, theirs = str(grader / "hidden" / "tokenization.py"), str(elsewhere / "hidden" / "tokenization.py")

    assert run_the_hunt_cells(everywhere, None) == {"merge_pair": False, "pretokenize": False}
    assert run_the_hunt_cells(everywhere, []) == {"merge_pair": False, "pretokenize": True}
    assert run_the_hunt_cells(everywhere, [theirs]) == {"merge_pair": True, "pretokenize": True}
    assert run_the_hunt_cells(unprivileged, [theirs]) == {"merge_pair": False, "pretokenize": True}
    for find in (mine, str(secret), f"/proc/self/root{mine}", "$AUTOGRADER_SECRET",
                 "/proc/1/environ: AUTOGRADER_SECRET", "import autograder.reference.tokenization"):
        assert run_the_hunt_cells(unprivileged, [theirs, find]) == {"merge_pair": True, "pretokenize": True}, find


@pytest.mark.parametrize("name", [case.name for case in hostile.CORPUS])
def test_every_submission_gets_a_row_per_exercise_and_gains_nothing(batch, name):
    if name not in batch["corpus"]:
        case = next(case for case in hostile.CORPUS if case.name == name)
        lacking = sorted(case.requires - containment(batch["mode"]))
        pytest.skip(f"{batch['mode']} does not contain what this case needs here: {lacking} "
                    f"({sandbox.describe(batch['mode'])})")
    case, rows = batch["corpus"][name], batch["rows"][name]
    for row in rows:
        assert len(json.dumps(row)) < 4000, f"{case.tries}: an oversized row {json.dumps(row)[:300]}"
        assert row["sandbox"] == batch["mode"], row
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


@pytest.fixture(scope="module")
def alone(tmp_path_factory):
    """{label: rows} of the honest submissions, each graded alone, in this
    process, in the strongest mode it has."""
    mode = "none" if mode_problem("bubblewrap") else "bubblewrap"
    folder = tmp_path_factory.mktemp("alone")
    lean = hostile.lean_notebook(folder / "lean")
    honest = {
        "solutions": helpers.solutions_notebook(hostile.NOTEBOOK),
        "definitions": lean,
        "one wrong": helpers.variant(lean, folder / "one-wrong",
                                     replace={"merge_pair_code": hostile.wrong("merge_pair", "right to left")}),
    }
    return {label: grade_submission(str(path), LIMITS, mode=mode) for label, path in honest.items()}


def without_submission_and_sandbox(rows):
    return [{key: value for key, value in row.items() if key not in ("submission", "sandbox")} for row in rows]


@pytest.mark.parametrize("label", HONEST)
def test_honest_rows_are_the_same_as_when_graded_alone(batch, alone, label):
    rows = batch["rows"][label]
    assert json.dumps(without_submission_and_sandbox(rows)) == json.dumps(without_submission_and_sandbox(alone[label]))
    assert {row["sandbox"] for row in rows} == {batch["mode"]}
    expected_wrong = {"merge_pair"} if label == "one wrong" else set()
    helpers.expect_only_failed({r["exercise"]: r for r in rows}, POINTS, expected_wrong)


def test_nothing_outside_a_submissions_folder_changed(batch):
    assert batch["changed"] == []
    if "no network" in containment(batch["mode"]):
        assert not batch["reached"], "a submission connected to the grader host's loopback"


def test_nothing_a_submission_started_is_left_running(batch):
    assert batch["running"] == [], "processes started by submissions outlived their grading"
    assert batch["groups"] == [], "workers' control groups were left behind"


# ------------------------------------- an installed grader under bubblewrap
LOOKS_FOR_THE_GRADER = [case.name for case in hostile.CORPUS if "private grader files" in case.requires]


@pytest.fixture(scope="module")
def installed_under_bubblewrap(installed):
    """The cases that look for the grader's files, graded under bubblewrap by
    the fresh install: its package lies in the site-packages the sandbox
    binds, and its secret in the folder it runs from, its sys.prefix."""
    problem = mode_problem("bubblewrap")
    if problem:
        pytest.skip(problem)
    folder = installed["cwd"].parent / "bubblewrap"
    folder.mkdir()
    return run_batch(folder, "bubblewrap", [case for case in hostile.CORPUS if case.name in LOOKS_FOR_THE_GRADER],
                     installed, with_honest=False)


@pytest.mark.parametrize("name", LOOKS_FOR_THE_GRADER)
def test_an_installed_grader_under_bubblewrap_shows_none_of_its_files(installed_under_bubblewrap, name):
    batch = installed_under_bubblewrap
    case, rows = batch["corpus"][name], batch["rows"][name]
    assert [r["exercise"] for r in rows] == list(POINTS), rows
    for row in rows:
        assert row["sandbox"] == "bubblewrap", row
        if row["exercise"] in case.lose:
            assert row["points"] == 0 and row["status"] != "passed", f"{case.tries}: {row}"
        else:
            assert (row["status"], row["points"]) == ("passed", POINTS[row["exercise"]]), f"{case.tries}: {row}"
    assert batch["changed"] == [] and batch["running"] == [] and batch["groups"] == []


def test_the_installed_graders_files_lie_where_bubblewrap_binds(installed):
    """Else the run above would prove nothing: the package and the secret
    are under the install's sys.prefix, which the sandbox binds."""
    prefix = installed["cwd"]
    assert prefix in installed["grader"].parents and prefix in installed["secrets"][0].parents
    assert installed["secrets"][0].read_text().strip()


# ------------------------------------------------------------ fork bomb
def test_a_fork_bomb_meets_the_process_cap_and_the_machine_stays_usable():
    if mode_problem("bubblewrap") or "process cap" not in containment("bubblewrap"):
        pytest.skip(f"no process cap here ({sandbox.describe('bubblewrap')})")
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
    assert control_groups_of(os.getpid()) == [], "the bomb's processes outlived their worker"
