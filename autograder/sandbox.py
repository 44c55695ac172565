"""Where a worker runs. Three modes, which an instructor chooses by name;
the grader refuses to start where the chosen mode cannot run (it fails
closed), with a message that names the cause and the fix.

- "bubblewrap" (the default): a bubblewrap sandbox that sees only what running
  a notebook needs. Read-only: the system's /usr, the Python that runs the
  grader and its environment, the course's support package and data, and
  the two worker files; read-write: its own working folder and /tmp, both
  small private tmpfs. The grader's package (hidden checks, references), the
  secret and, in a checkout, the solutions, tests and examples are covered
  by empty folders wherever they lie under a bound path, so no install mode
  (editable, non-editable, conda, a system install) shows them. No network
  (not even loopback), its own process, IPC and user namespaces, an
  unprivileged user id; when its first process dies, the kernel kills every
  process left in its process namespace.
- "unprivileged": for a root grader where no user namespace can be made
  (Docker's default seccomp profile, Gradescope's containers). The worker runs
  as a user id of its own, with no groups, that must not be able to read the
  grader's private files: the grader checks this first, as that user, and
  refuses, naming the files and the `chmod` that fixes them. Its processes
  are capped per user (RLIMIT_NPROC binds a user that is not root) and all
  killed afterwards. Its network is cut only where `unshare --net` works;
  files every user may read stay readable.
- "none": a separate process with resource limits, nothing more: the worker
  can read whatever the grader can. For a machine where grading your own
  code is the point (a learner's self-check).

Every mode adds a control group per worker where one can be made (processes,
memory, CPU), and each report row records the mode it was graded in.
"""
import fcntl
import functools
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import warnings
from pathlib import Path

from . import seeds

GRADER_DIR = Path(__file__).resolve().parent
WORKER_FILES = ("worker.py", "wire.py")
INSIDE_GRADER_DIR = "/grader"
SYSTEM_LINKS = ("/bin", "/lib", "/lib64", "/sbin")
SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/localtime", "/etc/fonts", "/etc/alternatives",
                "/etc/ssl/certs", "/etc/mime.types")
CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_NAME = "lmcourse-grader"

MODES = ("bubblewrap", "unprivileged", "none")
DEFAULT_MODE = "bubblewrap"
# User ids for "unprivileged" workers: one each, unused by any account or process.
WORKER_UIDS = range(61000, 62000)


class SandboxUnavailable(RuntimeError):
    """The chosen mode cannot run here; the message names the cause and the fix."""


def require(mode: str) -> None:
    """Raises SandboxUnavailable unless `mode` can contain a worker here."""
    if mode not in MODES:
        raise SandboxUnavailable(f"unknown sandbox mode {mode!r}: choose one of {', '.join(MODES)}")
    if mode == "bubblewrap" and bubblewrap() is None:
        raise SandboxUnavailable(bubblewrap_problem())
    if mode == "unprivileged":
        problem = unprivileged_problem()
        if problem:
            raise SandboxUnavailable(problem)


def self_check_mode() -> str:
    """A learner's self-check checks their own code: the strongest mode
    that needs no set-up, never a refusal."""
    return "bubblewrap" if bubblewrap() is not None else "none"


def describe(mode: str) -> str:
    """What `mode` contains here, and what it does not."""
    caps = (f"a control group per worker ({', '.join(sorted(cgroup_parents()))})" if cgroup_parents()
            else "no control group (processes capped per user only where the worker is not root)")
    if mode == "bubblewrap":
        return f"bubblewrap: own view of files, no network, own process and user namespaces; {caps}"
    if mode == "unprivileged":
        network = ("no network (unshare --net)" if network_namespace()
                   else "NOT contained: the network, since no network namespace can be made here")
        return (f"unprivileged: a user of its own that cannot read the grader's private files; {network}; "
                f"NOT contained: files every user may read; {caps}")
    return f"none: NOT contained: files, network and processes are the grader's own; {caps}"


