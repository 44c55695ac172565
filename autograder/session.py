"""The trusted side of a notebook run: a worker process, its cells, and the
`Student` proxy through which hidden checks call the student's code.

    run = NotebookRun(cells)
    run.start()                        # executes the cells in a fresh worker
    student = Student(run, deadline)
    student.call("merge_pair", (1, 2, 1, 2), (1, 2), 9)   # -> (9, 9)
"""
import os
import resource
import select
import signal
import struct
import subprocess
import tempfile
import time
from dataclasses import dataclass, field

from . import sandbox, wire


@dataclass
class Limits:
    """What one notebook run may use. Times are wall-clock seconds."""
    # Generous: a grading-mode notebook takes seconds, but a loaded machine
    # (a class graded in parallel) must not turn slow cells into timeouts.
    cell_seconds: float = 120.0       # one cell
    notebook_seconds: float = 600.0   # all cells, restarts included
    memory_bytes: int = 6 * 1024**3   # address space of each process; all of them together
    file_bytes: int = 64 * 1024**2    # largest file the worker may write
    scratch_bytes: int = 256 * 1024**2  # its working folder, and its /tmp
    processes: int = 64               # processes and threads at once (a worker uses 2)
    reply_bytes: int = 64 * 1024**2   # largest answer the grader reads from it
    startup_seconds: float = 120.0    # importing IPython in a fresh worker


class StudentRaised(Exception):
    """The student's code raised an exception while we called it."""

    def __init__(self, type_name, message):
        super().__init__(f"{type_name}: {message}")
        self.type_name, self.message = type_name, message


class WorkerLost(Exception):
    """The worker died, broke the protocol, or ran out of time."""

    def __init__(self, message, timed_out=False):
        super().__init__(message)
        self.timed_out = timed_out


# ------------------------------------------------------------------ worker
class Worker:
    """One worker process, its control group, and the two pipes to it."""

    def __init__(self, limits: Limits, jail: sandbox.Jail, env: dict):
        self.group = sandbox.ControlGroup.create(limits)
        self.jail = jail
        to_worker_read, self._to_worker = os.pipe()
        self._from_worker, from_worker_write = os.pipe()
        try:
            self.process = subprocess.Popen(
                jail.command(to_worker_read, from_worker_write),
                pass_fds=(to_worker_read, from_worker_write),
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                cwd=jail.workdir, env=env, start_new_session=True,
                preexec_fn=lambda: _enter_limits(limits, self.group, jail),
            )
        except BaseException:
            for fd in (to_worker_read, self._to_worker, self._from_worker, from_worker_write):
                os.close(fd)
            if self.group:
                self.group.close()
            raise
        os.close(to_worker_read)
        os.close(from_worker_write)
        os.set_blocking(self._to_worker, False)
        self._reply_bytes = limits.reply_bytes
        self._buffer = bytearray()
        self.alive = True

    def request(self, message, timeout):
        """Send one request and wait for its reply, at most `timeout` s."""
        deadline = time.monotonic() + max(timeout, 0.0)
        data = wire.frame(message)
        while data:
            self._wait(self._to_worker, "write", deadline)
            try:
                written = os.write(self._to_worker, data)
            except (BrokenPipeError, OSError):
                self.kill()
                raise WorkerLost("the notebook's process stopped") from None
            data = data[written:]
        return wire.parse_frame(self._read_frame(deadline))

    def read_reply(self, timeout):
        return wire.parse_frame(self._read_frame(time.monotonic() + timeout))

    def _read_frame(self, deadline):
        while True:
            if len(self._buffer) >= 8:
                (length,) = struct.unpack(">Q", self._buffer[:8])
                if length > self._reply_bytes:
                    self.kill()
                    raise WorkerLost(f"the notebook's process sent an answer larger than "
                                     f"{self._reply_bytes // 1024**2} MiB")
                if len(self._buffer) >= 8 + length:
                    payload = bytes(self._buffer[8:8 + length])
                    del self._buffer[:8 + length]
                    return payload
            self._wait(self._from_worker, "read", deadline)
            chunk = os.read(self._from_worker, 1 << 20)
            if not chunk:
                self.kill()
                raise WorkerLost("the notebook's process stopped")
            self._buffer += chunk

    def _wait(self, fd, direction, deadline):
        remaining = deadline - time.monotonic()
        if remaining > 0:
            ready = select.select([fd], [], [], remaining) if direction == "read" else \
                select.select([], [fd], [], remaining)
            if ready[0] or ready[1]:
                return
        self.kill()
        raise WorkerLost("ran out of time", timed_out=True)

    def kill(self):
        if not self.alive:
            return
        self.alive = False
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.process.wait()
        # The sandbox's process namespace died with it; the control group
        # and the jail's sweep also catch what escaped it (or where there is
        # no namespace).
        if self.group:
            self.group.close()
        self.jail.sweep()
        for fd in (self._to_worker, self._from_worker):
            try:
                os.close(fd)
            except OSError:
                pass


