"""The sandbox's modes as an instructor meets them on the command line, and
where the grader's secret comes from.

- The grader fails closed: without bubblewrap, or with a bubblewrap that
  cannot make namespaces, `python -m autograder grade` exits 2 before
  grading anything, naming the cause and the fix; `--sandbox none` then
  grades, and every row (JSON and CSV) records the mode.
- `--sandbox unprivileged` (from a fresh non-editable install on a Python
  every user may run) refuses while a worker's user could read the grader's
  private files, naming them and the chmod that fixes it, grades once they
  are unreadable, checks the checkout its data folder lies in too, and
  refuses when the grader is not root; two graders on one machine never
  give their workers the same user.
- The secret: AUTOGRADER_SECRET, else `.autograder-secret` in the folder
  grading runs from, else the user's config file, which grading creates
  (0600) and then reuses; the learner's self-check neither reads nor makes
  one; nothing is ever written inside the installed package.
The hostile corpus in each mode is test_hostile.py."""
import csv
import fcntl
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest

import helpers
from autograder import grade, sandbox, seeds, selfcheck
from wrong.tokenization import CORRECT, WRONG

REPO = helpers.REPO
POINTS = {"pretokenize": 1, "get_pair_counts": 1, "merge_pair": 0, "train_bpe": 2, "BPETokenizer": 2}
# What bwrap says where the kernel refuses it user namespaces.
BWRAP_REFUSED = ("bwrap: No permissions to creating new namespace, likely because the kernel does not "
                 "allow non-privileged user namespaces. On e.g. debian this can be enabled with "
                 "'sysctl kernel.unprivileged_userns_clone=1'.")
NOBODY = 65534


def small_submission(folder) -> Path:
    """Notebook 01's five exercises, merge_pair wrong: quick to grade."""
    sources = [WRONG["merge_pair"]["right to left"] if name == "merge_pair" else source
               for name, source in CORRECT.items()]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    path = Path(folder) / "01_tokenization.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, str(path))
    path.chmod(0o644)
    return path


def cli(*args, python=sys.executable, env=None, cwd=REPO, user=None):
    """`python -m autograder grade ARGS` in a subprocess, as `user` (a uid) if given."""
    def drop():
        os.setgroups([])
        os.setgid(user)
        os.setuid(user)
    return subprocess.run([str(python), "-m", "autograder", "grade", *map(str, args)], cwd=cwd,
                          env=env or dict(os.environ), capture_output=True, text=True, timeout=600,
                          preexec_fn=drop if user is not None else None)


def expect_refused(done, report, *phrases):
    """Exit status 2, a message with each phrase, and nothing graded or written."""
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    for phrase in phrases:
        assert phrase in done.stderr, f"{phrase!r} not in {done.stderr!r}"
    assert done.stdout == "" and "grading" not in done.stderr, done.stderr   # no table, no progress bar
    assert not Path(report).exists() and not Path(report).with_suffix(".journal.jsonl").exists()
    assert not Path(report).with_suffix(".csv").exists()


def expect_graded(report, mode):
    """The rows of the small submission in JSON and CSV, each recording `mode`."""
    rows = json.loads(Path(report).read_text())
    assert {row["exercise"]: row["points"] for row in rows} == POINTS, rows
    assert {row["sandbox"] for row in rows} == {mode}, rows
    with open(Path(report).with_suffix(".csv"), newline="") as file:
        table = list(csv.DictReader(file))
    assert len(table) == len(rows) and {line["sandbox"] for line in table} == {mode}, table


# --------------------------------------------------- failing closed
def test_without_bubblewrap_the_grader_refuses_and_grades_nothing(tmp_path):
    submission = small_submission(tmp_path / "class")
    empty = tmp_path / "bin"
    empty.mkdir()
    report = tmp_path / "grades.json"
    done = cli(submission, "--json", report, "--csv", report.with_suffix(".csv"),
               env={**os.environ, "PATH": str(empty)})
    expect_refused(done, report, "bubblewrap is not installed", "apt-get install bubblewrap",
                   "--sandbox unprivileged", "--sandbox none")