# --------------------------------------------------------------- the worker
class Jail:
    """One notebook run's sandbox: the command that starts each of its
    workers, what each runs as, and the sweep of what is left afterwards.

        jail = Jail("bubblewrap", workdir, limits)
        Popen(jail.command(read_fd, write_fd), preexec_fn=jail.enter, ...)
        jail.sweep()       # after each worker; jail.close() at the end
    """

    def __init__(self, mode, workdir, limits):
        require(mode)
        self.mode, self.workdir, self.limits = mode, workdir, limits
        self.uid = None
        self._worker_files = None
        if mode == "unprivileged":
            self.uid = _take_uid()
            os.chown(workdir, self.uid, self.uid)
            os.chmod(workdir, 0o700)
            # Root's, readable by the worker, not writable: a restarted worker
            # runs the grader's worker.py, whatever the last one did.
            self._worker_files = tempfile.mkdtemp(prefix="lmcourse-worker-")
            os.chmod(self._worker_files, 0o755)
            for name in WORKER_FILES:
                copy = Path(self._worker_files) / name
                shutil.copyfile(GRADER_DIR / name, copy)
                copy.chmod(0o644)

    def command(self, read_fd: int, write_fd: int) -> list[str]:
        fds = [str(read_fd), str(write_fd)]
        python = [sys.executable, "-I"]
        if self.mode == "bubblewrap":
            return [*bubblewrap(), *_bubblewrap_binds(self.workdir, self.limits), "--",
                    *python, f"{INSIDE_GRADER_DIR}/worker.py", *fds, str(self.limits.processes)]
        if self.mode == "unprivileged":
            script = [*python, f"{self._worker_files}/worker.py", *fds, str(self.limits.processes)]
            if network_namespace():
                uid = str(self.uid)
                return [*network_namespace(), "--setgid", uid, "--setuid", uid, "--", *script]
            return script
        return [*python, str(GRADER_DIR / "worker.py"), *fds]

    def enter(self):
        """In the child, before exec and after its limits: drop to the
        worker's user (unshare does it after making the network namespace)."""
        if self.mode == "unprivileged":
            os.setgroups([])
            if not network_namespace():
                os.setgid(self.uid)
                os.setuid(self.uid)

    def sweep(self):
        """Kills what a worker left running outside its process namespace."""
        if self.mode == "unprivileged":
            _kill_user(self.uid)

    def close(self):
        self.sweep()
        if self._worker_files:
            shutil.rmtree(self._worker_files, ignore_errors=True)
        if self.uid is not None:
            _release_uid(self.uid)
            self.uid = None


_UIDS_IN_USE = {}   # uid -> the descriptor of its lock file, held while a jail has it
_UIDS_LOCK = threading.Lock()


def _take_uid() -> int:
    """A user id no account, running process or other jail has. A jail holds
    it with a lock on a file (released when it closes or its grader dies),
    so that two graders on one machine never share one: between two of its
    workers a jail's user runs no process, and a sweep kills every process
    of that user."""
    with _UIDS_LOCK:
        busy = set(_UIDS_IN_USE) | _account_uids() | set(_process_owners().values())
        locks = _uid_lock_folder()
        for uid in WORKER_UIDS:
            if uid in busy:
                continue
            fd = os.open(locks / str(uid), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            _UIDS_IN_USE[uid] = fd
            return uid
    raise SandboxUnavailable(f"no free user id in {WORKER_UIDS.start}-{WORKER_UIDS.stop - 1} for a worker")


def _release_uid(uid):
    with _UIDS_LOCK:
        fd = _UIDS_IN_USE.pop(uid, None)
    if fd is not None:
        os.close(fd)


def _uid_lock_folder() -> Path:
    """Where graders lock the user ids their jails hold: a folder of this
    user's alone (/run's for root)."""
    parent = Path("/run") if os.access("/run", os.W_OK) else Path(tempfile.gettempdir())
    folder = parent / f"lmcourse-grader-uids-{os.geteuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    info = os.lstat(folder)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o077:
        raise SandboxUnavailable(f"{folder} must be a folder of this user's alone (remove it)")
    return folder


def _account_uids():
    import pwd
    return {entry.pw_uid for entry in pwd.getpwall()}


def _process_owners() -> dict:
    """{pid: real user id} of every running process."""
    owners = {}
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit():
                owners[int(entry.name)] = entry.stat().st_uid
        except OSError:
            pass
    return owners


def _kill_user(uid, patience=5.0):
    """SIGKILL every process of `uid`."""
    _kill_until_gone(lambda: [pid for pid, owner in _process_owners().items() if owner == uid], patience)


def _kill_until_gone(find_pids, patience, before_each_round=None):
    """SIGKILL every process `find_pids()` lists, again while forks race the
    kill, until none is left or `patience` seconds have passed."""
    deadline = time.monotonic() + patience
    while (pids := find_pids()) and time.monotonic() < deadline:
        if before_each_round:
            before_each_round()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.02)