def _enter_limits(limits: Limits, group, jail):
    """Runs in the child before exec: resource limits for each of the
    worker's processes, its control group for all of them, then the jail's
    user."""
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if group:
        group.enter()
    jail.enter()


def worker_environment(home):
    """A small, explicit environment: grading mode on, nothing inherited
    that could point the worker at the grader's files."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": home,
        "TMPDIR": home,
        "LANG": "C.UTF-8",
        "LMCOURSE_GRADING": "1",
        "MPLBACKEND": "Agg",
        "PYTHONHASHSEED": "0",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    if "LMCOURSE_DATA" in os.environ:
        env["LMCOURSE_DATA"] = os.environ["LMCOURSE_DATA"]
    return env


# ------------------------------------------------------------ notebook run
@dataclass
class NotebookRun:
    """Executes a notebook's code cells in a worker and keeps it serving.

    A cell that raises is recorded and the next one runs, as in nbgrader with
    errors allowed. A cell that hangs or kills the worker is recorded, and the
    worker is restarted with that cell skipped, so one runaway cell costs only
    the exercises that need it."""
    cells: list
    limits: Limits = field(default_factory=Limits)
    mode: str = sandbox.DEFAULT_MODE   # the sandbox's (SandboxUnavailable where it cannot run)
    cell_errors: dict = field(default_factory=dict)   # index -> message
    skipped: set = field(default_factory=set)

    def __post_init__(self):
        self.worker = None
        self._workdir = tempfile.TemporaryDirectory(prefix="lmcourse-grade-")
        try:
            self.jail = sandbox.Jail(self.mode, self._workdir.name, self.limits)
        except BaseException:
            self._workdir.cleanup()
            raise
        self._deadline = None

    def start(self):
        """(Re)start the worker and execute every cell not known to be fatal."""
        if self._deadline is None:
            self._deadline = time.monotonic() + self.limits.notebook_seconds
        while True:
            self._spawn()
            fatal = self._execute_cells()
            if fatal is None:
                return
            if fatal == "notebook":
                raise WorkerLost("the notebook ran out of time", timed_out=True)

    def _spawn(self):
        self.close_worker()
        workdir = self._workdir.name
        self.worker = Worker(self.limits, self.jail, worker_environment(workdir))
        try:
            self.worker.read_reply(self.limits.startup_seconds)
        except WorkerLost as lost:
            raise WorkerLost(f"the grader's worker could not start: {lost}") from None

    def _execute_cells(self):
        """Returns None when all cells ran, the index of a fatal cell, or
        "notebook" when the notebook's whole time is spent."""
        for index, source in enumerate(self.cells):
            if index in self.skipped:
                continue
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                return "notebook"
            try:
                reply = self.worker.request({"op": "exec", "source": source},
                                            min(self.limits.cell_seconds, remaining))
            except WorkerLost as lost:
                if lost.timed_out and time.monotonic() >= self._deadline:
                    return "notebook"
                self.skipped.add(index)
                self.cell_errors[index] = ("did not finish in time" if lost.timed_out
                                           else "stopped the notebook's process")
                return index
            except wire.WireError:
                self.skipped.add(index)
                self.cell_errors[index] = "broke the grader's protocol"
                return index
            raised = reply.get("raised")
            if raised:
                self.cell_errors[index] = _raised_text(raised)
        return None

    def ensure_alive(self):
        if self.worker is None or not self.worker.alive:
            self.start()

    def request(self, message, timeout):
        """One request to a live worker; the reply's "ok" value (decoded) or
        StudentRaised. WorkerLost when it dies or times out."""
        self.ensure_alive()
        try:
            reply = self.worker.request(message, timeout)
        except wire.WireError:
            self.worker.kill()
            raise WorkerLost("the notebook's process broke the grader's protocol") from None
        if "raised" in reply:
            raised = reply["raised"]
            if type(raised) is not dict:
                raise WorkerLost("the notebook's process broke the grader's protocol")
            raise StudentRaised(str(raised.get("type", "Exception"))[:100],
                                str(raised.get("message", ""))[:1000])
        if "ok" not in reply:
            raise WorkerLost("the notebook's process broke the grader's protocol")
        return reply["ok"]

    def names(self, timeout=30.0):
        """Top-level names the notebook defined: {name: kind}."""
        names = self.request({"op": "names"}, timeout)
        if type(names) is not dict:
            raise WorkerLost("the notebook's process broke the grader's protocol")
        return {str(k): str(v) for k, v in names.items()}

    def define(self, source, timeout=30.0):
        self.request({"op": "define", "source": source}, timeout)

    def close_worker(self):
        if self.worker is not None:
            self.worker.kill()
            self.worker = None

    def close(self):
        self.close_worker()
        self.jail.close()
        self._workdir.cleanup()