def fake_bwrap(folder) -> Path:
    """A folder with a `bwrap` that fails as bwrap does without user
    namespaces, and leaves a mark that it ran."""
    folder.mkdir()
    script = folder / "bwrap"
    script.write_text(f"#!/bin/sh\ntouch {folder / 'ran'}\necho \"{BWRAP_REFUSED}\" >&2\nexit 1\n")
    script.chmod(0o755)
    return folder


def test_a_bubblewrap_that_cannot_make_namespaces_is_refused_and_nothing_is_graded(tmp_path):
    submission = small_submission(tmp_path / "class")
    fake = fake_bwrap(tmp_path / "fakebin")
    report = tmp_path / "grades.json"
    done = cli(submission, "--json", report, "--csv", report.with_suffix(".csv"),
               env={**os.environ, "PATH": f"{fake}:/usr/bin:/bin"})
    assert (fake / "ran").exists(), "the grader did not try the bwrap on its PATH"
    expect_refused(done, report, f"bubblewrap cannot create namespaces here ({BWRAP_REFUSED})",
                   "allow unprivileged user namespaces", "sysctl", "--sandbox unprivileged", "--sandbox none")


def test_sandbox_none_grades_without_bubblewrap_and_every_row_says_so(tmp_path):
    submission = small_submission(tmp_path / "class")
    fake = fake_bwrap(tmp_path / "fakebin")
    report = tmp_path / "grades.json"
    done = cli(submission, "--json", report, "--csv", report.with_suffix(".csv"), "--sandbox", "none",
               env={**os.environ, "PATH": f"{fake}:/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert "sandbox none: NOT contained" in done.stderr
    expect_graded(report, "none")


def test_the_default_mode_is_bubblewrap_and_every_row_says_so(tmp_path):
    if sandbox.bubblewrap() is None:
        pytest.skip(sandbox.bubblewrap_problem())
    submission = small_submission(tmp_path / "class")
    report = tmp_path / "grades.json"
    done = cli(submission, "--json", report, "--csv", report.with_suffix(".csv"))
    assert done.returncode == 0, done.stderr
    expect_graded(report, "bubblewrap")


# ----------------------------------------------------------- unprivileged
@pytest.fixture
def world_readable_folder():
    """A folder every user may enter (pytest's own are root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="lmcourse-modes-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_unprivileged_refuses_while_the_graders_files_are_readable_and_grades_once_they_are_not(
        world_readable_folder):
    if os.geteuid() != 0:
        pytest.skip("the unprivileged mode needs a root grader")
    base = world_readable_folder
    python = helpers.fresh_environment(base)
    package = Path(subprocess.run([str(python), "-c", "import autograder; print(autograder.__path__[0])"],
                                  capture_output=True, text=True, check=True, cwd=base).stdout.strip())
    course = base / "course"       # the folder grading runs from, holding the secret
    secret = course / seeds.COURSE_SECRET_FILE
    secret.parent.mkdir()
    secret.write_text("a course secret\n")
    secret.chmod(0o644)
    shutil.copytree(REPO / "data", base / "data")
    submission = small_submission(base / "class")
    env = {key: value for key, value in os.environ.items() if key != seeds.SECRET_ENV_VAR}
    env.update(LMCOURSE_DATA=str(base / "data"), XDG_CONFIG_HOME=str(base / "no-config"))
    report = course / "grades.json"

    def run():
        return cli(submission, "--sandbox", "unprivileged", "--json", report, "--csv", report.with_suffix(".csv"),
                   python=python, env=env, cwd=course)

    # Readable: refused, naming each readable file and the chmod.
    listed = f"{package} {secret}"
    expect_refused(run(), report, "needs the grader's private files unreadable by other users",
                   f"a worker could read: {listed}.", f"`chmod -R go-rwx {listed}`")
    # One fixed, the other still readable: refused, naming only that one.
    subprocess.run(["chmod", "-R", "go-rwx", str(package)], check=True)
    expect_refused(run(), report, f"a worker could read: {secret}.", f"`chmod -R go-rwx {secret}`")
    # Both unreadable: graded, as a user of its own.
    secret.chmod(0o600)
    done = run()
    assert done.returncode == 0, done.stderr
    assert "sandbox unprivileged: a user of its own" in done.stderr
    expect_graded(report, "unprivileged")

    # The data read from a checkout (LMCOURSE_DATA) makes the checkout's
    # copies of the grader, its solutions and tests the grader's too.
    if not REPO.joinpath("solutions").stat().st_mode & stat.S_IROTH:
        return
    report.unlink()
    report.with_suffix(".csv").unlink()
    report.with_suffix(".journal.jsonl").unlink()
    env["LMCOURSE_DATA"] = str(REPO / "data")
    expect_refused(run(), report, f"a worker could read: {REPO / 'autograder'} {REPO / 'solutions'}",
                   "chmod -R go-rwx")


def test_two_graders_never_give_their_workers_the_same_user():
    """A jail keeps its user id from one worker to the next, with no process
    running under it in between: another grader on the machine must not take
    it then, or a sweep of that user would kill the other's worker."""
    holder = subprocess.Popen([sys.executable, "-c", "import sys\nfrom autograder import sandbox\n"
                               "print(sandbox._take_uid(), flush=True)\nsys.stdin.read()"],
                              cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        held = int(holder.stdout.readline())
        mine = sandbox._take_uid()
        sandbox._release_uid(mine)
        assert mine != held and sandbox.WORKER_UIDS.start <= held < sandbox.WORKER_UIDS.stop
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    # A grader that is gone holds nothing.
    fd = os.open(sandbox._uid_lock_folder() / str(held), os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)


def test_unprivileged_refuses_a_grader_that_is_not_root(world_readable_folder):
    base = world_readable_folder
    python = helpers.fresh_environment(base)
    submission = small_submission(base / "class")
    report = base / "reports" / "grades.json"
    report.parent.mkdir(mode=0o777)
    report.parent.chmod(0o777)
    env = {**os.environ, "HOME": str(base), "LMCOURSE_DATA": str(REPO / "data")}
    user = None if os.geteuid() != 0 else NOBODY
    done = cli(submission, "--sandbox", "unprivileged", "--json", report, python=python, env=env, cwd=base,
               user=user)
    expect_refused(done, report, "`--sandbox unprivileged` switches each worker to a user of its own, "
                                 "which needs root", "install bubblewrap")


# ------------------------------------------------------------------ secret
@pytest.fixture
def no_secret_configured(tmp_path, monkeypatch):
    """No AUTOGRADER_SECRET; the user's config, home and the folder grading
    runs from are empty folders of this test's."""
    monkeypatch.delenv(seeds.SECRET_ENV_VAR, raising=False)
    folders = {name: tmp_path / name for name in ("config", "home", "course")}
    for folder in folders.values():
        folder.mkdir()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(folders["config"]))
    monkeypatch.setenv("HOME", str(folders["home"]))
    monkeypatch.chdir(folders["course"])
    return folders


def files_under(*folders):
    return sorted(str(path) for folder in folders for path in Path(folder).rglob("*")
                  if "__pycache__" not in path.parts)


def secrets_drawn_from(monkeypatch):
    """The secrets the hidden checks draw their inputs from, as grading asks for them."""
    drawn = []
    original = seeds.exercise_rng

    def recording(secret, notebook, exercise):
        drawn.append(secret)
        return original(secret, notebook, exercise)
    monkeypatch.setattr(seeds, "exercise_rng", recording)
    return drawn


def test_grading_creates_the_users_secret_private_and_reuses_it(no_secret_configured, monkeypatch, tmp_path):
    folders = no_secret_configured
    drawn = secrets_drawn_from(monkeypatch)
    submission = small_submission(tmp_path / "class")
    rows = grade.grade_paths([str(submission)])
    assert {row["exercise"]: row["points"] for row in rows} == POINTS
    made = folders["config"] / "lmcourse" / "autograder-secret"
    assert files_under(*folders.values()) == [str(made.parent), str(made)]
    assert stat.S_IMODE(made.stat().st_mode) == 0o600
    assert stat.S_IMODE(made.parent.stat().st_mode) == 0o700
    secret = made.read_text().strip()
    assert len(secret) >= 32 and set(drawn) == {secret}
    before = (made.stat().st_ino, made.stat().st_mtime_ns)
    assert seeds.grader_secret() == secret and grade.grader_fingerprint() == grade.grader_fingerprint(secret)
    assert (made.stat().st_ino, made.stat().st_mtime_ns) == before


def test_the_course_folders_secret_wins_over_the_users_and_the_environment_over_both(
        no_secret_configured, monkeypatch):
    folders = no_secret_configured
    user_file = folders["config"] / "lmcourse" / "autograder-secret"
    user_file.parent.mkdir()
    user_file.write_text("the user's\n")
    assert seeds.grader_secret() == "the user's"
    (folders["course"] / ".autograder-secret").write_text("the course's\n")
    assert seeds.grader_secret() == "the course's"
    monkeypatch.setenv(seeds.SECRET_ENV_VAR, "the environment's")
    assert seeds.grader_secret() == "the environment's"
    assert seeds.grader_secret(create=False) == "the environment's"
    assert user_file.read_text() == "the user's\n"


def test_without_create_a_missing_secret_is_an_error_that_says_where_to_put_one(no_secret_configured):
    with pytest.raises(LookupError, match="AUTOGRADER_SECRET.*.autograder-secret"):
        seeds.grader_secret(create=False)
    assert files_under(*no_secret_configured.values()) == []


def test_the_self_check_neither_reads_nor_makes_a_secret(no_secret_configured, monkeypatch, tmp_path):
    folders = no_secret_configured
    drawn = secrets_drawn_from(monkeypatch)
    package_before = files_under(sandbox.GRADER_DIR)

    def forbidden(*args, **kwargs):
        raise AssertionError("the self-check asked for the instructor's secret")
    monkeypatch.setattr(seeds, "grader_secret", forbidden)
    rows = selfcheck.check_my_work(str(small_submission(tmp_path / "class")))
    assert {row["exercise"]: row["points"] for row in rows} == POINTS
    assert set(drawn) == {seeds.PUBLIC_SEED}
    assert files_under(*folders.values()) == []
    assert files_under(sandbox.GRADER_DIR) == package_before


def test_an_installed_grader_keeps_its_secret_outside_its_package(world_readable_folder, tmp_path):
    """Grading from a non-editable install makes the secret in the user's
    config folder; the self-check makes none; the install is left as it was."""
    python = helpers.fresh_environment(world_readable_folder)
    environment = world_readable_folder / "env"
    installed_before = files_under(environment)
    folders = {name: tmp_path / name for name in ("config", "home", "course")}
    for folder in folders.values():
        folder.mkdir()
    env = {key: value for key, value in os.environ.items() if key != seeds.SECRET_ENV_VAR}
    env.update(XDG_CONFIG_HOME=str(folders["config"]), HOME=str(folders["home"]),
               LMCOURSE_DATA=str(REPO / "data"), PYTHONDONTWRITEBYTECODE="1")
    submission = small_submission(tmp_path / "class")

    check = subprocess.run([str(python), "-c", "import sys\nfrom autograder.selfcheck import check_my_work\n"
                            "rows = check_my_work(sys.argv[1])\nprint(sum(row['points'] for row in rows))",
                            str(submission)], cwd=folders["course"], env=env, capture_output=True, text=True,
                           timeout=600)
    assert check.returncode == 0 and check.stdout.strip().endswith(str(sum(POINTS.values()))), check.stderr
    assert files_under(*folders.values()) == []

    mode = "bubblewrap" if sandbox.bubblewrap() is not None else "none"
    done = cli(submission, "--sandbox", mode, "--json", folders["course"] / "grades.json", python=python,
               env=env, cwd=folders["course"])
    assert done.returncode == 0, done.stderr
    made = folders["config"] / "lmcourse" / "autograder-secret"
    assert stat.S_IMODE(made.stat().st_mode) == 0o600 and made.read_text().strip()
    assert not (folders["course"] / seeds.COURSE_SECRET_FILE).exists()
    assert files_under(folders["home"]) == []
    assert files_under(environment) == installed_before