# --------------------------------------------------- what workers must not see
# What a checkout of the course holds that no worker may read: copies of the
# grader (its own package, and the package as `pip install .` builds it), the
# solutions, the project's tests, the worked examples and git's history.
CHECKOUT_PRIVATE = ("autograder", "solutions", "tests", "examples", ".git", "build", "dist")


def private_paths() -> list[Path]:
    """The grader's files no worker may read: its package (hidden checks,
    references), the secret's files, and what a checkout of the course holds
    (CHECKOUT_PRIVATE) in the checkout the grader runs from or the one its
    data folder lies in (a non-editable install reads the data from a
    checkout through LMCOURSE_DATA, and the worker is given that path)."""
    paths = [GRADER_DIR, *(p.resolve() for p in seeds.secret_files() if p.exists())]
    for checkout in _checkouts():
        paths += [checkout / name for name in CHECKOUT_PRIVATE if (checkout / name).exists()]
    return list(dict.fromkeys(paths))


def _checkouts() -> list[Path]:
    from lmcourse import paths
    folders = [GRADER_DIR.parent]
    try:
        folders.append(Path(paths.data_dir()).resolve().parent)
    except FileNotFoundError:
        pass
    # A checkout: the course's solutions, or its project file beside the
    # hidden checks (not site-packages, which holds an installed grader).
    return [folder for folder in dict.fromkeys(folders) if (folder / "solutions").is_dir()
            or ((folder / "pyproject.toml").is_file() and (folder / "autograder" / "hidden").is_dir())]


def _bubblewrap_binds(workdir, limits):
    from lmcourse import paths
    readable = {Path("/usr"), Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(),
                Path(paths.__file__).resolve().parent, Path(paths.data_dir()).resolve(),
                *_import_folders()}
    # Size-capped tmpfs rather than host folders: what a cell writes lives in
    # memory the control group counts, and never fills the grader's disk.
    scratch = str(limits.scratch_bytes)
    args = ["--proc", "/proc", "--dev", "/dev", "--size", scratch, "--tmpfs", "/tmp"]
    for path in sorted(readable):
        args += ["--ro-bind", str(path), str(path)]
    # Whatever of the grader lies under a bound path (a non-editable install
    # puts it in site-packages, under sys.prefix) is covered by an empty folder.
    for private in private_paths():
        if any(private == root or root in private.parents for root in readable):
            args += ["--tmpfs", str(private)] if private.is_dir() else ["--ro-bind", "/dev/null", str(private)]
    for link in SYSTEM_LINKS:
        if os.path.islink(link):
            args += ["--symlink", os.readlink(link), link]
        elif os.path.isdir(link):
            args += ["--ro-bind", link, link]
    for path in SYSTEM_FILES:
        args += ["--ro-bind-try", path, path]
    for name in WORKER_FILES:
        args += ["--ro-bind", str(GRADER_DIR / name), f"{INSIDE_GRADER_DIR}/{name}"]
    args += ["--size", scratch, "--tmpfs", workdir, "--chdir", workdir]
    return args


def _import_folders() -> set:
    """The folders this Python imports from (site-packages, and any a .pth
    file adds), so the worker imports what the grader does; not the current
    folder, nor a course checkout (its support package is bound alone)."""
    checkout = GRADER_DIR.parent if (GRADER_DIR.parent / "solutions").is_dir() else None
    folders = {Path(entry).resolve() for entry in sys.path if entry and Path(entry).is_dir()}
    return folders - {Path.cwd().resolve(), checkout}


BWRAP_OPTIONS = ("--unshare-all", "--uid", "65534", "--gid", "65534",
                 "--die-with-parent", "--new-session", "--hostname", "grader")


