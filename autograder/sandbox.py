"""Where a worker runs: a bubblewrap sandbox that sees only what running a
notebook needs.

Inside, the worker sees read-only: the system's /usr, the Python that runs the
grader and its virtual environment, the course's support package and data,
and the two worker files; read-write: its own empty working folder and a
private /tmp. It does not see the hidden checks, the references, the secret,
the solutions, the gradebook or other submissions, and it has no network
(not even loopback), its own process and IPC namespaces, and an unprivileged
user id. Where bubblewrap is missing, the worker falls back to a network
namespace alone (`unshare --net`), with a warning.
"""
import functools
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

GRADER_DIR = Path(__file__).resolve().parent
WORKER_FILES = ("worker.py", "wire.py")
INSIDE_GRADER_DIR = "/grader"
SYSTEM_LINKS = ("/bin", "/lib", "/lib64", "/sbin")
SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/localtime", "/etc/fonts", "/etc/alternatives",
                "/etc/ssl/certs", "/etc/mime.types")


def worker_command(workdir: str, read_fd: int, write_fd: int) -> list[str]:
    """The command line that starts a worker in the strongest sandbox here."""
    worker = [sys.executable, "-I"]
    if bubblewrap() is not None:
        return [*bubblewrap(), *_bubblewrap_binds(workdir), "--",
                *worker, f"{INSIDE_GRADER_DIR}/worker.py", str(read_fd), str(write_fd)]
    return [*network_namespace(), *worker, str(GRADER_DIR / "worker.py"), str(read_fd), str(write_fd)]


def describe() -> str:
    if bubblewrap() is not None:
        return "bubblewrap (filesystem, network, process and user namespaces)"
    if network_namespace():
        return "unshare --net (network namespace only: install bubblewrap for the full sandbox)"
    return "none (install bubblewrap)"


def _bubblewrap_binds(workdir):
    from lmcourse import paths
    readable = {Path("/usr"), Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(),
                Path(paths.__file__).resolve().parent, Path(paths.data_dir()).resolve()}
    # A private /tmp first: the working folder (usually under /tmp) binds over it.
    args = ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
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
    args += ["--bind", workdir, workdir, "--chdir", workdir]
    return args


@functools.lru_cache(maxsize=1)
def bubblewrap():
    """bwrap's fixed options, or None where bubblewrap is missing or cannot
    create namespaces here."""
    path = shutil.which("bwrap")
    if path is None:
        return None
    options = (path, "--unshare-all", "--uid", "65534", "--gid", "65534",
               "--die-with-parent", "--new-session", "--hostname", "grader")
    probe = [*options, "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "true"]
    try:
        if subprocess.run(probe, capture_output=True, timeout=20).returncode == 0:
            return options
    except (OSError, subprocess.TimeoutExpired):
        pass
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
