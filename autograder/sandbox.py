"""Where a worker runs: a bubblewrap sandbox that sees only what running a
notebook needs, inside a control group of its own that caps its processes,
its memory and its share of the CPU.

Inside, the worker sees read-only: the system's /usr, the Python that runs the
grader and its virtual environment, the course's support package and data,
and the two worker files; read-write: its own working folder and /tmp, both
small private tmpfs. It does not see the hidden checks, the references, the
secret, the solutions, the gradebook or other submissions, and it has no
network (not even loopback), its own process, IPC and user namespaces, and an
unprivileged user id. When its first process dies, the kernel kills every
process left in its process namespace.

Where bubblewrap is missing, the worker falls back to a network namespace
alone (`unshare --net`), with a warning; where no control group can be made
(not root, or /sys/fs/cgroup read-only), to RLIMIT_NPROC, which binds only
processes whose user outside the sandbox is not root.
"""
import functools
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
import warnings
from pathlib import Path

GRADER_DIR = Path(__file__).resolve().parent
WORKER_FILES = ("worker.py", "wire.py")
INSIDE_GRADER_DIR = "/grader"
SYSTEM_LINKS = ("/bin", "/lib", "/lib64", "/sbin")
SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/localtime", "/etc/fonts", "/etc/alternatives",
                "/etc/ssl/certs", "/etc/mime.types")
CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_NAME = "lmcourse-grader"


def worker_command(workdir: str, read_fd: int, write_fd: int, limits) -> list[str]:
    """The command line that starts a worker in the strongest sandbox here.
    The worker caps its own processes (RLIMIT_NPROC, before any student code)
    only inside a user namespace of its own, where the count is per sandbox."""
    worker = [sys.executable, "-I"]
    if bubblewrap() is not None:
        return [*bubblewrap(), *_bubblewrap_binds(workdir, limits), "--",
                *worker, f"{INSIDE_GRADER_DIR}/worker.py", str(read_fd), str(write_fd),
                str(limits.processes)]
    script = [*worker, str(GRADER_DIR / "worker.py"), str(read_fd), str(write_fd)]
    if "--map-root-user" in network_namespace():
        script.append(str(limits.processes))
    return [*network_namespace(), *script]


def describe() -> str:
    if bubblewrap() is not None:
        where = "bubblewrap (filesystem, network, process and user namespaces)"
    elif network_namespace():
        where = "unshare --net (network namespace only: install bubblewrap for the full sandbox)"
    else:
        where = "none (install bubblewrap)"
    caps = (f"a control group each ({', '.join(sorted(cgroup_parents()))})" if cgroup_parents()
            else "RLIMIT_NPROC only (no writable control group)")
    return f"{where}; {caps}"


def _bubblewrap_binds(workdir, limits):
    from lmcourse import paths
    readable = {Path("/usr"), Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(),
                Path(paths.__file__).resolve().parent, Path(paths.data_dir()).resolve()}
    # Size-capped tmpfs rather than host folders: what a cell writes lives in
    # memory the control group counts, and never fills the grader's disk.
    scratch = str(limits.scratch_bytes)
    args = ["--proc", "/proc", "--dev", "/dev", "--size", scratch, "--tmpfs", "/tmp"]
    for path in sorted(readable):
        args += ["--ro-bind", str(path), str(path)]
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


@functools.lru_cache(maxsize=1)
def bubblewrap():
    """bwrap's fixed options, or None where bubblewrap is missing or cannot
    create namespaces here."""
    path = shutil.which("bwrap")
    if path is None:
        warnings.warn("autograder: bubblewrap is not installed (`make sandbox` installs it): "
                      "workers see the grader's files; only their network is cut")
        return None
    options = (path, "--unshare-all", "--uid", "65534", "--gid", "65534",
               "--die-with-parent", "--new-session", "--hostname", "grader")
    probe = [*options, "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev",
             "--size", "4096", "--tmpfs", "/tmp", "true"]
    try:
        if subprocess.run(probe, capture_output=True, timeout=20).returncode == 0:
            return options
    except (OSError, subprocess.TimeoutExpired):
        pass
    warnings.warn("autograder: bubblewrap cannot create namespaces here: "
                  "workers see the grader's files; only their network is cut")
    return None


@functools.lru_cache(maxsize=1)
def network_namespace() -> tuple:
    """`unshare --net` as root, `unshare --map-root-user --net` for other
    users; empty, with a warning, where neither works."""
    for prefix in (("unshare", "--net", "--"), ("unshare", "--map-root-user", "--net", "--")):
        try:
            if subprocess.run([*prefix, "true"], capture_output=True, timeout=10).returncode == 0:
                return prefix
        except (OSError, subprocess.TimeoutExpired):
            continue
    warnings.warn("autograder: no sandbox available (install bubblewrap); "
                  "workers keep the grader's view of files and the network")
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
        deadline = time.monotonic() + patience
        while (pids := self.pids()) and time.monotonic() < deadline:
            if kill_file.exists():
                kill_file.write_text("1")
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            time.sleep(0.02)

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