@functools.lru_cache(maxsize=1)
def _bubblewrap_probe():
    """(bwrap's fixed options, None) where it works here, else (None, why not)."""
    path = shutil.which("bwrap")
    if path is None:
        return None, "bubblewrap is not installed"
    probe = [path, *BWRAP_OPTIONS, "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev",
             "--size", "4096", "--tmpfs", "/tmp", "true"]
    try:
        done = subprocess.run(probe, capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as error:
        return None, f"bubblewrap did not start ({error})"
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip().splitlines()
        return None, f"bubblewrap cannot create namespaces here ({said[-1] if said else 'exit ' + str(done.returncode)})"
    return (path, *BWRAP_OPTIONS), None


def bubblewrap():
    """bwrap's fixed options, or None where bubblewrap is missing or cannot
    create namespaces here."""
    return _bubblewrap_probe()[0]


def bubblewrap_problem() -> str:
    cause = _bubblewrap_probe()[1]
    if cause == "bubblewrap is not installed":
        fix = ("install it (Debian and Ubuntu: `apt-get install bubblewrap`; `make sandbox` does "
               "this as root)")
    else:
        fix = ("allow unprivileged user namespaces (Ubuntu 24.04: `sysctl "
               "kernel.apparmor_restrict_unprivileged_userns=0`; Docker: `--security-opt "
               "seccomp=unconfined`)")
    return (f"The grader's sandbox cannot start: {cause}. Fix: {fix}; or, as root in a container "
            f"without user namespaces, grade with `--sandbox unprivileged`; `--sandbox none` "
            f"grades with no isolation at all (every report row records the mode).")


@functools.lru_cache(maxsize=1)
def unprivileged_problem() -> str | None:
    """None where "unprivileged" can run here, else what stops it and the fix."""
    if os.geteuid() != 0:
        return ("`--sandbox unprivileged` switches each worker to a user of its own, which needs "
                "root (as in Gradescope's container); here, install bubblewrap instead.")
    try:
        readable = _readable_as(WORKER_UIDS.stop - 1, private_paths())
    except OSError as failure:
        return f"`--sandbox unprivileged` cannot start a worker here: {failure}"
    if readable:
        listed = " ".join(str(p) for p in readable)
        return (f"`--sandbox unprivileged` needs the grader's private files unreadable by other "
                f"users, and a worker could read: {listed}. Fix: `chmod -R go-rwx {listed}` "
                f"(the grader runs as root and still reads them).")
    return None


# Run as a worker's user: prints each path of which it can read a file.
PROBE = """
import os, sys

def readable(top):
    walk = os.walk(top) if os.path.isdir(top) else [("", [], [top])]
    for folder, _, files in walk:
        for name in files:
            try:
                open(os.path.join(folder, name), "rb").close()
                return True
            except OSError:
                pass
    return False

print("\\n".join(top for top in sys.argv[1:] if readable(top)))
"""


def _readable_as(uid, paths) -> list[str]:
    """The paths of which `uid` (no groups) can read at least one file."""
    def drop():
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    try:
        done = subprocess.run([sys.executable, "-I", "-c", PROBE, *map(str, paths)], capture_output=True,
                              text=True, preexec_fn=drop, cwd="/", timeout=120)
    except PermissionError:
        raise OSError(f"a user other than root cannot run {sys.executable}: install the grader "
                      f"in a Python every user may run (e.g. /usr/bin/python3)") from None
    if done.returncode != 0:
        raise OSError(f"Python failed as user {uid}: {done.stderr.strip()[-300:]}")
    return [line for line in done.stdout.splitlines() if line]


@functools.lru_cache(maxsize=1)
def network_namespace() -> tuple:
    """`unshare --net` where this process may make a network namespace (root
    with CAP_SYS_ADMIN); empty elsewhere."""
    prefix = ("unshare", "--net")
    try:
        if subprocess.run([*prefix, "--", "true"], capture_output=True, timeout=10).returncode == 0:
            return prefix
    except (OSError, subprocess.TimeoutExpired):
        pass
    return ()


# ------------------------------------------------------------ control groups
class ControlGroup:
    """One worker's control group: at most `limits.processes` tasks (threads
    count), `limits.memory_bytes` of memory for all its processes together,
    and one group's share of the CPU however many processes it starts. Every
    process the worker starts stays in it, so `kill_all` reaches them even
    where no process namespace does.

        group = ControlGroup.create(limits)     # None where none can be made
        Popen(..., preexec_fn=group.enter)      # the child joins before exec
        group.close()                           # kills what is left, removes it
    """

    def __init__(self, folders):
        self.folders = folders    # {controller: its folder for this worker}

    @classmethod
    def create(cls, limits):
        parents = cgroup_parents()
        if not parents:
            return None
        name = f"worker-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        folders = {}
        for controller, parent in parents.items():
            folder = parent / name
            if folder not in folders.values():
                folder.mkdir()
            folders[controller] = folder
        group = cls(folders)
        try:
            group._write("pids", "pids.max", limits.processes)
            if "memory" in folders:
                memory_file = "memory.max" if _unified(folders["memory"]) else "memory.limit_in_bytes"
                group._write("memory", memory_file, limits.memory_bytes)
                if (folders["memory"] / "memory.swap.max").exists():
                    group._write("memory", "memory.swap.max", 0)
        except OSError:
            group.close()
            raise
        return group

    def enter(self):
        """Moves the calling process into the group (a Popen preexec_fn)."""
        for folder in dict.fromkeys(self.folders.values()):
            fd = os.open(folder / "cgroup.procs", os.O_WRONLY)
            try:
                os.write(fd, str(os.getpid()).encode())
            finally:
                os.close(fd)

    def pids(self) -> list[int]:
        try:
            return [int(line) for line in (self.folders["pids"] / "cgroup.procs").read_text().split()]
        except OSError:
            return []

    def kill_all(self, patience=5.0):
        """SIGKILL every process in the group, again while forks race the
        kill, until none is left or `patience` seconds have passed."""
        kill_file = self.folders["pids"] / "cgroup.kill"

        def kill_the_group():   # cgroup v2 kills the whole group in one write
            if kill_file.exists():
                kill_file.write_text("1")
        _kill_until_gone(self.pids, patience, kill_the_group)

    def close(self):
        self.kill_all()
        for folder in dict.fromkeys(self.folders.values()):
            # Killed processes leave the group once reaped, which a loaded
            # machine may take seconds to do: retry a while.
            for _ in range(500):
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)
            else:
                warnings.warn(f"autograder: could not remove the control group {folder}")

    def _write(self, controller, name, value):
        (self.folders[controller] / name).write_text(str(value))


