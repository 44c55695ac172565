"""The worker: runs a student's notebook and answers the grader's calls.

Started by `autograder.session` as `python -I worker.py READ_FD WRITE_FD
[MAX_PROCESSES]`, with stdout and stderr sent nowhere. MAX_PROCESSES is given
where the worker has a user namespace of its own, in which RLIMIT_NPROC
counts this sandbox's processes alone. Everything here is untrusted once the
first cell has run: the student's code shares this process and may patch any
of it. The trusted side therefore only ever reads plain data from us.

Requests, one JSON frame each:
    {"op": "exec", "source": str}            -> {"ok": null} | {"raised": {...}}
    {"op": "names"}                          -> {"ok": {name: "function" | "class" | "other"}}
    {"op": "define", "source": str}          -> {"ok": null} | {"raised": {...}}
    {"op": "call", "target": name | handle, "method": str | null,
     "args": [...], "kwargs": {...}}         -> {"ok": value} | {"raised": {...}}
    ... and "with_arguments": true           -> {"ok": [value, [args as the call left them]]}
Values that are not plain data come back as handles, kept here by number.
"""
import os
import resource
import struct
import sys
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wire  # noqa: E402  (the worker runs as a script, beside wire.py)


class Worker:
    def __init__(self, read_fd, write_fd):
        self.reader = os.fdopen(read_fd, "rb", buffering=0)
        self.writer = os.fdopen(write_fd, "wb", buffering=0)
        self.objects = {}
        self.pid = os.getpid()
        from IPython.core.interactiveshell import InteractiveShell
        self.shell = InteractiveShell.instance()
        self.namespace = self.shell.user_ns

    # ---------------------------------------------------------------- loop
    def serve(self):
        while True:
            header = self._read_exactly(8)
            if header is None:
                return
            (length,) = struct.unpack(">Q", header)
            if length > wire.MAX_FRAME_BYTES:
                return
            payload = self._read_exactly(length)
            if payload is None:
                return
            request = wire.parse_frame(payload)
            reply = self.handle(request)
            if os.getpid() != self.pid:
                # A child the student's code forked, back in this loop: it
                # must not answer for the worker or read its next request.
                os._exit(0)
            wire.write_frame(self.writer, reply)

    def _read_exactly(self, n):
        chunks, remaining = [], n
        while remaining:
            chunk = self.reader.read(remaining)
            if not chunk:
                return None
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)

    def handle(self, request):
        op = request.get("op")
        try:
            if op == "exec":
                return self.exec_cell(request["source"])
            if op == "define":
                exec(compile(request["source"], "<reference>", "exec"), self.namespace)
                return {"ok": None}
            if op == "names":
                return {"ok": self.names()}
            if op == "call":
                return {"ok": self.call(request)}
            return {"raised": {"type": "ProtocolError", "message": f"unknown op {op!r}"}}
        except BaseException as error:  # the student's code may raise anything
            return {"raised": describe(error)}

    # ------------------------------------------------------------ requests
    def exec_cell(self, source):
        result = self.shell.run_cell(source, store_history=False, silent=True)
        error = result.error_before_exec or result.error_in_exec
        return {"raised": describe(error)} if error is not None else {"ok": None}

    def names(self):
        import inspect
        kinds = {}
        for name, value in list(self.namespace.items()):
            if name.startswith("_") or type(name) is not str:
                continue
            if inspect.isclass(value):
                kinds[name] = "class"
            elif callable(value):
                kinds[name] = "function"
            else:
                kinds[name] = "other"
        return kinds

    def call(self, request):
        import torch
        target = request["target"]
        if type(target) is str:
            if target not in self.namespace:
                raise NameError(f"name {target!r} is not defined")
            target = self.namespace[target]
        else:
            target = wire.decode(target, self.lookup)
        if request.get("method"):
            target = getattr(target, request["method"])
        args = self.resolve(wire.decode(request["args"], self.lookup))
        kwargs = self.resolve(wire.decode(request["kwargs"], self.lookup))
        with torch.no_grad():
            result = target(*args, **kwargs)
        if request.get("with_arguments"):  # did the code change its arguments in place?
            return wire.encode([result, args], self.keep)
        return wire.encode(result, self.keep)

    # -------------------------------------------------------------- values
    def lookup(self, number):
        return self.objects[number]

    def keep(self, obj):
        for number, kept in self.objects.items():
            if kept is obj:
                return wire.Handle(number)
        number = len(self.objects) + 1
        self.objects[number] = obj
        return wire.Handle(number)

    def resolve(self, value):
        """Seeds become generators, inside containers too."""
        import torch
        if isinstance(value, wire.GeneratorSeed):
            return torch.Generator().manual_seed(value.seed)
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if isinstance(value, tuple):
            return tuple(self.resolve(v) for v in value)
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        return value


def describe(error):
    """An exception as the student should read it: type, message, and the
    last frames of the traceback that belong to the notebook's cells."""
    frames = [frame for frame in traceback.extract_tb(error.__traceback__)
              if frame.filename.startswith("<ipython-input") or "ipykernel" in frame.filename
              or frame.filename.startswith("<cell")]
    where = f" (line {frames[-1].lineno} of its cell)" if frames else ""
    message = str(error)
    if len(message) > 500:
        message = message[:500] + "..."
    return {"type": type(error).__name__, "message": message + where}


def main():
    read_fd, write_fd = int(sys.argv[1]), int(sys.argv[2])
    # Where memory runs out for the whole machine or container (Gradescope's 768 MB), the kernel
    # kills this worker, never the grader that must write the report. Raising one's own score
    # needs no privilege; lowering it again does, so student code cannot undo it.
    try:
        with open("/proc/self/oom_score_adj", "w") as file:
            file.write("1000")
    except OSError:
        pass
    if len(sys.argv) > 3:
        # Before any student code: a fork bomb stops here (threads count too).
        resource.setrlimit(resource.RLIMIT_NPROC, (int(sys.argv[3]), int(sys.argv[3])))
    worker = Worker(read_fd, write_fd)
    wire.write_frame(worker.writer, {"ok": "ready"})
    worker.serve()
    os._exit(0)


if __name__ == "__main__":
    main()