def _raised_text(raised):
    if type(raised) is not dict:
        return "raised an exception"
    return f"raised {str(raised.get('type', 'Exception'))[:100]}: {str(raised.get('message', ''))[:300]}"


# ------------------------------------------------------------------ proxies
class Student:
    """What a hidden check sees of the student's notebook. Every answer is
    decoded plain data (or a `Remote` for objects that stay in the worker)."""

    def __init__(self, run: NotebookRun, deadline: float):
        self._run = run
        self._deadline = deadline

    def call(self, name, *args, **kwargs):
        """Call the notebook's top-level function (or class) `name`."""
        return self._request(name, None, args, kwargs)

    def call_with_arguments(self, name, *args, **kwargs):
        """call(name, ...) and the positional arguments as the call left them:
        (answer, [args]), for a check that the code did not change them in place."""
        return self._request(name, None, args, kwargs, with_arguments=True)

    def run_cell(self, source):
        """Run `source` in the notebook's namespace, as one more cell;
        StudentRaised if it raises."""
        timeout = self._deadline - time.monotonic()
        if timeout <= 0:
            raise WorkerLost("ran out of time", timed_out=True)
        self._run.request({"op": "exec", "source": source}, timeout)

    def first_cell_error(self) -> str | None:
        """"code cell N raised ...": the first of the notebook's cells that failed
        when it ran, None if every cell ran."""
        if not self._run.cell_errors:
            return None
        index = min(self._run.cell_errors)
        return f"code cell {index + 1} {self._run.cell_errors[index]}"

    def new(self, name, *args, **kwargs):
        """Build an instance of the notebook's class `name`; a `Remote`."""
        made = self.call(name, *args, **kwargs)
        if not isinstance(made, Remote):
            raise StudentRaised("TypeError", f"{name}(...) did not build an object")
        return made

    @staticmethod
    def generator(seed):
        """An argument that becomes `torch.Generator().manual_seed(seed)`."""
        return wire.GeneratorSeed(seed)

    def _request(self, target, method, args, kwargs, with_arguments=False):
        timeout = self._deadline - time.monotonic()
        if timeout <= 0:
            raise WorkerLost("ran out of time", timed_out=True)
        message = {
            "op": "call",
            "target": target if isinstance(target, str) else wire.encode(target),
            "method": method,
            "args": wire.encode(list(args)),
            "kwargs": wire.encode(dict(kwargs)),
            "with_arguments": with_arguments,
        }
        answer = self._run.request(message, timeout)
        try:
            return wire.decode(answer, lambda number: Remote(self, number))
        except wire.WireError as error:
            raise StudentRaised("ValueError", f"the answer could not be read as plain data ({error})")


class Remote(wire.Handle):
    """An object that lives in the student's worker (a tokenizer, a model)."""

    def __init__(self, student: Student, number: int):
        super().__init__(number)
        self._student = student

    def method(self, name, *args, **kwargs):
        return self._student._request(self, name, args, kwargs)

    def __call__(self, *args, **kwargs):
        return self.method("__call__", *args, **kwargs)

    def load_state_dict(self, state):
        """Copy trusted weights in; strict, so a misnamed parameter shows."""
        self.method("load_state_dict", state, strict=True)