def _unified(folder):
    return (folder / "cgroup.controllers").exists()


@functools.lru_cache(maxsize=1)
def cgroup_parents() -> dict:
    """{controller: folder} under which each worker gets its control group;
    {} with a warning where the pids controller is not writable here.

    cgroup v2: `lmcourse-grader/` at the hierarchy's root (a group that holds
    processes cannot delegate controllers, so not under our own group).
    cgroup v1: `lmcourse-grader/` under our own group in each controller's
    hierarchy, so that limits set above us (a container's memory) still bind."""
    try:
        parents = _v2_parents() if _unified(CGROUP_ROOT) else _v1_parents()
        if "pids" in parents:
            return parents
    except OSError:
        pass
    if os.geteuid() == 0:
        warnings.warn("autograder: no writable control group (/sys/fs/cgroup): a worker's "
                      "processes and total memory are not capped, since RLIMIT_NPROC does not bind root")
    return {}


def _v2_parents():
    wanted = {"pids", "memory", "cpu"}
    available = wanted & set((CGROUP_ROOT / "cgroup.controllers").read_text().split())
    parent = CGROUP_ROOT / CGROUP_NAME
    parent.mkdir(exist_ok=True)
    if not os.access(parent, os.W_OK):
        return {}     # made by another user (root's grader): not ours to use
    _remove_stale_groups(parent)
    for folder in (CGROUP_ROOT, parent):
        enabled = set((folder / "cgroup.subtree_control").read_text().split())
        if available - enabled:
            (folder / "cgroup.subtree_control").write_text(
                " ".join(f"+{name}" for name in sorted(available - enabled)))
    return dict.fromkeys(available, parent)


def _v1_parents():
    mounts = {}
    for line in Path("/proc/self/mounts").read_text().splitlines():
        _, where, kind, options, *_ = line.split()
        if kind == "cgroup":
            for controller in ("pids", "memory", "cpu"):
                if controller in options.split(","):
                    mounts[controller] = Path(where)
    parents = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, own = line.split(":", 2)
        for controller in controllers.split(","):
            if controller in mounts:
                parent = mounts[controller] / own.lstrip("/") / CGROUP_NAME
                try:
                    parent.mkdir(exist_ok=True)
                except OSError:
                    continue      # memory and cpu are worth having; pids is required
                if not os.access(parent, os.W_OK):
                    continue      # made by another user (root's grader): not ours to use
                _remove_stale_groups(parent)
                parents[controller] = parent
    return parents


def _remove_stale_groups(parent):
    """Empty groups left by graders that have stopped (killed, or out of
    patience while removing them); rmdir refuses any group still in use."""
    for folder in parent.glob("worker-*"):
        grader_pid = folder.name.split("-")[1]
        if grader_pid.isdigit() and not Path(f"/proc/{grader_pid}").exists():
            try:
                folder.rmdir()
            except OSError:
                pass
